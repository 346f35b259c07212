"""Fixtures of the verification tests."""

from __future__ import annotations

from verify.postgres_server import postgres

__all__ = ["postgres"]
