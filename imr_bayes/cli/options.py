"""Options several subcommands share, with one meaning each: ``--outcomes`` and ``--quick``.

* ``--outcomes CODE [CODE ...]`` selects outcomes wherever outcomes are selected (``all``
  stands for the 12). ``fit`` and ``calibrate`` also accept their old repeatable
  ``--outcome`` for one release, with a deprecation message on stderr.
* ``--quick`` is the run's :data:`imr_bayes.reanalysis.QUICK_SAMPLING` (2 chains x 200 draws
  after 200 tuning steps) on every subcommand whose Bayesian fits it sets; ``--draws``,
  ``--tune`` and ``--chains`` override it.

The participant-data options are in :mod:`imr_bayes.cli.data_options`.
"""

from __future__ import annotations

import argparse
import sys

from imr_bayes.reanalysis import QUICK_SAMPLING


def quick_text() -> str:
    """Describe :data:`QUICK_SAMPLING` in words, e.g. ``2 chains x 200 draws after 200 ...``."""
    q = QUICK_SAMPLING
    return f"{q['chains']} chains x {q['draws']} draws after {q['tune']} tuning steps"


def add_quick_argument(parser: argparse.ArgumentParser, *, where: str = "") -> None:
    """Add ``--quick`` (the run's quick sampler settings) to a subcommand that samples.

    ``where`` qualifies which fits it applies to, e.g. ``"with --pooling"``.
    """
    parser.add_argument(
        "--quick", action="store_true",
        help=f"{quick_text()} per Bayesian fit{' ' + where if where else ''}, as every "
             "imr-bayes command's --quick: a smoke run, not for inference")


def add_sampler_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--draws``, ``--tune``, ``--chains`` and ``--quick``."""
    parser.add_argument("--draws", type=int, metavar="N",
                        help="posterior draws per chain (default 1000)")
    parser.add_argument("--tune", type=int, metavar="N",
                        help="tuning steps per chain (default 1000)")
    parser.add_argument("--chains", type=int, metavar="N", help="chains (default 4)")
    add_quick_argument(parser, where="(--draws, --tune, --chains override it)")


def sampler_settings(args: argparse.Namespace) -> dict[str, int]:
    """Return the ``draws``/``tune``/``chains`` to pass to :func:`imr_bayes.fit`.

    :data:`QUICK_SAMPLING` with ``--quick``, then whichever of ``--draws``, ``--tune`` and
    ``--chains`` were given; empty means the spec's own settings.
    """
    out = dict(QUICK_SAMPLING) if args.quick else {}
    out.update({k: getattr(args, k) for k in ("draws", "tune", "chains")
                if getattr(args, k) is not None})
    return out


def add_outcomes_argument(parser: argparse.ArgumentParser, *, default: str,
                          legacy: bool = False) -> None:
    """Add ``--outcomes CODE [CODE ...]`` (and, with ``legacy``, the deprecated ``--outcome``).

    Parameters
    ----------
    parser : argparse.ArgumentParser
    default : str
        What no ``--outcomes`` means, for the help text (e.g. ``"all 12"``).
    legacy : bool
        Also accept the repeatable ``--outcome CODE`` of earlier releases (not together
        with ``--outcomes``); :func:`outcome_codes` warns on stderr when it is used.
    """
    group = parser.add_mutually_exclusive_group() if legacy else parser
    group.add_argument("--outcomes", nargs="+", metavar="CODE",
                       help=f"outcome codes, or 'all' (default: {default}); see "
                            "imr_bayes.outcomes.CODES")
    if legacy:
        group.add_argument("--outcome", action="append", dest="legacy_outcome",
                           metavar="CODE",
                           help="deprecated, removed in the next release: use --outcomes")


def outcome_codes(args: argparse.Namespace, *, default: tuple[str, ...]) -> tuple[str, ...]:
    """Return the selected outcome codes: validated, ``all`` expanded, duplicates dropped.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of a parser set up by :func:`add_outcomes_argument`.
    default : tuple of str
        The codes when none are given.

    Raises
    ------
    ImrBayesError
        An unknown code (the message lists the valid ones with a "did you mean").
    """
    from imr_bayes.outcomes import CODES
    from imr_bayes.outcomes import get as get_outcome

    given = args.outcomes
    legacy = getattr(args, "legacy_outcome", None)
    if legacy:
        print(f"imr-bayes {getattr(args, 'command', '')}: warning: --outcome is deprecated and "
              f"will be removed in the next release; use --outcomes {' '.join(legacy)}",
              file=sys.stderr)
        given = legacy
    if not given:
        return tuple(default)
    if "all" in given:
        return CODES
    for code in given:
        get_outcome(code)
    return tuple(dict.fromkeys(given))
