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

import os
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
    _check_environment()
    return ssl.create_default_context()


def check_tls_config(*, verify: bool = True, ca_bundle: str | None = None) -> None:
    """The errors tls_context() would raise for these settings, without loading the system's
    trusted roots (tens of milliseconds of start-up): for checking the settings before
    anything is sent, and for a run that opens no TLS connection (an http:// target). A file
    found usable is not loaded again while it is unchanged (the CLI checks, then the run)."""
    if ca_bundle is not None:
        _check_file(ca_bundle)
        if verify:
            return
    if verify:
        _check_environment()


# Files found usable, by (path, device, inode, size, mtime, ctime): a check that loads a
# 200 kB bundle costs ~20 ms, and a command checks its settings more than once. The ctime
# changes with any change of content or permissions, and no one can set it back.
_USABLE: set[tuple[str, int, int, int, int, int]] = set()


def _check_file(path: str, *, label: str | None = None) -> None:
    try:
        st = os.stat(path)
        key: tuple[str, int, int, int, int, int] | None = (
            path,
            st.st_dev,
            st.st_ino,
            st.st_size,
            st.st_mtime_ns,
            st.st_ctime_ns,
        )
    except OSError:
        key = None  # _load says why
    if key is not None and key in _USABLE:
        return
    _load(path, label=label)
    if key is not None:
        _USABLE.add(key)


def _check_environment() -> None:
    """The same one-line error for an unusable SSL_CERT_FILE / SSL_CERT_DIR as for --ca-bundle.

    OpenSSL silently skips a variable it cannot use, so every delivery would fail as `tls` with
    a hint to set the very variable that is wrong.
    """
    cafile = os.environ.get("SSL_CERT_FILE")
    if cafile:
        _check_file(cafile, label="SSL_CERT_FILE")
    capath = os.environ.get("SSL_CERT_DIR")
    # OpenSSL reads a list of folders (os.pathsep); one usable folder is enough.
    if capath and not any(Path(part).is_dir() for part in capath.split(os.pathsep) if part):
        raise DeliveryConfigError(
            f"cannot use SSL_CERT_DIR={capath!r}: it is not a directory; expected a folder of "
            "hashed CA certificates (or unset it), e.g. SSL_CERT_DIR=/etc/ssl/certs"
        )


def check_ca_bundle(path: str) -> None:
    """DeliveryConfigError unless `path` is a PEM file holding at least one certificate."""
    _load(path)


def _load(path: str, *, label: str | None = None) -> ssl.SSLContext:
    if Path(path).is_dir():
        raise _unusable(path, IsADirectoryError(path), label=label)
    try:
        return ssl.create_default_context(cafile=path)
    except (OSError, ssl.SSLError, ValueError) as exc:
        raise _unusable(path, exc, label=label) from None


def _unusable(path: str, exc: BaseException, *, label: str | None = None) -> DeliveryConfigError:
    if isinstance(exc, IsADirectoryError):
        why = "it is a directory"
    elif isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError):
        why = (exc.strerror or type(exc).__name__).lower()
    else:
        why = "it holds no PEM certificate"
    if label is not None:  # an environment variable, not an option
        return DeliveryConfigError(
            f"cannot use {label}={path!r}: {why}; expected a PEM file of CA certificates "
            f"(or unset it), e.g. {label}=./receiver-ca.pem"
        )
    return DeliveryConfigError(
        f"cannot use CA bundle {path!r}: {why}; expected a PEM file of CA certificates, "
        "e.g. --ca-bundle ./receiver-ca.pem"
    )
