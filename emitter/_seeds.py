"""Stable sub-seeds: one run seed fans out to scenarios, probes, tests, Locust users and calls.

Every derivation hashes text with sha256 (never Python's salted hash()), so the same seed gives
the same sub-seeds in every process and on every machine. The three forms differ only in the
text hashed and the width kept; each is pinned by bytes users rely on (golden files for the
generator, repeatable Locust runs), so none may change.
"""

from __future__ import annotations

import hashlib


def _hash64(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def derive_seed(seed: int, label: str) -> int:
    """A stable 63-bit seed for `label` under `seed` (probes, pytest tests, calls)."""
    return _hash64(f"{seed}:{label}") >> 1


def scenario_seed(*, seed: int, name: str) -> int:
    """The generator's 64-bit seed for one scenario under a run seed."""
    return _hash64(f"{seed}:{name}")


def user_seed(*, base: int, worker: int, user: int, stream: int) -> int:
    """A generator seed unique to one (worker, user, scenario) of a Locust run.

    Hashing rather than arithmetic, so `base + 1` on one run never replays another run's worker.
    """
    return _hash64(f"vss-locust:{base}:{worker}:{user}:{stream}")
