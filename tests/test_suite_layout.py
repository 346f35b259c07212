"""The suite runs the same against a plain install (`pip install '.[test]'` then `pytest`) as
from `make test` (editable): test helpers are imported by their bare names from tests/ (the
`pythonpath` in pyproject.toml), never through a `tests` package, which only an editable install
or the checkout's folder on sys.path makes importable."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parent
_THROUGH_PACKAGE = re.compile(r"^\s*(from\s+tests(\.|\s)|import\s+tests\b)")


def test_no_test_module_imports_helpers_through_a_tests_package() -> None:
    offenders = []
    for path in sorted(TESTS.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "sys.path[" in text:
            continue  # a script run on its own, which puts its folders on sys.path itself
        for number, line in enumerate(text.splitlines(), start=1):
            if _THROUGH_PACKAGE.match(line):
                offenders.append(f"{path.relative_to(TESTS.parent)}:{number}: {line.strip()}")
    assert not offenders, "import helpers by bare name (pythonpath = tests):\n" + "\n".join(
        offenders
    )


def test_the_pytest_configuration_puts_tests_on_the_path() -> None:
    import tomllib

    config = tomllib.loads((TESTS.parent / "pyproject.toml").read_text(encoding="utf-8"))
    assert config["tool"]["pytest"]["ini_options"]["pythonpath"] == ["tests"]
