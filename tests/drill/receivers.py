"""Misbehaving receivers for drill tests, each a real process on loopback (aiohttp).

    python tests/drill/receivers.py [--db FILE] [--twice] [--outage AFTER,ERRORS,DOWN]
                                    [--stall EVERY,FOR] [--slow-ms-per-request MS]

Prints `PORT <n>` once listening. With --db every accepted delivery's session is stored in
SQLite (table `calls`): once per sessionId (INSERT OR IGNORE, the idempotent receiver), or with
--twice once per delivery (the receiver that stores redeliveries twice). --outage: AFTER
seconds after the first request, answer 503 for ERRORS seconds, then close the listening
socket and every connection for DOWN seconds (real refused connections), then come back on
the same port. --stall: block the whole process for FOR seconds every EVERY seconds. --slow:
each answer waits MS per request in flight (a receiver that slows down under load).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import time

from aiohttp import web


class Receiver:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.db: sqlite3.Connection | None = None
        if args.db:
            self.db = sqlite3.connect(args.db, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=OFF")  # a test database: speed over safety
            unique = "" if args.twice else " UNIQUE"
            self.db.execute(
                f"CREATE TABLE IF NOT EXISTS calls (session_id TEXT{unique}, status TEXT, "
                "sub_account_id TEXT)"
            )
        self.first_request: float | None = None
        self.in_flight = 0
        self.errors_until = 0.0
        self.down = False

    async def handle(self, request: web.Request) -> web.Response:
        now = time.monotonic()
        if self.first_request is None:
            self.first_request = now
            if self.args.outage:
                asyncio.get_running_loop().create_task(self.outage())
        body = await request.read()
        if now < self.errors_until:
            return web.Response(status=503, text="deploying")
        self.in_flight += 1
        try:
            if self.args.slow_ms_per_request:
                await asyncio.sleep(self.in_flight * self.args.slow_ms_per_request / 1000.0)
            doc = json.loads(body)
            payload = doc["payload"]
            if self.db is not None:
                verb = "INSERT" if self.args.twice else "INSERT OR IGNORE"
                self.db.execute(
                    f"{verb} INTO calls VALUES (?, ?, ?)",
                    (payload["sessionId"], payload["sessionStatus"], payload["subAccountId"]),
                )
        finally:
            self.in_flight -= 1
        return web.json_response({"ok": True})

    async def outage(self) -> None:
        after, errors, down = self.args.outage
        await asyncio.sleep(after)
        self.errors_until = time.monotonic() + errors
        await asyncio.sleep(errors)
        self.errors_until = float("inf")  # nothing is acked between the 503s and the refusals
        await self.runner.cleanup()  # listening socket and every connection closed: refused
        await asyncio.sleep(down)
        self.errors_until = 0.0
        await self.start(self.port)

    async def stall(self) -> None:
        every, pause = self.args.stall
        while True:
            await asyncio.sleep(every - pause)
            time.sleep(pause)  # blocks the whole process, as a GC pause or a lock would

    async def start(self, port: int) -> int:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        self.port: int = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def main(self) -> None:
        port = await self.start(0)
        print(f"PORT {port}", flush=True)
        if self.args.stall:
            asyncio.get_running_loop().create_task(self.stall())
        await asyncio.Event().wait()


def _floats(count: int):  # type: ignore[no-untyped-def]
    def parse(text: str) -> tuple[float, ...]:
        values = tuple(float(v) for v in text.split(","))
        if len(values) != count:
            raise argparse.ArgumentTypeError(f"expected {count} comma-separated numbers")
        return values

    return parse


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db")
    parser.add_argument("--twice", action="store_true")
    parser.add_argument("--outage", type=_floats(3))
    parser.add_argument("--stall", type=_floats(2))
    parser.add_argument("--slow-ms-per-request", type=float, default=0.0)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    try:
        asyncio.run(Receiver(args).main())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
