"""What a probe sees while running: its seed, the target, payloads, and a recorder of exchanges."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emitter._seeds import derive_seed
from emitter.check._model import Exchange, Probe
from emitter.deliver import Ack, DeliveryConfig

if TYPE_CHECKING:
    import httpx

    from emitter.check._verifying import CheckVerifier

_EXAMPLES = {
    "success": "docs-example-success.json",
    "failure": "docs-example-failure.json",
    # IVR's three scenarios and Number Masking's two examples (8x8-docs/), verbatim.
    "ivr-bridged-answered": "docs-example-ivr-bridged-answered.json",
    "ivr-bridged-busy": "docs-example-ivr-bridged-busy.json",
    "ivr-menu-hangup": "docs-example-ivr-menu-hangup.json",
    "masking-success": "docs-example-masking-success.json",
    "masking-failure": "docs-example-masking-failure.json",
}


@dataclass(frozen=True)
class _ScenarioChoice:
    """Built-in scenarios the mutation probes start from (looked up once, by name)."""

    completed: str
    multi_leg: str
    error: str


class _ProbeRun:
    """What one probe sees while running: its seed, the target, and a recorder of exchanges."""

    def __init__(self, *, probe: Probe, suite: _Suite) -> None:
        self.probe = probe
        self.suite = suite
        self.seed = derive_seed(suite.seed, probe.name)
        self.rng = random.Random(self.seed)
        self._exchanges: list[Exchange] = []
        self._lock = threading.Lock()

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        with self._lock:
            return tuple(self._exchanges)

    @property
    def config(self) -> DeliveryConfig:
        return self.suite.config

    @property
    def choice(self) -> _ScenarioChoice:
        return self.suite.choice

    def send(
        self,
        body: bytes,
        *,
        note: str = "",
        config: DeliveryConfig | None = None,
        client: httpx.Client | None = None,
    ) -> Ack:
        self._before([body])
        ack = self._deliver(body, config=config, client=client)
        self._record([Exchange(body=body, ack=ack, note=note)])
        return ack

    def send_at_once(self, bodies: Sequence[bytes], *, note: str = "") -> list[Ack]:
        """Deliver every body at the same instant, one thread each, as a burst from 8x8 would.

        The exchanges are recorded in the order of `bodies`, not the order the answers came
        in, so a report of the same seed lists them the same way every run.
        """
        self._before(bodies)
        barrier = threading.Barrier(len(bodies))

        def one(body: bytes) -> Ack:
            barrier.wait(timeout=30)
            return self._deliver(body)

        with ThreadPoolExecutor(max_workers=len(bodies), thread_name_prefix="vss-burst") as pool:
            acks = list(pool.map(one, bodies))
        self._record(
            [Exchange(body=b, ack=a, note=note) for b, a in zip(bodies, acks, strict=True)]
        )
        return acks

    def _before(self, bodies: Sequence[bytes]) -> None:
        # With --verify: what the receiver holds for these sessionIds before they are sent.
        if self.suite.verifier is not None:
            self.suite.verifier.before_delivery(bodies)

    def _deliver(
        self,
        body: bytes,
        *,
        config: DeliveryConfig | None = None,
        client: httpx.Client | None = None,
    ) -> Ack:
        from emitter.deliver import deliver

        return deliver(
            body,
            url=self.suite.url,
            config=config or self.suite.config,
            client=client or self.suite.client,
        )

    def _record(self, exchanges: Iterable[Exchange]) -> None:
        with self._lock:
            self._exchanges.extend(exchanges)

    def payload(self, scenario: str, *, index: int = 0) -> dict[str, Any]:
        """A fresh payload of a built-in scenario, seeded by this probe (so fresh sessionIds)."""
        from emitter.generator import generate

        payloads = list(generate(scenario, seed=derive_seed(self.seed, str(index)), n=1))
        return payloads[0]

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))


@dataclass(frozen=True, kw_only=True)
class _Suite:
    """What every probe of one run shares: the target, the delivery settings, the client."""

    url: str
    config: DeliveryConfig
    seed: int
    burst: int
    client: httpx.Client
    choice: _ScenarioChoice
    verifier: CheckVerifier | None = None


def example_bytes(which: str) -> bytes:
    """A documentation example, byte for byte as printed on its 8x8 page.

    `which`: "success" and "failure" (Voice Messaging), "ivr-bridged-answered",
    "ivr-bridged-busy", "ivr-menu-hangup" (IVR), "masking-success", "masking-failure".
    """
    from emitter._resources import schemas_dir

    return schemas_dir().joinpath("examples", _EXAMPLES[which]).read_bytes()
