"""Read-back backends: what the receiver stored for one sessionId, over HTTP, SQL or a command.

Every backend answers `read(session_id) -> Stored`: the records found (plain JSON-able dicts,
legs under `legs`) and whether the answer can count them (an HTTP endpoint or a command that
prints one object cannot tell "stored once" from "stored twice"). A read that fails raises
ReadBackError with one line, secrets redacted.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import queue
import subprocess
import threading
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote

from emitter._redact import mask_url, redact
from emitter.verify._config import PLACEHOLDER, VerifyConfig, VerifyConfigError

if TYPE_CHECKING:
    import httpx
    import sqlalchemy


class ReadBackError(Exception):
    """A read-back that failed (unreachable, HTTP error, SQL error, failing command)."""


@dataclass(frozen=True)
class Stored:
    """What a read-back found for one sessionId."""

    records: tuple[dict[str, Any], ...]
    countable: bool  # False: the answer was one object, so "exactly once" cannot be told


NOT_STORED = Stored(records=(), countable=True)


class ReadBack(Protocol):
    """Anything that can read the records stored for a sessionId."""

    description: str

    def read(self, session_id: str) -> Stored: ...

    def close(self) -> None: ...


def jsonable(value: Any) -> Any:
    """Database and ORM values as JSON-able values, compared and reported by value: datetimes
    as ISO 8601, decimals as numbers, UUIDs (a PostgreSQL `uuid` column) in their string form,
    bytes as text, and any other type (intervals, IP addresses, enums, …) as its str()."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            return str(value)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    return str(value)


def stored_from_json(value: Any, *, what: str) -> Stored:
    """An object (one record, not countable), an array of objects, or null/nothing."""
    if value is None or value == {}:
        return NOT_STORED  # `null` or `{}`: an endpoint's way of saying "nothing here"
    if isinstance(value, Mapping):
        return Stored(records=(jsonable(value),), countable=False)
    if isinstance(value, list) and all(isinstance(v, Mapping) for v in value):
        return Stored(records=tuple(jsonable(v) for v in value), countable=True)
    raise ReadBackError(
        f"{what} returned {_kind(value)}; expected an object (the stored record), an array of "
        "objects, or nothing"
    )


def _kind(value: Any) -> str:
    """What a read-back returned, in JSON's words: `an array holding a number (1)`."""
    if isinstance(value, list):
        odd = next(v for v in value if not isinstance(v, Mapping))
        return f"an array holding {_kind(odd)}"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int | float):
        return f"a number ({value!r})"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"a string ({shown!r})"
    return f"a {type(value).__name__}"


class HttpReadBack:
    """GET the URL with {sessionId} substituted: 200 object/array, 404 or [] = not stored."""

    def __init__(self, config: VerifyConfig, *, client: httpx.Client | None = None) -> None:
        import httpx

        self.config = config
        self.secrets = config.secrets()
        self.description = config.describe()
        self._client = client or httpx.Client(
            timeout=config.timeout_s, headers=dict(config.headers), trust_env=False
        )

    def read(self, session_id: str) -> Stored:
        import httpx

        url = self.config.http.replace(PLACEHOLDER, quote(session_id, safe=""))
        shown = redact(f"GET {url}", self.secrets)
        try:
            response = self._client.get(url)
        except httpx.HTTPError as exc:
            reason = redact(str(exc) or type(exc).__name__, self.secrets)
            raise ReadBackError(f"{shown}: {reason}") from None
        if response.status_code in (404, 204):
            return NOT_STORED
        if response.status_code != 200:
            raise ReadBackError(
                f"{shown} answered HTTP {response.status_code}; expected 200 with the stored "
                "record or 404"
            )
        if not response.content.strip():
            return NOT_STORED
        try:
            body = response.json()
        except ValueError:
            raise ReadBackError(f"{shown} answered 200 with a body that is not JSON") from None
        return stored_from_json(body, what=shown)

    def close(self) -> None:
        self._client.close()


class SqlReadBack:
    """`query` (and `legs_query`) with :sessionId bound, through SQLAlchemy: one row per record."""

    def __init__(self, config: VerifyConfig) -> None:
        self.config = config
        self.secrets = config.secrets()
        self.description = config.describe()
        self._engine = _engine(config)

    def read(self, session_id: str) -> Stored:
        import sqlalchemy

        try:
            with self._engine.connect() as conn:
                rows = conn.execute(sqlalchemy.text(self.config.query), {"sessionId": session_id})
                records = [jsonable(dict(row)) for row in rows.mappings()]
                legs: list[dict[str, Any]] | None = None
                if self.config.legs_query and records:
                    found = conn.execute(
                        sqlalchemy.text(self.config.legs_query), {"sessionId": session_id}
                    )
                    legs = [jsonable(dict(row)) for row in found.mappings()]
        except sqlalchemy.exc.SQLAlchemyError as exc:
            raise ReadBackError(self._failure(exc)) from None
        if legs is not None:
            for record in records:
                record["legs"] = legs
        return Stored(records=tuple(records), countable=True)

    def _failure(self, exc: Exception) -> str:
        orig = getattr(exc, "orig", None) or exc
        first = (str(orig).strip().splitlines() or [type(orig).__name__])[0]
        return redact(f"{self.description}: {first}", self.secrets)

    def close(self) -> None:
        self._engine.dispose()


