"""How a replay process runs: its event loop (uvloop), the GC held still, the TLS context, and
its helper processes kept off the sender's core."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import ssl
from collections.abc import Callable, Iterator

from emitter import _tls
from emitter.deliver import DeliveryConfig


@contextlib.contextmanager
def quiet_gc() -> Iterator[None]:
    """Keeps the cyclic GC from scanning the interpreter's long-lived objects mid-run.

    Measured at 5k req/s: with default GC settings, full collections (which walk every object
    of the HTTP client, the generator and the stdlib) stalled the loop for tens of
    milliseconds, made a third of the sends late and cut throughput at `max` by a third.
    Freezing what exists at the start and collecting young objects less often removes both;
    the run's own garbage is still collected. Everything is restored afterwards.
    """
    threshold = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    try:
        yield
    finally:
        gc.set_threshold(*threshold)
        gc.unfreeze()


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


def tls_context(config: DeliveryConfig) -> ssl.SSLContext:
    """What the engine verifies the receiver with: the kit's one trust rule (emitter._tls)."""
    return _tls.tls_context(verify=config.verify_tls, ca_bundle=config.ca_bundle)


def target_tls(url: str, config: DeliveryConfig) -> ssl.SSLContext | None:
    """tls_context() for an https:// target; for any other, None, once the settings are known
    to be usable (the same errors, without loading the system's roots)."""
    if url.lower().startswith("https:"):
        return tls_context(config)
    _tls.check_tls_config(verify=config.verify_tls, ca_bundle=config.ca_bundle)
    return None


def offload(pid: int) -> None:
    """Moves helper process `pid` off this process's cores, when there are others.

    For a helper that must keep up with the run (the generator feeding `--scenario`): done by
    the parent right after the spawn, so even the child's start-up (~0.3 s of imports) never
    runs on a pinned sender's core.
    """
    with contextlib.suppress(OSError, AttributeError):
        others = _all_cores() - os.sched_getaffinity(0)
        if others:
            os.sched_setaffinity(pid, others)


def idle_class(pid: int) -> None:
    """Puts helper process `pid` in the idle scheduling class: it runs only when nothing else
    wants the core, and yields it at once to whatever wakes on it; where that is refused, the
    lowest priority (nice 19).

    For a helper whose work can wait (the coverage count). It stays on this process's cores:
    measured at 20,000/s with a receiver pinned to the other core, the same helper moved onto
    the receiver's core slowed the receiver enough that, in 2 to 4 runs of 10, every connection
    waited for answers and 400-2,300 sends left late; kept on the sender's core, 1 run in 26
    had any, as without a report (1 in 16). A user who pins the sender (`taskset -c 0`) keeps
    the other cores for something else.
    """
    try:
        os.sched_setscheduler(pid, os.SCHED_IDLE, os.sched_param(0))
    except (OSError, AttributeError):
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, pid, 19)


def widen(pid: int) -> bool:
    """Lets helper process `pid` run on every core again, the sender's included, and at this
    process's own priority where the system allows it: once the run is over its cores are
    free, and a count confined to a busy core, or left in the idle class on a busy machine,
    would starve. True when it now runs at that priority (out of the idle class, at this
    process's nice: a run started under `nice` keeps its helpers there)."""
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(pid, _all_cores())
    try:
        if os.sched_getscheduler(pid) == os.SCHED_IDLE:
            os.sched_setscheduler(pid, os.SCHED_OTHER, os.sched_param(0))
        own = os.getpriority(os.PRIO_PROCESS, 0)
        if os.getpriority(os.PRIO_PROCESS, pid) > own:  # the nice-19 fallback of idle_class()
            os.setpriority(os.PRIO_PROCESS, pid, own)
    except (OSError, AttributeError):
        return False  # raising a priority needs CAP_SYS_NICE (or RLIMIT_NICE)
    return True


def _all_cores() -> set[int]:
    # Every CPU id; the kernel keeps the ones this cpuset allows (sched_setaffinity).
    return set(range(os.cpu_count() or 1))
