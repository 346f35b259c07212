"""One TLS trust rule for every command (emitter._tls), end to end.

A real HTTPS receiver on 127.0.0.1 whose certificate is signed by a CA made in the test: every
command (send, check, replay, Locust, the pytest plugin) trusts it through --ca-bundle and
through SSL_CERT_FILE, refuses it without either, and gives the same one-line error for a CA
bundle it cannot use.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import servers
from click.testing import CliRunner

import emitter.generator
import emitter.report
import emitter.scenarios
from emitter.cli import cli
from emitter.errors import DeliveryConfigError

# Loaded before pytester's in-process runs import the plugin's lazy modules (test_pytest_plugin).
KEEP_LOADED = (emitter.generator, emitter.report, emitter.scenarios)

VSS = str(Path(sys.executable).with_name("vss-emitter"))
DRIVER = Path(__file__).with_name("locust_driver.py")
# The inner pytest runs load only what they need (Locust's own pytest plugin would patch gevent).
INNER_PLUGINS_OFF = tuple(f"-pno:{p}" for p in ("locust", "faker", "anyio", "hypothesispytest"))
BODY = b'{"namespace":"VOICE","eventType":"SESSION_SUMMARY","payload":{"sessionId":"tls-1"}}'
COMMANDS = ["send", "check", "replay", "locust", "pytest"]
MODES = ["ca-bundle", "SSL_CERT_FILE", "untrusted"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> servers.CaSignedCert:
    return servers.ca_signed_cert(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def receiver(pki: servers.CaSignedCert) -> Iterator[str]:
    with servers.tls(pki.server) as server:
        yield server.url


@pytest.fixture
def fixture(tmp_path: Path) -> Path:
    path = tmp_path / "one.ndjson"
    path.write_bytes(BODY + b"\n")
    return path


@pytest.fixture(autouse=True)
def _no_inherited_trust(monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine's own settings must not decide these tests.
    for name in ("SSL_CERT_FILE", "SSL_CERT_DIR", "VSS_AUTH_HEADER"):
        monkeypatch.delenv(name, raising=False)


def _cli(
    command: str, url: str, fixture: Path, extra: list[str], env: dict[str, str]
) -> tuple[int, str]:
    args = {
        "send": ["send", url, "-f", str(fixture), "--timeout", "5"],
        "check": ["check", url, "-k", "docs/example-success", "--timeout", "5", "--seed", "1"],
        "replay": ["replay", url, str(fixture), "--rate", "max", "--timeout", "5"],
    }[command]
    result = CliRunner().invoke(cli, [*args, *extra], env=env)
    return result.exit_code, result.output  # stdout and stderr, as a terminal shows them


def _locust_request(url: str, extra: list[str], env: dict[str, str]) -> tuple[int, str]:
    """One POST through the Locust user's request path (tests/locust_driver.py, its own process):
    exit 0 when acked, 1 when not, like `vss-emitter locust`, at a fraction of a real run's time."""
    options = [a.replace("--ca-bundle", "--vss-ca-bundle") for a in extra]
    done = subprocess.run(
        [sys.executable, str(DRIVER), "5", *options, url],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.splitlines()[-1])
    return (0 if answer["outcome"] == "acked" else 1), f"{answer['outcome']}: {answer['reason']}"


def _locust(url: str, fixture: Path, extra: list[str], env: dict[str, str]) -> tuple[int, str]:
    """A real `vss-emitter locust --headless` run (the option checks happen before any user)."""
    args = [
        VSS, "locust", "--headless", "-u", "1", "-r", "1", "-t", "4s", "--only-summary",
        "--host", url, "--vss-file", str(fixture), "--vss-file-once", "--vss-timeout", "5",
        *[a.replace("--ca-bundle", "--vss-ca-bundle") for a in extra],
    ]  # fmt: skip
    done = subprocess.run(
        args, capture_output=True, text=True, timeout=60, env={**os.environ, **env}, check=False
    )
    return done.returncode, done.stdout + done.stderr