def _engine(config: VerifyConfig) -> sqlalchemy.Engine:
    where = f"{config.source}: key `sql`"
    try:
        import sqlalchemy
    except ImportError:
        raise VerifyConfigError(
            f"{where}: a SQL read-back needs SQLAlchemy, which is not installed: "
            "pip install 'vss-emitter[sql]'"
        ) from None
    secrets = config.secrets()
    shown = mask_url(config.sql)  # a password too short to mask as a substring is still hidden
    _sqlite_file_exists(config, where)
    try:
        # A check polls many sessions at once from many threads: a pool as wide as that,
        # so no read queues for a connection (the default pool holds 5 plus 10 overflow).
        return sqlalchemy.create_engine(
            config.sql, pool_pre_ping=True, pool_size=8, max_overflow=40
        )
    except sqlalchemy.exc.NoSuchModuleError:
        raise VerifyConfigError(
            redact(
                f"{where}: unknown database dialect in {shown!r}; expected an SQLAlchemy "
                "URL, e.g. sqlite:///app.db or postgresql+psycopg://app:app@127.0.0.1/app",
                secrets,
            )
        ) from None
    except sqlalchemy.exc.ArgumentError:
        raise VerifyConfigError(
            redact(
                f"{where}: {shown!r} is not an SQLAlchemy URL; expected e.g. "
                "sqlite:///app.db or postgresql+psycopg://app:app@127.0.0.1/app",
                secrets,
            )
        ) from None
    except ImportError as exc:
        module = exc.name or str(exc)
        hint = " (pip install 'psycopg[binary]')" if "psycopg" in module else ""
        raise VerifyConfigError(
            redact(
                f"{where}: the database driver for {config.sql.split(':', 1)[0]!r} is not "
                f"installed (no module {module!r}){hint}",
                secrets,
            )
        ) from None


def _sqlite_file_exists(config: VerifyConfig, where: str) -> None:
    """Refuse an SQLite file that is not there: SQLite would create an empty one (in the
    current directory, for a relative `sqlite:///calls.db`) and the read-back would only fail
    later with "no such table"."""
    import os

    import sqlalchemy

    try:
        url = sqlalchemy.engine.make_url(config.sql)
    except sqlalchemy.exc.ArgumentError:
        return  # reported by create_engine with the expected form
    database = url.database or ""
    if url.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return
    if database.startswith("file:") or url.query.get("uri"):
        return  # a URI filename: SQLite's own open flags (mode=ro, …) decide
    if not os.path.exists(database):
        relative = (
            ""
            if os.path.isabs(database)
            else (
                f" (a relative sqlite:/// path is read from the current directory, {os.getcwd()})"
            )
        )
        raise VerifyConfigError(
            f"{where}: the SQLite database {database!r} does not exist{relative}; expected the "
            "file the receiver writes, e.g. sqlite:////srv/app/calls.db (four slashes: an "
            "absolute path)"
        )


class CommandReadBack:
    """Run the command with {sessionId} substituted; it prints an object, an array or nothing."""

    def __init__(self, config: VerifyConfig) -> None:
        self.config = config
        self.secrets = config.secrets()
        self.description = config.describe()

    def read(self, session_id: str) -> Stored:
        argv = [arg.replace(PLACEHOLDER, session_id) for arg in self.config.command]
        shown = self.description
        try:
            done = subprocess.run(  # noqa: S603  (the user's own command, from their verify file)
                argv, capture_output=True, timeout=self.config.timeout_s, check=False
            )
        except FileNotFoundError:
            raise ReadBackError(
                redact(f"{shown}: no such program {argv[0]!r}", self.secrets)
            ) from None
        except PermissionError:
            raise ReadBackError(
                redact(f"{shown}: {argv[0]!r} is not executable", self.secrets)
            ) from None
        except subprocess.TimeoutExpired:
            raise ReadBackError(
                redact(f"{shown}: no answer within {self.config.timeout_s:g} s", self.secrets)
            ) from None
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip().splitlines()
            last = f": {err[-1]}" if err else ""
            raise ReadBackError(
                redact(f"{shown}: exited with status {done.returncode}{last}", self.secrets)
            )
        out = done.stdout.strip()
        if not out:
            return NOT_STORED
        try:
            value = json.loads(out)
        except ValueError:
            raise ReadBackError(
                redact(f"{shown}: printed something that is not JSON", self.secrets)
            ) from None
        return stored_from_json(value, what=redact(shown, self.secrets))

    def close(self) -> None:
        pass


