"""``pos``: the terminal's command line.

Each sub-command lives in its own module under ``terminal.cli`` and registers itself
through a ``register(subparsers)`` function listed in :data:`COMMAND_MODULES`.

Contract: exit 0 approved/success, 1 declined/aborted/failed, 2 usage or config error.
A user never sees a Python traceback: every error becomes one sentence on stderr.
"""

from __future__ import annotations

import argparse
import importlib
import sqlite3
import sys
from collections.abc import Sequence
from typing import Any

from emv.errors import EmvError
from terminal.errors import UsageError, UserFacingError, is_damaged_database

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


# Options whose empty value would otherwise quietly mean "the default" (--currency "" paid in
# EUR, --host "" used the configured host): an empty value is a usage error instead.
NON_EMPTY_OPTIONS = frozenset(
    {"--currency", "--card", "--card-trace", "--reader", "--host", "--config", "--qr-host"}
)


def _non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a value or leave the option out")
    return text


class _Parser(argparse.ArgumentParser):
    """argparse that reports usage errors as one sentence and exit code 2."""

    def add_argument(self, *names: Any, **options: Any) -> argparse.Action:
        if NON_EMPTY_OPTIONS.intersection(names) and "type" not in options:
            options["type"] = _non_empty
        return super().add_argument(*names, **options)

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message}. Run '{self.prog} --help' for the options.")


# Which modules a command needs, so `pos run` starts without importing every command's
# dependencies.  `tests/test_terminal_cli_index.py` checks it against the full registration.
_SIM = [
    "terminal.cli.sim",
    "terminal.cli.sim_devices",
    "terminal.cli.receipt",
    "terminal.cli.wallet",
]
COMMAND_INDEX: dict[str, list[str]] = {
    "pay": ["terminal.cli.pay"],
    "sim": _SIM,
    "readers": ["terminal.cli.readers"],
    "doctor": ["terminal.cli.doctor"],
    "decode": ["terminal.cli.decode"],
    "bench": ["terminal.cli.bench"],
    "journal": ["terminal.cli.journal"],
    "recover": ["terminal.cli.journal"],
    "card": ["terminal.cli.card"],
    "run": ["terminal.cli.run"],
    "keys": ["terminal.cli.keys"],
    "receipt": _SIM,
    "qr": ["terminal.cli.qr"],
    "refund": ["terminal.cli.refund"],
    "void": ["terminal.cli.void"],
    "preauth": ["terminal.cli.preauth"],
    "complete": ["terminal.cli.preauth"],
    "settle": ["terminal.cli.settle"],
}


def _modules_for(argv: Sequence[str] | None) -> list[str]:
    words = list(sys.argv[1:] if argv is None else argv)
    command = next((w for w in words if not w.startswith("-")), None)
    if command in COMMAND_INDEX and "-h" not in words[:1] and "--help" not in words[:1]:
        return COMMAND_INDEX[command]
    return COMMAND_MODULES


def build_parser(
    argv: Sequence[str] | None = None, *, full: bool = True
) -> argparse.ArgumentParser:
    parser = _Parser(prog="pos", description="EMV payment terminal")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES if full else _modules_for(argv):
        importlib.import_module(name).register(sub)
    return parser


def _sentence(exc: BaseException) -> str:
    """The error's sentence with control characters shown as escapes: a message may quote
    what the user typed (an argument, a file's contents), and an ESC sequence echoed back
    would repaint or hide the cashier's terminal."""
    text = str(exc)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser(argv, full=False)
        args = parser.parse_args(argv)
        code: int = args.handler(args)
        return code
    except UsageError as exc:
        print(f"pos: {_sentence(exc)}", file=sys.stderr)
        return EXIT_USAGE
    except UserFacingError as exc:
        print(f"pos: {_sentence(exc)}", file=sys.stderr)
        return exc.exit_code
    except EmvError as exc:  # reader and card problems outside a transaction
        print(f"pos: {_sentence(exc)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("pos: interrupted by the user.", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:
        return EXIT_FAILED
    except sqlite3.DatabaseError as exc:
        if not is_damaged_database(exc):
            return _internal_error(exc)
        print(
            f"pos: a terminal data file is damaged ({exc}); stop taking payments, keep the "
            "POS_DATA_DIR folder for support and restore the last backup.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    except Exception as exc:  # noqa: BLE001 - last line of defence: never show a traceback
        return _internal_error(exc)


def _internal_error(exc: Exception) -> int:
    print(
        f"pos: internal error ({type(exc).__name__}); the journal keeps the transaction "
        "state - run 'pos recover', then report this to support.",
        file=sys.stderr,
    )
    return EXIT_FAILED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