def _pytest(
    pytester: pytest.Pytester, url: str, extra: list[str], env: dict[str, str]
) -> tuple[int, str]:
    for name, value in env.items():
        pytester._monkeypatch.setenv(name, value)
    result = pytester.runpytest(
        "--vss-target", url, "-k", "example-success", "-p", "no:cacheprovider", "-W", "default",
        "--vss-timeout", "5", *[a.replace("--ca-bundle", "--vss-ca-bundle") for a in extra],
        *INNER_PLUGINS_OFF,
    )  # fmt: skip
    return int(result.ret), "\n".join(result.outlines + result.errlines)


def _run(
    command: str,
    url: str,
    fixture: Path,
    extra: list[str],
    env: dict[str, str],
    pytester: pytest.Pytester,
    *,
    real_locust: bool = False,
) -> tuple[int, str]:
    if command == "locust":
        if importlib.util.find_spec("locust") is None:
            pytest.skip("needs the locust extra: pip install 'vss-emitter[locust]'")
        if real_locust:
            return _locust(url, fixture, extra, env)
        return _locust_request(url, extra, env)
    if command == "pytest":
        return _pytest(pytester, url, extra, env)
    return _cli(command, url, fixture, extra, env)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_trusts_the_receiver_exactly_when_its_ca_is_trusted(
    command: str,
    mode: str,
    pki: servers.CaSignedCert,
    receiver: str,
    fixture: Path,
    pytester: pytest.Pytester,
) -> None:
    extra = ["--ca-bundle", str(pki.ca)] if mode == "ca-bundle" else []
    env = {"SSL_CERT_FILE": str(pki.ca)} if mode == "SSL_CERT_FILE" else {}
    code, output = _run(command, receiver, fixture, extra, env, pytester)
    if mode == "untrusted":
        assert code == 1, output
        if command == "replay":
            assert "outcomes: tls 1" in output, output  # its summary counts, the log explains
        else:
            assert "TLS failed: certificate verify failed" in output, output
    else:
        assert code == 0, output
    assert "Traceback" not in output


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unusable_ca_bundle_is_the_same_one_line_error_in_every_command(
    command: str, receiver: str, fixture: Path, tmp_path: Path, pytester: pytest.Pytester
) -> None:
    missing = tmp_path / "missing-ca.pem"
    code, output = _run(
        command, receiver, fixture, ["--ca-bundle", str(missing)], {}, pytester, real_locust=True
    )
    message = (
        f"cannot use CA bundle {str(missing)!r}: no such file or directory; expected a PEM file "
        "of CA certificates, e.g. --ca-bundle ./receiver-ca.pem"
    )
    lines = [line for line in output.splitlines() if message in line]
    assert len(lines) == 1, output
    prefix = {"pytest": "ERROR: --vss-ca-bundle: "}.get(command, "Error: ")
    assert lines[0] == prefix + message
    assert code == (4 if command == "pytest" else 2), output  # pytest's own usage-error code
    assert "Traceback" not in output


