"""Payload validation against the VSS contract: JSON Schema plus consistency lint, with JSON paths.

Speed comes from a two-engine design: jsonschema-rs (compiled once, formats on) answers "valid?"
for every payload; only a payload it rejects goes through Python's jsonschema, whose messages and
JSON paths the kit reports. Valid traffic, the common case, never pays for the slow engine.
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import IO, Any, Literal

import jsonschema
import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker

from emitter import _lint, vocabulary
from emitter._resources import load_schema
from emitter.errors import EXIT_CONTRACT, EXIT_OK, EXIT_USAGE, InputError, UsageError
from emitter.sources import Record, format_of, parse_json
from emitter.sources import records as read_records

__all__ = [
    "PRODUCTS",
    "Finding",
    "InputSummary",
    "contract_schema",
    "validate",
    "validate_bytes",
    "validate_inputs",
]

SCHEMA_FILE = "vss.schema.json"
PRODUCTS = vocabulary.PRODUCTS
STRICT_ID = "urn:vss-emitter:schema:vss-strict"
_MAX_MESSAGE = 300

Severity = Literal["error", "warning"]


@dataclass(frozen=True)
class Finding:
    """One contract problem: where (JSON path), what was found and expected, how bad, which rule."""

    path: str
    message: str
    severity: Severity
    rule: str

    def line(self, where: str = "") -> str:
        """The one-line report form: `where: path: message [rule] severity`."""
        prefix = f"{where}: " if where else ""
        return f"{prefix}{self.path}: {self.message} [{self.rule}] {self.severity}"


def check_product(product: str | None) -> str | None:
    """`product` if it names a documented product (or is None: all of them), else UsageError."""
    if product is None or product in vocabulary.PRODUCTS:
        return product
    raise UsageError(
        f"unknown product {product!r}: expected one of {', '.join(vocabulary.PRODUCTS)}, "
        "e.g. --product ivr (leave it out to accept what any of them sends)"
    )


def _strict_variant(schema: dict[str, Any], product: str | None) -> dict[str, Any]:
    """What the documentation says a payload should be: no unknown fields, lower-case keys.

    With a product, that product's page: its fields only (IVR's root `version` and
    `clientRequestId`, IVR's and Number Masking's `destinationRefId`), its statuses and call
    types, and `sourceRefId` on every leg where its page requires it (Voice Messaging). Without
    one, the union of the three pages: every field any of them lists, each optional where any
    page makes it optional. Derived from the default schema rather than kept as more files, so
    the modes cannot disagree on anything but strictness.
    """
    strict = copy.deepcopy(schema)
    title = vocabulary.PRODUCT_TITLES[product] if product else "any product"
    strict["$id"] = STRICT_ID + (f":{product}" if product else "")
    strict["title"] = schema["title"] + f" (strict, {title})"
    strict["description"] = (
        f"Strict mode for {title}: what the 8x8 documentation says a payload should be. No "
        "unknown fields, leg keys callA, callB, ..., sourceRefId spelled in lower case"
        + (
            ", and the fields, statuses and call types of that product's page."
            if product
            else "; every field and value any of the three product pages lists is allowed."
        )
    )

    def close(node: object) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node["additionalProperties"] = False
            for child in node.values():
                close(child)
        elif isinstance(node, list):
            for child in node:
                close(child)

    close(strict)
    defs = strict["$defs"]
    defs["details"]["patternProperties"] = {"^call[A-Z]$": {"$ref": "#/$defs/leg"}}
    defs["details"]["additionalProperties"] = False
    leg = defs["leg"]
    del leg["properties"]["SourceRefId"]
    error_code = defs["errorDetails"]["properties"]["errorCode"]
    if product != "masking":
        # Every example sends an integer; only Number Masking's table says String.
        error_code["type"] = "integer"
        del error_code["pattern"]
    if product is None:
        return strict
    body = defs["payload"]["properties"]
    body["sessionStatus"]["enum"] = list(vocabulary.PRODUCT_SESSION_STATUSES[product])
    leg["properties"]["callStatus"]["enum"] = list(vocabulary.PRODUCT_LEG_STATUSES[product])
    leg["properties"]["callType"]["enum"] = list(vocabulary.PRODUCT_CALL_TYPES[product])
    if product == "ivr":
        # IVR's root table lists `version` without "(Optional)", and every example has it.
        strict["required"] = [*strict["required"], "version"]
    else:
        del strict["properties"]["version"]
        del body["clientRequestId"]
    if product == "messaging":
        # Voice Messaging's table does not mark sourceRefId optional ("null" for INBOUND) and
        # has no destinationRefId.
        leg["required"] = [*leg["required"], "sourceRefId"]
        del leg["properties"]["destinationRefId"]
    return strict


@cache
def _schema(strict: bool, product: str | None = None) -> dict[str, Any]:
    default = load_schema(SCHEMA_FILE)
    return _strict_variant(default, product) if strict else default


def contract_schema(*, strict: bool = False, product: str | None = None) -> dict[str, Any]:
    """The contract's JSON Schema (Draft 2020-12); a copy the caller may change.

    `product` ("messaging", "ivr", "masking") picks that page's strict variant; the default
    schema is the same for every product (what a receiver must tolerate).
    """
    return copy.deepcopy(_schema(strict, check_product(product) if strict else None))


_DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})"
)


def _is_date_time(instance: object) -> bool:
    # jsonschema checks date-time only when rfc3339-validator is installed; this check makes it
    # agree with jsonschema-rs (a real calendar date and time) without another dependency.
    if not isinstance(instance, str):
        return True
    if not _DATE_TIME.fullmatch(instance):
        return False
    try:
        datetime.fromisoformat(instance)
    except ValueError:
        return False
    return True


def _format_checker() -> FormatChecker:
    checker = FormatChecker(formats=())
    checker.checkers = dict(Draft202012Validator.FORMAT_CHECKER.checkers)
    checker.checkers["date-time"] = (_is_date_time, ())
    return checker


@dataclass(frozen=True)
class _Engines:
    fast: Any  # a compiled jsonschema_rs validator (the package ships no type stubs)
    detailed: Draft202012Validator


@cache
def _engines(strict: bool, product: str | None = None) -> _Engines:
    schema = _schema(strict, product)
    return _Engines(
        fast=jsonschema_rs.validator_for(schema, validate_formats=True),
        detailed=Draft202012Validator(schema, format_checker=_format_checker()),
    )


def _shorten(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


def _detailed_finding(error: jsonschema.ValidationError) -> Finding:
    keyword = str(error.validator)
    message = error.message
    if keyword == "const":
        message = f"{error.instance!r} was found; {error.validator_value!r} was expected"
    return Finding(error.json_path, _shorten(message), "error", f"schema.{keyword}")


def _schema_findings(payload: object, strict: bool, product: str | None) -> list[Finding]:
    engines = _engines(strict, product)
    try:
        if engines.fast.is_valid(payload):
            return []
    except (ValueError, TypeError, OverflowError):
        pass  # a Python object jsonschema-rs cannot convert: let jsonschema judge it
    findings = [_detailed_finding(e) for e in engines.detailed.iter_errors(payload)]
    if not findings:
        findings = _fast_findings(engines, payload)
    # A bad UUID or date-time breaks both its pattern and its format: report the format alone.
    formatted = {f.path for f in findings if f.rule == "schema.format"}
    kept = [f for f in findings if not (f.rule == "schema.pattern" and f.path in formatted)]
    return sorted(kept, key=lambda f: (f.path, f.rule))


def _fast_findings(engines: _Engines, payload: object) -> list[Finding]:
    # The engines disagree only at the edges of regex dialects (Python's `$` accepts a trailing
    # newline, ECMA's does not); then jsonschema-rs's own errors are the report.
    findings: list[Finding] = []
    try:
        errors = list(engines.fast.iter_errors(payload))
    except (ValueError, TypeError, OverflowError) as exc:
        return [Finding("$", f"cannot be validated: {exc}", "error", "schema")]
    for error in errors:
        path = "$" + "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.instance_path
        )
        keyword = str(error.schema_path[-1]) if error.schema_path else "schema"
        findings.append(Finding(path, _shorten(str(error.message)), "error", f"schema.{keyword}"))
    return findings


def validate(payload: object, *, strict: bool = False, product: str | None = None) -> list[Finding]:
    """Every contract problem of one VSS document (the whole webhook body); [] if it is valid.

    Schema violations are errors. Consistency lint findings are warnings, or errors with
    `strict=True`, which also applies the strict schema (no unknown fields, lower-case keys).
    `product` ("messaging", "ivr", "masking"; None: any of them) picks the strict schema of that
    product's page and tunes the lint rules that depend on the product; UsageError if unknown.
    """
    product = check_product(product)
    findings = _schema_findings(payload, strict, product if strict else None)
    severity: Severity = "error" if strict else "warning"
    # A value of the wrong type (strict mode's integer errorCode) is reported once, by the
    # schema, not again by the lint rule that reads it.
    rejected = {f.path for f in findings if f.rule == "schema.type"}
    findings.extend(
        Finding(i.path, i.message, severity, i.rule)
        for i in _lint.lint(payload, product=product)
        if i.path not in rejected
    )
    return findings


def _parse(body: bytes | str) -> object:
    return parse_json(body)


def _not_json(exc: BaseException, *, located: bool = False) -> Finding:
    """The finding for unparseable input; `located`: the caller already reports the line."""
    if isinstance(exc, json.JSONDecodeError):
        where = f"column {exc.colno}" if located else f"line {exc.lineno} column {exc.colno}"
        # Some of json's messages end in "at" already ("Invalid control character at").
        joint = " " if exc.msg.endswith(" at") else " at "
        detail = f"{exc.msg}{joint}{where}"
    elif isinstance(exc, UnicodeDecodeError):
        detail = "the bytes are not UTF-8 text"
    elif isinstance(exc, RecursionError):
        detail = "nested too deeply"
    else:
        detail = str(exc)
    return Finding("$", f"not JSON ({detail}); expected a JSON object", "error", "json")


def validate_bytes(
    body: bytes | str, *, strict: bool = False, product: str | None = None
) -> list[Finding]:
    """Parse a webhook body, then validate it; a body that is not JSON is one "json" error."""
    product = check_product(product)
    try:
        payload = _parse(body)
    except (ValueError, RecursionError) as exc:
        return [_not_json(exc)]
    return validate(payload, strict=strict, product=product)


@dataclass(frozen=True)
class InputSummary:
    """Totals of one `validate` run over files or stdin."""

    payloads: int
    errors: int
    warnings: int

    @property
    def exit_code(self) -> int:
        # No payload at all is a failed job, not a pass: in `generate … | validate -`, an empty
        # stream usually means the producer failed, and exit 0 would let CI go green.
        if self.payloads == 0:
            return EXIT_USAGE
        return EXIT_CONTRACT if self.errors else EXIT_OK

    def line(self) -> str:
        def count(n: int, noun: str) -> str:
            return f"{n} {noun}{'' if n == 1 else 's'}"

        return ", ".join(
            [
                count(self.payloads, "payload"),
                count(self.errors, "error"),
                count(self.warnings, "warning"),
            ]
        )


# A record is (where, parsed payload) or (where, the parse failure).
_Record = tuple[str, object]


class _ParseFailure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _judged(record: Record) -> _Record:
    try:
        return record.where, record.parsed()
    except (ValueError, RecursionError) as exc:
        return record.where, _ParseFailure(exc)


def _sniffed(name: str, stream: IO[bytes]) -> Iterator[_Record]:
    """Stdin: NDJSON or one JSON document, sniffed by emitter.sources as every command does."""
    return (_judged(record) for record in read_records(name, stream, "sniff"))


def _records(name: str, stream: IO[bytes], suffix: str) -> Iterator[_Record]:
    """A file read by emitter.sources (by its suffix, else sniffed), each record judged."""
    return (_judged(record) for record in read_records(name, stream, format_of(f"x{suffix}")))


def _open(path: str) -> IO[bytes]:
    try:
        return Path(path).open("rb")
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise InputError(
            f"cannot read {path!r} ({reason}); expected a readable .json or .ndjson file, "
            "e.g. vss-emitter validate captured.ndjson"
        ) from None


def validate_inputs(
    paths: Sequence[str],
    *,
    strict: bool = False,
    product: str | None = None,
    emit: Callable[[str], None],
    stdin: IO[bytes] | None = None,
) -> InputSummary:
    """Validate `.json` files (one payload or an array), `.ndjson` files (one per line) or stdin.

    `-` (or no path) reads stdin, NDJSON or a single JSON document. Each problem is passed to
    `emit` as one line (`file:line: path: message [rule] severity`) as soon as it is found;
    NDJSON is streamed, so memory stays constant. Raises InputError for a missing or unreadable
    file before anything is validated, UsageError if there is no path and stdin is a terminal.
    """
    product = check_product(product)
    stdin_stream = stdin if stdin is not None else sys.stdin.buffer
    if not paths and stdin_stream.isatty():
        raise UsageError(
            "no input: pass a .json or .ndjson PATH, or pipe payloads on stdin, "
            "e.g. vss-emitter generate mixed -n 10 | vss-emitter validate"
        )
    sources = list(paths) or ["-"]
    for path in sources:
        if path != "-":
            _open(path).close()
    payloads = errors = warnings = 0
    for path in sources:
        if path == "-":
            records = _sniffed("<stdin>", stdin_stream)
            handle: IO[bytes] | None = None
        else:
            handle = _open(path)
            records = _records(path, handle, Path(path).suffix.lower())
        try:
            while True:
                # Only reading is an input problem: an OSError from `emit` (a closed stdout,
                # `validate | head`) is the caller's to handle.
                try:
                    record = next(records, None)
                except OSError as exc:
                    raise InputError(f"cannot read {path!r} ({exc.strerror or exc})") from None
                if record is None:
                    break
                where, item = record
                payloads += 1
                if isinstance(item, _ParseFailure):
                    found = [_not_json(item.exc, located=True)]
                else:
                    found = validate(item, strict=strict, product=product)
                for finding in found:
                    if finding.severity == "error":
                        errors += 1
                    else:
                        warnings += 1
                    emit(finding.line(where))
        finally:
            if handle is not None:
                handle.close()
    return InputSummary(payloads=payloads, errors=errors, warnings=warnings)
