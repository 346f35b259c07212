"""Mock 8x8 Voice Session Summary (VSS) webhook emitter and receiver contract test kit."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
