"""The ``imr-bayes`` command line: a thin layer over the public API.

Each subcommand lives in its own module of this package and exposes
``register(subparsers)``; the module adds its parser and sets ``func`` to a function
``run(args) -> int``. Errors the package raises on purpose become one-line messages
with a non-zero exit code, never tracebacks (``--debug`` shows them).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from imr_bayes import __version__
from imr_bayes.errors import ImrBayesError

#: Subcommand modules, in the order ``--help`` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "reanalyze",
    "audit",
    "published",
    "study",
    "summary-reanalysis",
    "simulate",
    "calibrate",
    "frequentist",
    "fit",
    "compare",
    "sensitivity",
)


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with every subcommand registered.

    Every parser is built with ``allow_abbrev=False``: an option is only ever read under its
    full name (``compare --outcome`` is an error, not ``--outcomes``).
    """
    parser = argparse.ArgumentParser(
        prog="imr-bayes", allow_abbrev=False,
        description=(
            "Hierarchical Bayesian reanalysis of the Illness Management and Recovery (IMR) "
            "randomized trial: published-number audit, synthetic twin, frequentist "
            "replication, Bayesian counterparts and reports."
        ),
    )
    parser.add_argument("--version", action="version", version=f"imr_bayes {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show full tracebacks instead of one-line errors"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in SUBCOMMANDS:
        importlib.import_module(f"imr_bayes.cli.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("imr-bayes: interrupted", file=sys.stderr)
        return 130
    except (ImrBayesError, ValueError, OSError) as exc:
        if args.debug:
            raise
        first, *rest = str(exc).splitlines() or [type(exc).__name__]
        print(f"imr-bayes {args.command}: error: {first}", file=sys.stderr)
        for line in rest:
            print(f"  {line}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - last resort: one line, never a traceback
        if args.debug:
            raise
        print(
            f"imr-bayes {args.command}: unexpected error: {type(exc).__name__}: {exc} "
            "(rerun with --debug for the traceback)",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