class CallableReadBack:
    """A Python function `session_id -> None | dict | list[dict]` (the pytest fixture's form)."""

    def __init__(self, function: Callable[[str], Any], *, description: str = "") -> None:
        self.function = function
        self.description = description or f"read-back function {_name(function)}"

    def read(self, session_id: str) -> Stored:
        try:
            value = self.function(session_id)
        except Exception as exc:  # noqa: BLE001  (the user's function: any failure is "could not read")
            raise ReadBackError(f"{self.description} raised {type(exc).__name__}: {exc}") from None
        if isinstance(value, tuple):
            value = list(value)
        return stored_from_json(value, what=self.description)

    def close(self) -> None:
        pass


class OwnerThreadReadBack:
    """Every read runs on the thread that made this wrapper, one at a time: for read-back
    functions holding thread-bound resources (a sqlite3 connection, an ORM session in a test).

    While other threads read, the owner thread must be inside `serve(until=...)`.
    """

    def __init__(self, inner: ReadBack) -> None:
        self.inner = inner
        self.description = inner.description
        self.secrets: tuple[str, ...] = tuple(getattr(inner, "secrets", ()) or ())
        self._owner = threading.get_ident()
        self._requests: queue.SimpleQueue[tuple[str, Future[Stored]]] = queue.SimpleQueue()

    def read(self, session_id: str) -> Stored:
        if threading.get_ident() == self._owner:
            return self.inner.read(session_id)
        answer: Future[Stored] = Future()
        self._requests.put((session_id, answer))
        return answer.result()

    def serve(self, until: Future[Any]) -> None:
        """Answer the other threads' reads until `until` is done (it cannot finish while a
        read it depends on waits here)."""
        while not until.done():
            try:
                session_id, answer = self._requests.get(timeout=0.01)
            except queue.Empty:
                continue
            try:
                answer.set_result(self.inner.read(session_id))
            except BaseException as exc:  # noqa: BLE001  (handed to the reading thread)
                answer.set_exception(exc)

    def close(self) -> None:
        self.inner.close()


def _name(function: Callable[..., Any]) -> str:
    return getattr(function, "__qualname__", None) or repr(function)


def open_read_back(config: VerifyConfig) -> ReadBack:
    """The backend the config names (VerifyConfigError when it cannot be set up)."""
    if config.kind == "http":
        return HttpReadBack(config)
    if config.kind == "sql":
        return SqlReadBack(config)
    if config.kind == "command":
        return CommandReadBack(config)
    raise VerifyConfigError(f"{config.source}: a `callable` read-back needs the function itself")


def preflight(read_back: ReadBack, config: VerifyConfig) -> None:
    """Read a sessionId nobody ever sent, before anything is delivered: it must work and be empty.

    A failure here is the verify file's (unreachable endpoint, SQL error, failing command), so
    it is raised as VerifyConfigError naming the file and the backend's key: exit 2 before
    the first delivery.
    """
    # A bare random UUID, shaped like 8x8's sessionIds: a `uuid` column or a route typed as a
    # UUID must accept it, and nobody ever sends it.
    probe = str(uuid.uuid4())
    key = "query" if config.kind == "sql" else config.kind
    # A read-back function (the pytest fixture) has no file key to name: its message names it.
    function = isinstance(getattr(read_back, "inner", read_back), CallableReadBack)
    where = "" if function or config.kind == "callable" else f"{config.source}: key `{key}`: "
    try:
        found = read_back.read(probe)
    except ReadBackError as exc:
        raise VerifyConfigError(f"{where}{exc}") from None
    if found.records:
        named = where or f"{read_back.description}: "
        raise VerifyConfigError(
            f"{named}the read-back returned a record for a sessionId "
            f"never sent ({probe}); expected nothing (404, [] or no rows) for an "
            "unknown session (does the query filter on :sessionId?)"
        )


@contextlib.contextmanager
def opened(config: VerifyConfig, *, check: bool = True) -> Any:
    """`open_read_back` as a context manager, with the pre-flight read when `check`."""
    read_back = open_read_back(config)
    try:
        if check:
            preflight(read_back, config)
        yield read_back
    finally:
        read_back.close()
