"""``imr-bayes calibrate``: the synthetic twin's calibration report against the paper."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from imr_bayes.cli.options import add_outcomes_argument, outcome_codes
from imr_bayes.constants import DEFAULT_SEED
from imr_bayes.outcomes import CODES


def register(subparsers: Any) -> None:
    """Add the ``calibrate`` subcommand."""
    parser = subparsers.add_parser(
        "calibrate", allow_abbrev=False,
        help="compare random synthetic twins with the published Tables 2, 3, 6 and 7",
        description=(
            "Simulate R random twins, fit the paper's linear mixed model to each (random "
            "participant intercept, linear time, condition x time, REML, model-based SEs) "
            "in the ITT and completer samples, and write per-outcome mean estimates and "
            "SEs of condition x time against the published B and CI, and cell Ns and means "
            "against Tables 3 and 7 (coefficients.csv, cells.csv, variance.csv, fidelity.csv)."
        ),
    )
    parser.add_argument("--replicates", "-R", type=int, default=50,
                        help="number of random twins (default 50)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"master seed (default {DEFAULT_SEED})")
    add_outcomes_argument(parser, default="all 12", legacy=True)
    parser.add_argument("--out", "-o", type=Path, default=Path("reports") / "calibration",
                        help="output folder, replaced atomically (default reports/calibration)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the calibration, write its tables, print the SE summary."""
    from imr_bayes.calibration import calibrate

    report = calibrate(args.replicates, args.seed,
                       outcomes=list(outcome_codes(args, default=CODES)))
    folder = report.save(args.out)
    coef = report.coefficients.dropna(subset=["b_published"])
    for row in coef.itertuples():
        print(f"{row.outcome:15s} {row.sample:10s} B {row.b_published:8.3f} "
              f"twin {row.mean_estimate:8.3f}  SE ratio {row.se_ratio:5.2f}  "
              f"exact twin in CI: {bool(row.exact_in_ci)}")
    print(f"wrote {folder}/coefficients.csv, cells.csv, variance.csv, fidelity.csv "
          f"({report.replicates} twins)")
    return 0
