"""The one place that finds schemas/ and scenarios/, in a checkout and in an installed wheel."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

_PACKAGE = "emitter"


def _root(kind: str) -> Traversable:
    # An installed wheel carries the folders as emitter/_data/<kind> (see pyproject.toml);
    # a checkout (editable install, or tests run from the repo) has them beside emitter/.
    packaged = resources.files(_PACKAGE).joinpath("_data", kind)
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / kind
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"the kit's {kind}/ folder is missing from {packaged} and {checkout}")


def schemas_dir() -> Traversable:
    return _root("schemas")


def scenarios_dir() -> Traversable:
    return _root("scenarios")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """Parse schemas/<name> once per process; callers must not mutate the result."""
    text = schemas_dir().joinpath(name).read_text(encoding="utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


def builtin_scenario_files() -> dict[str, Traversable]:
    """Built-in scenario files by stem, sorted by name."""
    files = {
        entry.name.rsplit(".", 1)[0]: entry
        for entry in scenarios_dir().iterdir()
        if entry.is_file() and entry.name.endswith((".yaml", ".yml"))
    }
    return dict(sorted(files.items()))
