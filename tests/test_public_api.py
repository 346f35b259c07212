"""The package's public names are explicit, sorted, importable and cheap to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

import emitter


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert emitter.__all__ == sorted(emitter.__all__)
    assert set(emitter.__all__) == {*emitter._EXPORTS, "__version__"}
    for name in emitter.__all__:
        assert getattr(emitter, name) is not None, name


def test_public_names_are_the_ones_defined_where_they_are_documented() -> None:
    from emitter.contract import validate
    from emitter.generator import generate

    assert emitter.validate is validate
    assert emitter.generate is generate


def test_no_public_name_is_also_a_submodule() -> None:
    import pkgutil

    submodules = {m.name for m in pkgutil.iter_modules(emitter.__path__)}
    assert not submodules & set(emitter.__all__)


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no_such_name"):
        emitter.no_such_name  # noqa: B018


def test_importing_the_package_pulls_in_no_heavy_dependency() -> None:
    code = (
        "import sys, emitter, emitter.pytest_plugin; "
        "print(','.join(m for m in ('httpx', 'jsonschema', 'aiohttp', 'yaml', 'phonenumbers') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
