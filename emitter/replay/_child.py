"""Entry point of replay's helper processes: `python -m emitter.replay._child feed|census ...`.

A module of its own, imported by nothing, so running it with -m does not re-import a module the
package already loaded (runpy warns about that, on the user's terminal).
"""

from __future__ import annotations

import sys


def main(argv: list[str]) -> None:
    if argv[:1] == ["feed"]:
        from emitter.replay._feed import main as feed

        feed(argv[1:])
    elif argv[:1] == ["census"]:
        from emitter.replay._census import main as census

        census()
    else:
        raise SystemExit(f"usage: python -m emitter.replay._child feed|census, not {argv!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
