"""Commands of this area (owned by one helper until integration)."""

from __future__ import annotations
