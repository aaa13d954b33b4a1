"""``imr-bayes reanalyze``: the main run, writing ``reports/<run-id>/``.

Progress bars (tqdm, on stderr) live here: the pipeline reports progress through a callback
and never prints.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from imr_bayes.cli.data_options import add_data_arguments, import_spec_of
from imr_bayes.cli.options import add_outcomes_argument, add_sampler_arguments, outcome_codes
from imr_bayes.constants import DEFAULT_SEED
from imr_bayes.outcomes import CODES


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``reanalyze`` subcommand."""
    parser = subparsers.add_parser(
        "reanalyze", allow_abbrev=False,
        help="run every available analysis and write the HTML report to reports/<run-id>/",
        description=(
            "Run every available analysis (published-number audit, summary-level reanalysis, "
            "frequentist replication, Bayesian fits with diagnostics, posterior predictive "
            "checks, comparison) on the default synthetic twin or on your own participant "
            "data, and write reports/<run-id>/ with index.html, CSV tables, netCDF "
            "posteriors and summary.json."
        ),
    )
    parser.add_argument("--study-label", metavar="LABEL",
                        help="your study's name in the report's title (needs --data; "
                             "default: the data file's name without extension)")
    parser.add_argument("--out", type=Path, default=Path("reports"), metavar="DIR",
                        help="folder that receives <run-id>/ (default: reports)")
    add_outcomes_argument(parser, default="all 12")
    parser.add_argument("--analyses", nargs="+", metavar="ANALYSIS",
                        help="Bayesian analyses to fit (default: every registered analysis)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"seed of every fit (default {DEFAULT_SEED})")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 if any section failed or needs attention")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    add_sampler_arguments(parser)
    add_data_arguments(parser)
    parser.set_defaults(func=run)


class _Bars:
    """Turn pipeline progress events into two tqdm bars on stderr (overall and models)."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.bars: dict[str, object] = {}

    def __call__(self, event) -> None:
        if not self.enabled:
            return
        from tqdm.auto import tqdm

        position = 0 if event.scope == "overall" else 1
        if event.kind == "plan":
            desc = "reanalysis" if event.scope == "overall" else "models"
            self.bars[event.scope] = tqdm(total=event.total, desc=desc, position=position,
                                          leave=event.scope == "overall", file=sys.stderr,
                                          unit="section" if position == 0 else "fit")
        bar = self.bars.get(event.scope)
        if bar is None:
            return
        if event.kind == "start":
            bar.set_postfix_str(event.label, refresh=True)
        elif event.kind == "advance":
            bar.update(1)
        elif event.kind == "finish":
            bar.close()
            del self.bars[event.scope]

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def run(args: argparse.Namespace) -> int:
    """Run the pipeline, write the report, print where it is; return the exit code."""
    from imr_bayes import reanalysis
    from imr_bayes.report import write_report

    settings = reanalysis.RunSettings(
        data_path=args.data,
        column_map=import_spec_of(args),
        quick=args.quick,
        outcomes=outcome_codes(args, default=CODES),
        analyses=tuple(args.analyses) if args.analyses is not None else None,
        seed=args.seed,
        study_label=args.study_label,
        draws=args.draws, tune=args.tune, chains=args.chains,
    )
    reanalysis.validate_settings(settings)
    bars = _Bars(enabled=not args.no_progress)
    try:
        result = reanalysis.run(settings, progress=bars, raise_errors=args.debug)
    finally:
        bars.close()
    folder = write_report(result, args.out)
    for line in result.problems:
        print(f"imr-bayes reanalyze: warning: {line}", file=sys.stderr)
    unavailable = [key for key, res in result.stages.items() if res.status == "unavailable"]
    if unavailable:
        print("imr-bayes reanalyze: nothing to do for: " + "; ".join(unavailable),
              file=sys.stderr)
    print(folder / "index.html")
    return 1 if args.strict and result.problems else 0
