"""Scenario files: load YAML, validate against schemas/scenario.schema.json, report file:line."""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema
import yaml

from emitter._resources import builtin_scenario_files, load_schema
from emitter.errors import ScenarioError
from emitter.vocabulary import (
    PRODUCT_ALIASES,
    PRODUCT_CALL_TYPES,
    PRODUCT_LEG_STATUSES,
    PRODUCT_SESSION_STATUSES,
    PRODUCT_TITLES,
    session_status_agrees,
)

SCHEMA_NAME = "scenario.schema.json"

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Scenario:
    """One loaded, validated scenario: a session recipe, or a weighted mix of other scenarios."""

    name: str
    description: str
    quirk: bool
    source: str
    spec: Mapping[str, Any] = field(compare=False, repr=False)
    # messaging | ivr | masking | sip (the long names in files are normalised to these).
    product: str = "messaging"
    quirks: tuple[str, ...] = ()
    weight: float = 1.0
    components: tuple[tuple[Scenario, float], ...] = ()
    # JSON path ("$.overrides.payload.subAccountId") -> 1-based line in `source`.
    lines: Mapping[str, int] = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_mix(self) -> bool:
        return bool(self.components)

    @property
    def includes_quirks(self) -> bool:
        """Whether some payloads of this scenario are quirks (itself, or a quirk in its mix)."""
        return self.quirk or any(c.includes_quirks for c, _ in self.components)

    @property
    def session_status(self) -> str | None:
        session = self.spec.get("session")
        return session["status"] if isinstance(session, Mapping) else None

    @property
    def error_code(self) -> int | None:
        session = self.spec.get("session")
        return session.get("errorCode") if isinstance(session, Mapping) else None

    @property
    def leg_count(self) -> int | None:
        legs = self.spec.get("legs")
        return len(legs) if isinstance(legs, list) else None

    def line_of(self, path: str) -> int:
        """Best-known line of a JSON path in the file (its nearest located ancestor), else 1."""
        return _line_for(self.lines, path)

    def where(self, path: str) -> str:
        return f"{self.source}:{self.line_of(path)}"


# --- YAML with line numbers ------------------------------------------------------------------


def _parse_yaml(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f"{mark.line + 1}:{mark.column + 1}" if mark else "1"
        problem = exc.problem or exc.context or "malformed YAML"
        raise ScenarioError(f"{source}:{line}: YAML syntax error: {problem}") from None
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}:1: YAML syntax error: {exc}") from None
    except RecursionError:
        raise ScenarioError(
            f"{source}:1: YAML nested too deeply; expected a scenario's few levels"
        ) from None
    finally:
        loader.dispose()
    return data, node


def _index_lines(node: yaml.Node | None, path: str, out: dict[str, int], source: str) -> None:
    """Records each JSON path's line; rejects duplicate keys, which YAML would silently merge.

    An alias is the same node object as its anchor: a node met again is not walked again (a
    file of aliases of aliases would otherwise be walked exponentially), and a node met inside
    itself is a recursive alias, which no JSON value can hold.
    """
    _index_node(node, path, out, source, ancestors=set(), done=set())


