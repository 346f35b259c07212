"""Read back what a receiver stored and compare it with the canonical reading of what was sent.

The verify file (YAML) names one read-back and the waits::

    http: http://127.0.0.1:8000/internal/vss/{sessionId}   # or sql: + query: (+ legs_query:),
    headers: {Authorization: "Bearer test"}                #   or command: [argv, "{sessionId}"]
    within: 5s        # how long processing may take after the ack (polled)
    settle: 1s        # wait before deciding "stored exactly once" or "not stored"
    timeout: 5s       # one read-back request or command

Public API (stable; `replay --verify` and the pytest plugin use it)::

    load_verify_file(path) -> VerifyConfig            # VerifyConfigError (exit 2) names file+key
    verify_config(mapping, source=...) -> VerifyConfig
    open_read_back(config) -> ReadBack                # .read(session_id) -> Stored; .close()
    preflight(read_back, config) -> None              # reads an unknown id: must work, be empty
    CallableReadBack(fn)                              # fn(session_id) -> None | dict | list[dict]
    compare(stored_record, canonical_record) -> list[str]   # mismatch lines, [] = matches
    verify_session(read_back, session_id, *, mode, expected, since, within_s, settle_s,
                   max_count) -> SessionVerdict
    verify_sessions(
        config: VerifyConfig,
        expected: Iterable[tuple[str, Mapping[str, Any] | bytes]],   # (sessionId, canonical
        *,                                                           #  record or raw body)
        sample: float = 1.0,          # fraction of sessions verified, stable per (seed, id)
        seed: int = 0,
        exactly_once: bool = True,    # after `settle`: exactly one record per session
        since: float | None = None,   # time.monotonic() of the last ack; default now
        concurrency: int = 8,
        read_back: ReadBack | None = None,   # default: opened from config, pre-flighted, closed
        on_result: Callable[[SessionVerdict], None] | None = None,   # every verdict, as found
    ) -> VerifySummary
        # .checked .stored .missing .mismatched .stored_twice .could_not_verify .uncountable
        # .skipped (not sampled) .details (every session not stored as expected) .ok .line()
        # .as_dict(); a sessionId given several times is verified once and may match any of
        # its contents.

    DeliveryTracker(config, read_back)                # while a run delivers (check, send):
        .before_delivery(bodies)                      #   baseline reads, contents registered
        .submit(body, mode=..., since=...) -> Future[SessionVerdict] | None
        .close()

Rules (docs/verify.md has the full text):

- a stored record is compared on the canonical fields it has (names match ignoring case and
  underscores); unknown columns are ignored; a record with none of the names cannot be
  verified, and says so;
- "exactly once" against a read-back that returns one object is "uncountable", never passed;
- a read-back that fails is "could_not_verify" for that session, never a pass;
- a sessionId the receiver already held before it was delivered is still compared with the
  canonical reading, and its count must not grow; one the kit knows with different contents
  (this run's deliveries, 8x8's documentation examples) may match any of them
  (emitter.verify._tracker).
"""

from __future__ import annotations

from emitter.verify._batch import VerifySummary, check_sample, sampled, verify_sessions
from emitter.verify._compare import NoCanonicalFields, compare, same_value, show
from emitter.verify._config import (
    DEFAULT_SETTLE_S,
    DEFAULT_WITHIN_S,
    VerifyConfig,
    VerifyConfigError,
    load_verify_file,
    parse_duration,
    verify_config,
)
from emitter.verify._readback import (
    NOT_STORED,
    CallableReadBack,
    CommandReadBack,
    HttpReadBack,
    OwnerThreadReadBack,
    ReadBack,
    ReadBackError,
    SqlReadBack,
    Stored,
    open_read_back,
    opened,
    preflight,
)
from emitter.verify._session import Mode, SessionVerdict, State, verify_session
from emitter.verify._tracker import DeliveryTracker

__all__ = [
    "DEFAULT_SETTLE_S",
    "DEFAULT_WITHIN_S",
    "NOT_STORED",
    "CallableReadBack",
    "CommandReadBack",
    "DeliveryTracker",
    "HttpReadBack",
    "Mode",
    "NoCanonicalFields",
    "OwnerThreadReadBack",
    "ReadBack",
    "ReadBackError",
    "SessionVerdict",
    "SqlReadBack",
    "State",
    "Stored",
    "VerifyConfig",
    "VerifyConfigError",
    "VerifySummary",
    "check_sample",
    "compare",
    "load_verify_file",
    "open_read_back",
    "opened",
    "parse_duration",
    "preflight",
    "same_value",
    "sampled",
    "show",
    "verify_config",
    "verify_session",
    "verify_sessions",
]
