"""``imr-bayes audit``: internal-consistency audit of the published tables."""

from __future__ import annotations

import argparse
from pathlib import Path

from imr_bayes.atomic import atomic_path
from imr_bayes.errors import ImrBayesError

_SHOWN = ["severity", "table", "location", "check", "printed", "expected"]


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``audit`` subcommand."""
    parser = subparsers.add_parser(
        "audit", allow_abbrev=False,
        help="check the published tables for internal consistency; write reports/audit.csv",
        description=(
            "Apply general consistency rules (statcheck/GRIM style) to every published "
            "number: estimate at the centre of its CI, p consistent with the CI, mean "
            "difference = IMR - CAU, Cohen's d = difference / SD, Table 1 percentages = n/N, "
            "restated numbers equal, test statistics consistent with their p. Prints a "
            "summary per check and the flagged cells; writes one row per flagged cell to a "
            "CSV. Rules and tolerances: docs/audit.md."
        ),
    )
    parser.add_argument("--out", type=Path, default=Path("reports") / "audit.csv",
                        metavar="PATH",
                        help="CSV file to write, or a folder that receives audit.csv "
                             "(default: reports/audit.csv)")
    parser.add_argument("--severity", choices=["error", "warning"], default="warning",
                        help="lowest severity to print (default: warning = all); the CSV "
                             "always holds every finding")
    parser.add_argument("--strict", action="store_true",
                        help="exit with status 1 when any error-level finding exists")
    parser.set_defaults(func=run)


def _target(out: Path) -> Path:
    if out.suffix.lower() == ".csv":
        return out
    if out.exists() and not out.is_dir():
        raise ImrBayesError(f"--out {out} exists and is neither a folder nor a .csv file")
    return out / "audit.csv"


def run(args: argparse.Namespace) -> int:
    """Run the audit, print it, write the CSV; return the exit code."""
    from imr_bayes.audit import SEVERITIES, audit_published, summary

    findings = audit_published()
    target = _target(args.out)
    with atomic_path(target) as tmp:
        findings.to_csv(tmp, index=False)
    counts = summary(findings)
    n_err = int((findings["severity"] == "error").sum())
    print(f"Audit of the published tables: {len(findings)} flagged cells "
          f"({n_err} errors, {len(findings) - n_err} warnings)\n")
    if not counts.empty:
        print(counts.to_string(index=False))
        keep = SEVERITIES[: SEVERITIES.index(args.severity) + 1]
        shown = findings[findings["severity"].isin(keep)][_SHOWN]
        print()
        print(shown.to_string(index=False, max_colwidth=70))
    print(f"\nwritten: {target}")
    return 1 if args.strict and n_err else 0
