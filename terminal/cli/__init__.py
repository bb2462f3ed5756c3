"""``pos``: the terminal's command line.

Each sub-command lives in its own module under ``terminal.cli`` and registers itself
through a ``register(subparsers)`` function listed in :data:`COMMAND_MODULES`.

Contract: exit 0 approved/success, 1 declined/aborted/failed, 2 usage or config error.
A user never sees a Python traceback: every error becomes one sentence on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from emv.errors import EmvError
from terminal.errors import UsageError, UserFacingError

# Append new sub-command modules here (one line each).
COMMAND_MODULES: list[str] = [
    "terminal.cli.pay",
    "terminal.cli.sim",
    "terminal.cli.sim_devices",
    "terminal.cli.readers",
    "terminal.cli.doctor",
    "terminal.cli.decode",
    "terminal.cli.bench",
    "terminal.cli.journal",
    "terminal.cli.card",
    "terminal.cli.run",
    "terminal.cli.keys",
    "terminal.cli.receipt",
    "terminal.cli.qr",
    "terminal.cli.wallet",
    "terminal.cli.refund",
    "terminal.cli.void",
    "terminal.cli.preauth",
    "terminal.cli.settle",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one sentence and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message}. Run '{self.prog} --help' for the options.")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="pos", description="EMV payment terminal")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        code: int = args.handler(args)
        return code
    except UsageError as exc:
        print(f"pos: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except UserFacingError as exc:
        print(f"pos: {exc}", file=sys.stderr)
        return exc.exit_code
    except EmvError as exc:  # reader and card problems outside a transaction
        print(f"pos: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("pos: interrupted by the user.", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - last line of defence: never show a traceback
        print(
            f"pos: internal error ({type(exc).__name__}); the journal keeps the transaction "
            "state - run 'pos recover', then report this to support.",
            file=sys.stderr,
        )
        return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
