"""The reference VSS receiver: validates each delivery, acks 200 or explains a 400, dedupes, stores.

It is what a good receiver does, per 8x8's advice: answer 200 quickly to a valid summary, be
idempotent (8x8 says duplicate deliveries can occur; a sessionId seen and accepted before is
acked again but not processed twice), refuse what it cannot use with a reason, and, with a
store, keep each accepted session's canonical record once, after the ack, readable at
`GET /vss/sessions/{sessionId}`. It runs on aiohttp's server.

    _model     Delivery, ReceiverCounts, the record and log-line forms
    _http      the HTTP answers on aiohttp (bodies, caps, 405/411/413, read-back path)
    _store     the SQLite store of canonical records (one writer thread, WAL)
    _receiver  ReferenceReceiver: judging, dedupe, counts, background or foreground serving
"""

from __future__ import annotations

from emitter.receiver._http import READ_BACK_PREFIX
from emitter.receiver._model import Delivery, ReceiverCounts, read_record
from emitter.receiver._receiver import DEFAULT_BODY_CAP, ReferenceReceiver, run_until_signalled
from emitter.receiver._store import MEMORY, SessionStore

__all__ = [
    "DEFAULT_BODY_CAP",
    "MEMORY",
    "READ_BACK_PREFIX",
    "Delivery",
    "ReceiverCounts",
    "ReferenceReceiver",
    "SessionStore",
    "read_record",
    "run_until_signalled",
]
