"""Mock 8x8 Voice Session Summary (VSS) webhook emitter and receiver contract test kit."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from emitter._version import __version__

# Public names -> the module that defines them, imported on first use (PEP 562): the pytest
# plugin imports this package in every pytest run of anyone who installs the kit, so
# `import emitter` must not pull in httpx, jsonschema or aiohttp. No public name is also a
# submodule's name (`emitter.deliver` is the module, its function `emitter.deliver.deliver`):
# importing a submodule rebinds the package attribute of that name.
_EXPORTS = {
    "Ack": "emitter.deliver",
    "CheckReport": "emitter.check",
    "DeliveryConfig": "emitter.deliver",
    "DeliveryConfigError": "emitter.errors",
    "Finding": "emitter.contract",
    "InputError": "emitter.errors",
    "Outcome": "emitter._outcomes",
    "ProbeResult": "emitter.check",
    "ReferenceReceiver": "emitter.receiver",
    "ReplayReport": "emitter.replay",
    "ReplaySettings": "emitter.replay",
    "Scenario": "emitter.scenarios",
    "ScenarioError": "emitter.errors",
    "UsageError": "emitter.errors",
    "VssEmitterError": "emitter.errors",
    "builtin_scenarios": "emitter.scenarios",
    "canonical": "emitter._canonical",
    "classify_status": "emitter._outcomes",
    "contract_schema": "emitter.contract",
    "dumps": "emitter._payload",
    "generate": "emitter.generator",
    "load_scenario": "emitter.scenarios",
    "run_check": "emitter.check",
    "validate": "emitter.contract",
    "validate_bytes": "emitter.contract",
}

__all__ = [
    "Ack",
    "CheckReport",
    "DeliveryConfig",
    "DeliveryConfigError",
    "Finding",
    "InputError",
    "Outcome",
    "ProbeResult",
    "ReferenceReceiver",
    "ReplayReport",
    "ReplaySettings",
    "Scenario",
    "ScenarioError",
    "UsageError",
    "VssEmitterError",
    "__version__",
    "builtin_scenarios",
    "canonical",
    "classify_status",
    "contract_schema",
    "dumps",
    "generate",
    "load_scenario",
    "run_check",
    "validate",
    "validate_bytes",
]

if TYPE_CHECKING:
    from emitter._canonical import canonical
    from emitter._outcomes import Outcome, classify_status
    from emitter._payload import dumps
    from emitter.check import CheckReport, ProbeResult, run_check
    from emitter.contract import Finding, contract_schema, validate, validate_bytes
    from emitter.deliver import Ack, DeliveryConfig
    from emitter.errors import (
        DeliveryConfigError,
        InputError,
        ScenarioError,
        UsageError,
        VssEmitterError,
    )
    from emitter.generator import generate
    from emitter.receiver import ReferenceReceiver
    from emitter.replay import ReplayReport, ReplaySettings
    from emitter.scenarios import Scenario, builtin_scenarios, load_scenario


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'emitter' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
