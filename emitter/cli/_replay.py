"""Commands: filled in by their owner."""
from __future__ import annotations

from emitter.cli._base import cli  # noqa: F401
