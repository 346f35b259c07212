"""Moved to emitter.sources (one payload-source layer for every command); kept for imports that
have not switched yet. Remove once nothing imports it."""

from __future__ import annotations

from emitter.sources import FileSource, Item, ScenarioSource
from emitter.sources import check_readable as _check_readable

__all__ = ["FileSource", "Item", "ScenarioSource", "_check_readable"]
