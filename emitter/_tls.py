"""The one TLS trust rule of the kit: which certificates send, check, replay, Locust and the
pytest plugin accept, and the one error for a CA bundle that cannot be used.

The rule (documented in docs/tls.md):

1. By default the receiver's certificate is verified against the system's trusted roots, as
   OpenSSL finds them (`ssl.create_default_context()`); the standard `SSL_CERT_FILE` and
   `SSL_CERT_DIR` variables replace those roots, exactly as for curl or Python itself.
2. `--ca-bundle FILE` (Locust: `--vss-ca-bundle`, pytest: `--vss-ca-bundle`) verifies against
   the certificates in FILE (PEM) instead: a private CA, a test CA.
3. `--insecure` skips verification entirely (the traffic is still encrypted).

Host names are always checked when verifying. Before this module the HTTP libraries chose the
roots (httpx certifi's bundle, aiohttp the system's), so the commands agreed only by accident.
"""

from __future__ import annotations

import ssl
from pathlib import Path

from emitter.errors import DeliveryConfigError


def tls_context(*, verify: bool = True, ca_bundle: str | None = None) -> ssl.SSLContext:
    """The client SSLContext for the rule above; DeliveryConfigError for an unusable bundle.

    `ssl` is looked up at call time, so under Locust (gevent-patched `ssl`) the context is
    gevent's and cooperates with its sockets.
    """
    if ca_bundle is not None:
        bundled = _load(ca_bundle)
        if verify:
            return bundled
    if not verify:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    return ssl.create_default_context()


def check_ca_bundle(path: str) -> None:
    """DeliveryConfigError unless `path` is a PEM file holding at least one certificate."""
    _load(path)


def _load(path: str) -> ssl.SSLContext:
    if Path(path).is_dir():
        raise _unusable(path, IsADirectoryError(path))
    try:
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise _unusable(path, exc) from None


def _unusable(path: str, exc: BaseException) -> DeliveryConfigError:
    if isinstance(exc, IsADirectoryError):
        why = "it is a directory"
    elif isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError):
        why = (exc.strerror or type(exc).__name__).lower()
    else:
        why = "it holds no PEM certificate"
    return DeliveryConfigError(
        f"cannot use CA bundle {path!r}: {why}; expected a PEM file of CA certificates, "
        "e.g. --ca-bundle ./receiver-ca.pem"
    )
