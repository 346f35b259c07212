"""The kit's one exception hierarchy; each error knows the exit code the CLI maps it to.

    VssEmitterError              exit 2: the command could not do its job
    ├── UsageError               a bad argument or option value
    ├── InputError               an unreadable or missing input file
    ├── ScenarioError            a scenario file that is not valid (file and line in the message)
    └── DeliveryConfigError      a URL, header or TLS setting that cannot be used

A broken contract (an invalid payload, a receiver that did not ack) is not an exception: it is
a result (findings, acks, probe outcomes) that the CLI turns into exit code 1.

Messages name the bad value, what was expected and an example, on one line.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_CONTRACT = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class VssEmitterError(Exception):
    """Base of every error the kit raises on purpose."""

    exit_code: int = EXIT_USAGE


class UsageError(VssEmitterError):
    """A bad argument or option value."""


class InputError(VssEmitterError):
    """An input file that is missing, unreadable or not in the expected format."""


class ScenarioError(VssEmitterError):
    """A scenario file that does not follow schemas/scenario.schema.json."""


class DeliveryConfigError(VssEmitterError):
    """A target URL, header or TLS setting that cannot be used."""