def _index_node(
    node: yaml.Node | None,
    path: str,
    out: dict[str, int],
    source: str,
    *,
    ancestors: set[int],
    done: set[int],
) -> None:
    if node is None:
        return
    out.setdefault(path, node.start_mark.line + 1)
    if not isinstance(node, yaml.MappingNode | yaml.SequenceNode):
        return
    key = id(node)
    if key in ancestors:
        raise ScenarioError(
            f"{source}:{node.start_mark.line + 1}: {path}: recursive YAML alias (a value that "
            "contains itself); expected plain data, e.g. name: my-scenario"
        )
    if key in done:
        return
    done.add(key)
    ancestors.add(key)
    try:
        if isinstance(node, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in node.value:
                name = str(key_node.value)
                if name in seen:
                    raise ScenarioError(
                        f"{source}:{key_node.start_mark.line + 1}: {path}: duplicate key "
                        f"{name!r}; each key may appear once"
                    )
                seen.add(name)
                child = f"{path}.{name}"
                # The key's line, not its value's, is where a reader looks for "this field is
                # wrong".
                out[child] = key_node.start_mark.line + 1
                _index_node(value_node, child, out, source, ancestors=ancestors, done=done)
        else:
            for i, item in enumerate(node.value):
                _index_node(item, f"{path}[{i}]", out, source, ancestors=ancestors, done=done)
    finally:
        ancestors.discard(key)


def _json_path(parts: Sequence[str | int]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


# --- schema errors ---------------------------------------------------------------------------


@cache
def _validator() -> jsonschema.protocols.Validator:
    schema = load_schema(SCHEMA_NAME)
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema)


def _describe(error: jsonschema.ValidationError, instance_path: str) -> tuple[str, str]:
    """(JSON path to point at, message) for one schema error, in the kit's words."""
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        allowed = set(schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        key = extra[0] if extra else "?"
        return (
            f"{instance_path}.{key}",
            f"unknown key {key!r}; expected one of {', '.join(sorted(allowed))}",
        )
    if error.validator == "not":
        banned = schema.get("not", {})
        keys = banned.get("required") or [
            k for alt in banned.get("anyOf", []) for k in alt.get("required", [])
        ]
        present = [k for k in keys if isinstance(error.instance, Mapping) and k in error.instance]
        key = present[0] if present else (keys[0] if keys else "?")
        why = schema.get("$comment", "not allowed here")
        return f"{instance_path}.{key}", f"{key!r} is not allowed here: {why}"
    if error.validator == "enum":
        options = ", ".join(str(o) for o in schema.get("enum", []))
        return instance_path, f"{error.instance!r} is not one of {options}"
    if error.validator == "oneOf":
        # A oneOf failure's own message dumps the whole value; the closest branch says more.
        # The deepest error inside the branches is the one that names the bad item.
        branches = error.context or []
        best = max(branches, key=lambda e: len(e.relative_path), default=None)
        if best is not None and best.relative_path:
            deeper = _json_path([*error.absolute_path, *best.relative_path])
            return _describe(best, deeper)
        expected = schema.get("description")
        if expected:
            return instance_path, f"{error.instance!r} is not valid here; expected {expected}"
    if error.validator == "required":
        return instance_path, error.message
    return instance_path, error.message


def _schema_problem(data: Any, lines: Mapping[str, int], source: str) -> str | None:
    errors = list(_validator().iter_errors(data))
    if not errors:
        return None
    found: list[tuple[int, str, str]] = []
    for error in errors:
        path, message = _describe(error, _json_path(list(error.absolute_path)))
        found.append((_line_for(lines, path), path, message))
    found.sort()
    line, path, message = found[0]
    more = f" (and {len(found) - 1} more problem(s))" if len(found) > 1 else ""
    return f"{source}:{line}: {path}: {message}{more}"


def _line_for(lines: Mapping[str, int], path: str) -> int:
    probe = path
    while probe:
        if probe in lines:
            return lines[probe]
        cut = max(probe.rfind("."), probe.rfind("["))
        probe = probe[:cut] if cut > 0 else ""
    return 1


# --- checks the schema cannot express --------------------------------------------------------


def _range_problems(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    for i, leg in enumerate(spec.get("legs", [])):
        for key in ("ring", "duration"):
            value = leg.get(key)
            if isinstance(value, list) and value[0] > value[1]:
                yield (
                    f"$.legs[{i}].{key}",
                    f"range {value} runs backwards; expected [low, high], e.g. [4, 18]",
                )


def _non_finite(value: Any, path: str) -> Iterator[tuple[str, str]]:
    # YAML has .nan and .inf; JSON has neither, so no weight or override may be one.
    if isinstance(value, float) and not math.isfinite(value):
        yield path, f"{value} is not a finite number; expected e.g. 1.5"
    elif isinstance(value, Mapping):
        for key, child in value.items():
            yield from _non_finite(child, f"{path}.{key}")
    elif isinstance(value, list):
        for i, child in enumerate(value):
            yield from _non_finite(child, f"{path}[{i}]")


def _semantic_problems(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    yield from _non_finite(spec, "$")
    yield from _range_problems(spec)
    if "mix" in spec:
        return
    status = spec["session"]["status"]
    legs = spec["legs"]
    statuses = [leg["status"] for leg in legs]
    agrees = session_status_agrees(status, statuses, product=product_of(spec))
    if not spec.get("quirk") and not agrees:
        yield (
            "$.session.status",
            f"session status {status} does not agree with the legs' statuses {statuses}: "
            "the last leg decides the outcome, a COMPLETED session needs its first and last "
            "legs COMPLETED, UNSUBSCRIBED_CONTACT has no legs, the other opt-outs only "
            "COMPLETED legs, an IVR ERROR session no ERROR leg (mark the scenario "
            "`quirk: true` to break this on purpose)",
        )
    yield from _product_problems(spec)
    quirks = spec.get("quirks", [])
    if "legs-out-of-order" in quirks and len(legs) < 2:
        yield "$.quirks", "legs-out-of-order needs at least 2 legs to reorder"
    if quirks and not legs:
        yield "$.quirks", f"{quirks[0]} needs at least one leg"
    if "string-null-source-ref-id" in quirks and not any(
        leg["direction"] == "OUTBOUND" for leg in legs
    ):
        yield "$.quirks", "string-null-source-ref-id needs an OUTBOUND leg (it replaces its ref)"


def product_of(spec: Mapping[str, Any]) -> str:
    """The scenario's product by its short name (messaging, ivr, masking, sip)."""
    raw = str(spec.get("product", "messaging"))
    return PRODUCT_ALIASES.get(raw, raw)


def _product_problems(spec: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """What the product's own page does not allow (a quirk scenario may break it on purpose)."""
    product = product_of(spec)
    if spec.get("quirk") or product not in PRODUCT_TITLES:
        return
    title = PRODUCT_TITLES[product]
    status = spec["session"]["status"]
    if status not in PRODUCT_SESSION_STATUSES[product]:
        yield (
            "$.session.status",
            f"{title}'s page lists no session status {status}; expected one of "
            f"{', '.join(PRODUCT_SESSION_STATUSES[product])}",
        )
    for i, leg in enumerate(spec["legs"]):
        if leg["status"] not in PRODUCT_LEG_STATUSES[product]:
            yield (
                f"$.legs[{i}].status",
                f"{title}'s page lists no leg status {leg['status']}; expected one of "
                f"{', '.join(PRODUCT_LEG_STATUSES[product])}",
            )
        call_types = leg.get("callType", [])
        for call_type in call_types if isinstance(call_types, list) else [call_types]:
            if call_type not in PRODUCT_CALL_TYPES[product]:
                yield (
                    f"$.legs[{i}].callType",
                    f"{title} legs are always {' or '.join(PRODUCT_CALL_TYPES[product])}, not "
                    f"{call_type}; use product: ivr or sip for VOIP legs",
                )


# --- loading ---------------------------------------------------------------------------------


def _looks_like_path(ref: str) -> bool:
    return os.sep in ref or "/" in ref or ref.endswith((".yaml", ".yml")) or os.path.exists(ref)


def load_scenario(ref: str | os.PathLike[str]) -> Scenario:
    """A built-in scenario by name, or a scenario file by path. ScenarioError if it is not valid."""
    if isinstance(ref, str) and not _looks_like_path(ref):
        return _load_builtin(ref)
    path = Path(ref)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(
            f"scenario file {str(path)!r} does not exist; expected a built-in name "
            "(see `vss-emitter scenarios`) or a path to a .yaml file"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario file {str(path)!r}: {exc}") from None
    return _load_text(text, str(path), base=path.parent, chain=(), files=(_file_key(path),))


def _file_key(path: Path) -> Path:
    """The identity of a scenario file in an include chain: `./a.yaml` and `a.yaml` are one."""
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def builtin_scenarios() -> list[Scenario]:
    """Every built-in scenario, sorted by name."""
    return [_load_builtin(name) for name in builtin_scenario_files()]


def builtin_names() -> list[str]:
    return list(builtin_scenario_files())


_loading: set[str] = set()


@cache
def _load_builtin(name: str) -> Scenario:
    if name in _loading:
        raise ScenarioError(f"built-in scenario {name!r} includes itself through its mix")
    _loading.add(name)
    try:
        return _read_builtin(name)
    finally:
        _loading.discard(name)


def _read_builtin(name: str) -> Scenario:
    files = builtin_scenario_files()
    entry = files.get(name)
    if entry is None:
        close = difflib.get_close_matches(name, list(files), n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ScenarioError(
            f"unknown scenario {name!r}: expected a built-in name (see `vss-emitter scenarios`) "
            f"or a path to a .yaml file, e.g. completed{hint}"
        )
    return _load_text(entry.read_text(encoding="utf-8"), str(entry), base=None, chain=(), files=())


def _load_text(
    text: str,
    source: str,
    *,
    base: Path | None,
    chain: tuple[str, ...],
    files: tuple[Path, ...],
) -> Scenario:
    """`chain`: names of the built-ins being loaded around this one; `files`: the scenario
    files including this one, outermost first (this file last)."""
    data, node = _parse_yaml(text, source)
    lines: dict[str, int] = {}
    try:
        _index_lines(node, "$", lines, source)
    except RecursionError:
        raise ScenarioError(
            f"{source}:1: YAML nested too deeply; expected a scenario's few levels"
        ) from None
    if not isinstance(data, dict):
        raise ScenarioError(
            f"{source}:1: $: expected a mapping with name, description, session and legs "
            f"(or mix), got {type(data).__name__}"
        )
    problem = _schema_problem(data, lines, source)
    if problem:
        raise ScenarioError(problem)
    for path, message in _semantic_problems(data):
        raise ScenarioError(f"{source}:{_line_for(lines, path)}: {path}: {message}")

    name = data["name"]
    components: list[tuple[Scenario, float]] = []
    for i, entry in enumerate(data.get("mix", [])):
        where = f"{source}:{_line_for(lines, f'$.mix[{i}].scenario')}"
        ref = entry["scenario"]
        from_file = base is not None and _looks_like_path(ref)
        if from_file:
            assert base is not None
            target = _file_key(base / ref)
            if target in files:
                # Files are told apart by their resolved path, not their `name:` (two files
                # may share one; one file is reachable by several relative paths).
                cycle = " -> ".join(f.name for f in (*files[files.index(target) :], target))
                raise ScenarioError(
                    f"{where}: $.mix[{i}].scenario: {ref!r} includes itself (a cycle: {cycle}); "
                    "a mix may include a scenario file only once along a chain"
                )
        elif base is None and (ref == name or ref in chain):
            # Built-ins mix built-ins by name; a file can only reach a built-in, never a file,
            # so a built-in's name reached from a file cannot close a cycle.
            raise ScenarioError(f"{where}: $.mix[{i}].scenario: {ref!r} includes itself")
        try:
            if from_file:
                assert base is not None
                part = _load_file_in_chain(base / ref, chain=(*chain, name), files=files)
            else:
                part = _load_builtin(ref)
        except ScenarioError as exc:
            raise ScenarioError(f"{where}: $.mix[{i}].scenario: {exc}") from None
        components.append((part, float(entry.get("weight", part.weight))))

    return Scenario(
        name=name,
        description=data["description"],
        quirk=bool(data.get("quirk", False)),
        source=source,
        spec=MappingProxyType(data),
        product=product_of(data),
        quirks=tuple(data.get("quirks", ())),
        weight=float(data.get("weight", 1.0)),
        components=tuple(components),
        lines=MappingProxyType(lines),
    )


def _load_file_in_chain(path: Path, *, chain: tuple[str, ...], files: tuple[Path, ...]) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read scenario file {str(path)!r}: {exc}") from None
    return _load_text(
        text, str(path), base=path.parent, chain=chain, files=(*files, _file_key(path))
    )
