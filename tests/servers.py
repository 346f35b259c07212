"""Real misbehaving servers on 127.0.0.1, for tests of anything that delivers webhooks.

Each factory returns a `Server`, a context manager that listens on a free loopback port in a
background thread and records what it was sent:

    with servers.answering(500, b'{"error":"boom"}') as server:
        ack = deliver(body, url=server.url, config=DeliveryConfig())
        assert server.requests[0].body == body

Factories (all bind 127.0.0.1 only):

    answering(status, body, headers=...)   a plain HTTP answer
    echoing(status)                        answers with the request's headers in its body
    flaky(failures, status)                fails the first `failures` requests, then 200
    slow(delay_s)                          waits before answering 200
    trickling(interval_s)                  sends a 200 answer one byte at a time
    resetting(hard=False)                  accepts and closes at once (hard: TCP RST)
    cut_mid_answer()                       a 200 head and 2 of 100 body bytes, then TCP RST
    stalled_body()                         a 200 head and 2 of 100 body bytes, then nothing
    huge_head(size)                        a complete 200 whose head holds one `size`-byte header
    garbage(data)                          reads the request, writes non-HTTP bytes, closes
    redirecting(location, status=302)      a redirect
    tls(cert, status=200)                  HTTPS with a self-signed certificate
    closed_port_url()                      a URL on a port nobody listens on (refused)
    self_signed_cert(directory)            a certificate/key pair for 127.0.0.1 and localhost
    ca_signed_cert(directory)              a test CA, and a certificate it signed for 127.0.0.1

The raw socket handling is on purpose: faults like a trickled status line or a non-HTTP peer
cannot be produced with a well-behaved HTTP server library.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import ssl
import struct
import subprocess
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

__all__ = [
    "Request",
    "SelfSignedCert",
    "Server",
    "answering",
    "ca_signed_cert",
    "closed_port_url",
    "cut_mid_answer",
    "echoing",
    "flaky",
    "garbage",
    "huge_head",
    "redirecting",
    "resetting",
    "self_signed_cert",
    "slow",
    "stalled_body",
    "tls",
    "trickling",
]

_REASONS = {
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    307: "Temporary Redirect",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    413: "Content Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@dataclass(frozen=True)
class Request:
    """One request as the server read it; header names are lower-cased."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class SelfSignedCert:
    """A PEM certificate (its own CA) and key valid for 127.0.0.1 and localhost."""

    cert: Path
    key: Path


Responder = Callable[["Server", socket.socket, "Request | None"], None]


class Server:
    """A loopback TCP server whose `responder` decides what each connection gets.

    `read_request=False` hands the responder a connection before anything was read (for
    servers that must not even look at the request). Requests read are kept in `requests`.
    """

    def __init__(
        self,
        responder: Responder,
        *,
        read_request: bool = True,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._responder = responder
        self._read_request = read_request
        self._tls = tls_context
        self._lock = threading.Lock()
        self._requests: list[Request] = []
        self._conns: list[socket.socket] = []
        self.stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self.port}/"

    @property
    def requests(self) -> list[Request]:
        with self._lock:
            return list(self._requests)

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting, wake sleeping responders and close every open connection."""
        self.stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            _close_quietly(conn)

    def _accept_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(10)
            if self._tls is not None:
                conn = self._tls.wrap_socket(conn, server_side=True)
                with self._lock:
                    self._conns.append(conn)
            request = read_request(conn) if self._read_request else None
            if request is not None:
                with self._lock:
                    self._requests.append(request)
            self._responder(self, conn, request)
        except (OSError, ssl.SSLError, ValueError):
            pass  # the client went away or refused our certificate: that is the test's subject
        finally:
            _close_quietly(conn)


def read_request(conn: socket.socket) -> Request | None:
    """Read one HTTP/1.1 request (Content-Length bodies only); None if the peer sent nothing."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = ([*lines[0].split(" ", 2), "", ""])[:3]
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or "0")
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return Request(method=method, path=path, headers=headers, body=body[:length])