@pytest.mark.parametrize("variable", ["SSL_CERT_FILE", "SSL_CERT_DIR"])
@pytest.mark.parametrize("command", COMMANDS)
def test_an_unusable_trust_variable_is_the_same_one_line_error_in_every_command(
    command: str,
    variable: str,
    receiver: str,
    fixture: Path,
    tmp_path: Path,
    pytester: pytest.Pytester,
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(bytes(range(100)))  # no PEM certificate, and not a directory either
    env = {variable: str(garbage)}
    code, output = _run(command, receiver, fixture, [], env, pytester, real_locust=True)
    why = "it holds no PEM certificate" if variable == "SSL_CERT_FILE" else "it is not a directory"
    message = f"cannot use {variable}={str(garbage)!r}: {why}"
    lines = [line for line in output.splitlines() if message in line]
    assert len(lines) == 1, output
    prefix = {"pytest": "ERROR: "}.get(command, "Error: ")
    assert lines[0].startswith(prefix + message)
    assert code == (4 if command == "pytest" else 2), output
    assert "Traceback" not in output


def test_a_file_that_holds_no_certificate_is_refused_before_anything_is_sent(
    tmp_path: Path, receiver: str, fixture: Path
) -> None:
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("not a certificate\n")
    code, output = _cli("send", receiver, fixture, ["--ca-bundle", str(not_pem)], {})
    assert code == 2
    assert f"Error: cannot use CA bundle {str(not_pem)!r}: it holds no PEM certificate" in output


@pytest.mark.parametrize("command", ["send", "replay", "locust", "pytest"])
def test_insecure_skips_verification_in_every_command(
    command: str, receiver: str, fixture: Path, pytester: pytest.Pytester
) -> None:
    flag = "--insecure" if command in ("send", "replay") else "--vss-insecure"
    code, output = _run(command, receiver, fixture, [flag], {}, pytester)
    assert code == 0, output


@pytest.mark.parametrize("verify", [True, False])
@pytest.mark.parametrize(
    ("bundle", "variables"),
    [
        ("none", {}),
        ("missing", {}),
        ("garbage", {}),
        ("ca", {}),
        ("none", {"SSL_CERT_FILE": "garbage"}),
        ("none", {"SSL_CERT_FILE": "ca"}),
        ("none", {"SSL_CERT_DIR": "garbage"}),
        ("ca", {"SSL_CERT_FILE": "garbage"}),
    ],
)
def test_checking_the_trust_settings_refuses_exactly_what_building_the_context_refuses(
    bundle: str,
    variables: dict[str, str],
    verify: bool,
    pki: servers.CaSignedCert,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # An http:// replay and the CLI's early check do not load the system's roots; they must
    # still refuse every setting the context itself refuses, with the same error.
    from emitter._tls import check_tls_config, tls_context

    garbage = tmp_path / "garbage.pem"
    garbage.write_bytes(bytes(range(100)))
    paths = {"missing": str(tmp_path / "missing.pem"), "garbage": str(garbage), "ca": str(pki.ca)}
    for name, value in variables.items():
        monkeypatch.setenv(name, paths[value])
    ca_bundle = paths.get(bundle)

    def outcome(call: Any) -> str:
        try:
            call(verify=verify, ca_bundle=ca_bundle)
        except DeliveryConfigError as exc:
            return str(exc)
        return "usable"

    assert outcome(check_tls_config) == outcome(tls_context)


def test_an_http_replay_refuses_an_unusable_bundle_before_anything_is_sent(
    tmp_path: Path, fixture: Path
) -> None:
    from emitter.deliver import DeliveryConfig
    from emitter.replay import ReplaySettings, replay

    with servers.answering() as server, pytest.raises(DeliveryConfigError, match="cannot use CA"):
        replay(
            url=server.url,
            settings=ReplaySettings(rate=None, limit=1),
            config=DeliveryConfig(ca_bundle=str(tmp_path / "missing.pem")),
            files=[fixture],
        )
    assert server.requests == []


def test_a_usable_bundle_is_loaded_once_while_unchanged_and_checked_again_once_changed(
    pki: servers.CaSignedCert, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI checks the settings, then the run does: ~20 ms each for a system-sized bundle.
    from emitter import _tls

    loads: list[str] = []
    real_load = _tls._load

    def load(path: str, *, label: str | None = None) -> Any:
        loads.append(path)
        return real_load(path, label=label)

    monkeypatch.setattr(_tls, "_load", load)
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(pki.ca.read_bytes())
    _tls.check_tls_config(ca_bundle=str(bundle))
    _tls.check_tls_config(ca_bundle=str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    _tls.check_tls_config()
    assert loads == [str(bundle)]
    # Rewritten with garbage of the same size and its old modification time put back: the
    # change time still tells.
    before = bundle.stat()
    bundle.write_bytes(b"x" * before.st_size)
    os.utime(bundle, ns=(before.st_atime_ns, before.st_mtime_ns))
    with pytest.raises(DeliveryConfigError, match="it holds no PEM certificate"):
        _tls.check_tls_config(ca_bundle=str(bundle))
    assert loads == [str(bundle)] * 2
