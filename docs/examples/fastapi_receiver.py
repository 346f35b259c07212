"""A VSS receiver as 8x8 advises: answer 200 at once, process afterwards, store each session once.

    pip install fastapi uvicorn
    VSS_DB=calls.db uvicorn fastapi_receiver:app --port 8000

POST /webhooks/vss        the webhook (8x8 posts here)
GET  /internal/vss/{id}   every record stored for a session: the read-back for --verify
"""

from __future__ import annotations

import os
import sqlite3
from datetime import UTC, datetime
from typing import Any

from fastapi import BackgroundTasks, FastAPI, HTTPException, Request

DB = os.environ.get("VSS_DB", "calls.db")
TOKEN = os.environ.get("VSS_TOKEN")  # the httpAuthHeader configured at 8x8, if any

app = FastAPI()


def connect() -> sqlite3.Connection:
    db = sqlite3.connect(DB)
    db.row_factory = sqlite3.Row
    return db


with connect() as setup:
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute(
        "CREATE TABLE IF NOT EXISTS calls (session_id TEXT PRIMARY KEY, status TEXT,"
        " started_at TEXT, ended_at TEXT, error_code INTEGER)"
    )
    setup.execute(
        "CREATE TABLE IF NOT EXISTS legs (session_id TEXT, leg TEXT, call_id TEXT,"
        " status TEXT, source_ref_id TEXT, PRIMARY KEY (session_id, leg))"
    )


def utc(text: str | None) -> str | None:
    """8x8's ISO 8601 instant as a UTC SQL datetime."""
    if text is None:
        return None
    return datetime.fromisoformat(text).astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def process(doc: dict[str, Any]) -> None:
    body = doc["payload"]  # sessionId is inside `payload`, not at the root
    error = body.get("errorDetails") or {}
    code = error.get("errorCode")
    with connect() as db:
        inserted = db.execute(
            "INSERT OR IGNORE INTO calls VALUES (?, ?, ?, ?, ?)",  # first delivery wins
            (
                body["sessionId"],
                body["sessionStatus"],
                utc(body.get("startTime")),
                utc(body.get("endTime")),
                int(code) if code is not None else None,  # one 8x8 table types it String
            ),
        ).rowcount
        if not inserted:
            return  # a duplicate delivery: 8x8 says they happen
        for name, leg in (body.get("details") or {}).items():
            ref = leg.get("sourceRefId", leg.get("SourceRefId"))  # the docs spell it both ways
            db.execute(
                "INSERT INTO legs VALUES (?, ?, ?, ?, ?)",
                (
                    body["sessionId"],
                    name[0].lower() + name[1:],  # "CallA" in the success example
                    leg.get("callId"),
                    leg.get("callStatus"),
                    None if ref == "null" else ref,  # the string "null" means null
                ),
            )


@app.post("/webhooks/vss")
async def webhook(request: Request, background: BackgroundTasks) -> dict[str, bool]:
    if TOKEN is not None and request.headers.get("authorization") != TOKEN:
        raise HTTPException(status_code=401)
    background.add_task(process, await request.json())
    return {"ok": True}


@app.get("/internal/vss/{session_id}")
def stored(session_id: str) -> list[dict[str, Any]]:
    with connect() as db:
        calls = db.execute(
            'SELECT session_id AS "sessionId", status AS "sessionStatus",'
            ' started_at AS "startTime", ended_at AS "endTime", error_code AS "errorCode"'
            " FROM calls WHERE session_id = ?",
            (session_id,),
        ).fetchall()
        legs = db.execute(
            'SELECT leg AS "key", call_id AS "callId", status AS "callStatus",'
            ' source_ref_id AS "sourceRefId" FROM legs WHERE session_id = ?',
            (session_id,),
        ).fetchall()
    return [{**dict(call), "legs": [dict(leg) for leg in legs]} for call in calls]