def http_response(status: int, body: bytes = b"", headers: Iterable[tuple[str, str]] = ()) -> bytes:
    """A complete HTTP/1.1 response that closes the connection."""
    reason = _REASONS.get(status, "Status")
    lines = [f"HTTP/1.1 {status} {reason}", f"Content-Length: {len(body)}", "Connection: close"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def answering(
    status: int = 200, body: bytes = b"", *, headers: Iterable[tuple[str, str]] = ()
) -> Server:
    """Answers every request with this status, body and headers."""
    response = http_response(status, body, tuple(headers))

    def respond(server: Server, conn: socket.socket, request: Request | None) -> None:
        if request is not None:
            conn.sendall(response)

    return Server(respond)


def echoing(status: int = 500, *, names: Iterable[str] | None = None) -> Server:
    """Answers with the request's headers (or only those `names`) as a JSON body.

    A receiver that leaks what it got, to prove that secrets sent are never shown.
    """
    wanted = None if names is None else {n.lower() for n in names}

    def respond(server: Server, conn: socket.socket, request: Request | None) -> None:
        if request is not None:
            shown = {k: v for k, v in request.headers.items() if wanted is None or k in wanted}
            body = json.dumps({"error": "echo", "headers": shown}).encode()
            conn.sendall(http_response(status, body, [("Content-Type", "application/json")]))

    return Server(respond)


def flaky(failures: int, *, status: int = 503) -> Server:
    """Answers `status` to the first `failures` requests, then 200."""

    def respond(server: Server, conn: socket.socket, request: Request | None) -> None:
        if request is not None:
            failing = len(server.requests) <= failures
            conn.sendall(http_response(status if failing else 200, b"down" if failing else b""))

    return Server(respond)


def slow(delay_s: float, *, status: int = 200) -> Server:
    """Reads the request, then waits `delay_s` before answering."""

    def respond(server: Server, conn: socket.socket, request: Request | None) -> None:
        if request is not None and not server.stopping.wait(delay_s):
            conn.sendall(http_response(status))

    return Server(respond)


def trickling(interval_s: float, *, status: int = 200) -> Server:
    """Sends a complete answer one byte every `interval_s`: each read is quick, the whole is not."""
    response = http_response(status, b'{"ok":true}')

    def respond(server: Server, conn: socket.socket, request: Request | None) -> None:
        if request is None:
            return
        for i in range(len(response)):
            if server.stopping.wait(interval_s):
                return
            conn.sendall(response[i : i + 1])

    return Server(respond)


def resetting(*, hard: bool = False) -> Server:
    """Accepts and closes at once without answering; `hard` sends a TCP RST instead of a FIN."""

    def respond(server: Server, conn: socket.socket, request: Request | None) -> None:
        if hard:
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()

    return Server(respond, read_request=hard)


_PARTIAL_200 = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nok"


def cut_mid_answer() -> Server:
    """Sends a 200 status line and head, 2 of the 100 body bytes it announced, then a TCP RST."""

    def respond(server: Server, conn: socket.socket, request: Request | None) -> None:
        if request is not None:
            conn.sendall(_PARTIAL_200)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            conn.close()

    return Server(respond)


def stalled_body() -> Server:
    """Sends a 200 status line and head, 2 of the 100 body bytes it announced, then waits."""

    def respond(server: Server, conn: socket.socket, request: Request | None) -> None:
        if request is not None:
            conn.sendall(_PARTIAL_200)
            server.stopping.wait(60)

    return Server(respond)


def huge_head(size: int = 200_000) -> Server:
    """A complete 200 answer whose head holds one header of `size` bytes."""
    response = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"a" * size + b"\r\nContent-Length: 2\r\n"
    response += b"Connection: close\r\n\r\nok"

    def respond(server: Server, conn: socket.socket, request: Request | None) -> None:
        if request is not None:
            conn.sendall(response)

    return Server(respond)


def garbage(data: bytes = b"hello\r\n") -> Server:
    """Reads the request, writes bytes that are not HTTP, and closes."""

    def respond(server: Server, conn: socket.socket, request: Request | None) -> None:
        if request is not None:
            conn.sendall(data)

    return Server(respond)


def redirecting(location: str, *, status: int = 302) -> Server:
    """Answers a redirect to `location`."""
    return answering(status, b"moved", headers=[("Location", location)])


def tls(cert: SelfSignedCert, *, status: int = 200) -> Server:
    """An HTTPS server on `cert`; a client that refuses the certificate just fails its handshake."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert.cert, cert.key)
    response = http_response(status, b'{"ok":true}')

    def respond(server: Server, conn: socket.socket, request: Request | None) -> None:
        if request is not None:
            conn.sendall(response)

    return Server(respond, tls_context=context)


def closed_port_url() -> str:
    """An http URL on a loopback port that was free a moment ago and is now closed."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def self_signed_cert(directory: Path) -> SelfSignedCert:
    """Create a fresh self-signed certificate for 127.0.0.1/localhost with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to create a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return SelfSignedCert(cert=cert, key=key)


@dataclass(frozen=True)
class CaSignedCert:
    """A CA made for one test (`ca`, PEM) and a server certificate it signed (`server`)."""

    ca: Path
    server: SelfSignedCert


def ca_signed_cert(directory: Path) -> CaSignedCert:
    """A fresh CA and a certificate it signed for 127.0.0.1/localhost (the cryptography package).

    Unlike a self-signed certificate, this is the shape of a real private PKI: the client trusts
    the CA (by --ca-bundle or SSL_CERT_FILE), never the server's certificate itself.
    """
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "vss-emitter test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    ca_path, cert_path, key_path = (
        directory / "ca.pem",
        directory / "server.pem",
        directory / "server.key",
    )
    ca_path.write_bytes(ca_cert.public_bytes(pem))
    cert_path.write_bytes(cert.public_bytes(pem))
    key_path.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return CaSignedCert(ca=ca_path, server=SelfSignedCert(cert=cert_path, key=key_path))


def _close_quietly(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.close()
