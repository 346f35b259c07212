"""The kit installed from a real, non-editable `pip install .` works from any directory."""

from __future__ import annotations

import json
import os
import subprocess
import sysconfig
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the kit pip-installed from the repository (not editable).

    Its dependencies come from this test run's own environment through a .pth line, so the
    test needs no network; the kit itself is built and installed for real, and is the only
    `emitter` the fresh venv can import (the test environment's editable hook is a .pth file
    that a plain path entry does not process).
    """
    root = tmp_path_factory.mktemp("pkg")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=True, symlinks=True).create(env_dir)
    py = env_dir / "bin" / "python"
    site = subprocess.run(
        [py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "_outer_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [py, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         str(REPO)],
        check=True,
        capture_output=True,
        cwd=root,
    )
    return env_dir


def run(
    env_dir: Path, *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(
        [env_dir / "bin" / "vss-emitter", *args],
        input=stdin,
        capture_output=True,
        cwd=env_dir.parent,  # anywhere but the checkout
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_installed_kit_imports_from_site_packages_not_the_checkout(installed: Path) -> None:
    out = subprocess.run(
        [installed / "bin" / "python", "-c", "import emitter; print(emitter.__file__)"],
        capture_output=True,
        text=True,
        cwd=installed.parent,
        check=True,
    ).stdout
    assert str(installed) in out
    assert str(REPO) not in out


@pytest.mark.slow
def test_installed_kit_lists_scenarios_and_prints_schema(installed: Path) -> None:
    listed = run(installed, "scenarios", "--json")
    assert listed.returncode == 0, listed.stderr
    names = {s["name"] for s in json.loads(listed.stdout)}
    assert "mixed" in names
    schema = run(installed, "schema")
    assert schema.returncode == 0, schema.stderr
    assert json.loads(schema.stdout)["$schema"].endswith("2020-12/schema")


@pytest.mark.slow
def test_installed_kit_generates_what_it_validates_and_repeats_bytes(installed: Path) -> None:
    first = run(installed, "generate", "--all", "-n", "30", "--seed", "7")
    assert first.returncode == 0, first.stderr
    again = run(installed, "generate", "--all", "-n", "30", "--seed", "7")
    assert first.stdout == again.stdout
    checked = run(installed, "validate", "-", stdin=first.stdout)
    assert checked.returncode == 0, checked.stdout.decode()[:2000]


@pytest.mark.slow
def test_installed_kit_carries_schemas_and_scenarios_inside_the_package(installed: Path) -> None:
    data = next(installed.glob("lib/python*/site-packages/emitter/_data"))
    assert (data / "schemas" / "vss.schema.json").is_file()
    assert (data / "schemas" / "scenario.schema.json").is_file()
    assert (data / "scenarios" / "mixed.yaml").is_file()
