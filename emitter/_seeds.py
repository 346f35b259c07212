"""Stable sub-seeds: one run seed fans out to probes, tests and calls, the same in every process."""

from __future__ import annotations

import hashlib


def derive_seed(seed: int, label: str) -> int:
    """A stable 63-bit seed for `label` under `seed` (sha256, never Python's salted hash())."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
