"""``imr-bayes study NAME``: run a simulation study on dask.distributed, then summarize it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from imr_bayes.cli.options import quick_text
from imr_bayes.constants import DEFAULT_SEED
from imr_bayes.studies.runner import CONNECT_TIMEOUT, STUDIES


def register(subparsers: Any) -> None:
    """Add the ``study`` subcommand."""
    parser = subparsers.add_parser(
        "study", allow_abbrev=False,
        help="run a simulation study (coverage, nesting, assurance) on Dask",
        description=(
            "Run R independent replicates of a simulation study as Dask tasks, storing one "
            "Parquet file per replicate in --out; rerunning with the same --out resumes and "
            "skips finished replicates. Writes summary.csv and NAME.png in --out at the end."
        ),
    )
    parser.add_argument("name", metavar="NAME", choices=tuple(STUDIES),
                        help=f"the study: {', '.join(STUDIES)}")
    parser.add_argument("--replicates", "-R", type=int, required=True,
                        help="number of replicates (indices 0..R-1)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--workers", "-w", type=int, default=None,
                       help="workers of a local cluster started for this run (default: CPUs)")
    where.add_argument("--scheduler", default=None, metavar="tcp://HOST:PORT",
                       help="address of a running Dask scheduler to use instead")
    parser.add_argument("--out", "-o", type=Path, required=True,
                        help="store folder (created; reused to resume)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"root seed of the study (default {DEFAULT_SEED})")
    smoke = parser.add_mutually_exclusive_group()
    smoke.add_argument("--smoke", action="store_true",
                       help="the study's smoke settings: tiny fits (e.g. 1 chain x 60 draws), "
                            "small grids, for checking a set-up, not for conclusions")
    smoke.add_argument("--quick", action="store_true",
                       help="deprecated, removed in the next release: use --smoke (elsewhere "
                            f"--quick means {quick_text()})")
    parser.add_argument("--timeout", type=float, default=CONNECT_TIMEOUT,
                        help=f"seconds to wait for --scheduler (default {CONNECT_TIMEOUT:g})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the study, write its summary table and figure, print where they are."""
    from tqdm import tqdm

    from imr_bayes.studies.figures import write_outputs
    from imr_bayes.studies.runner import run_study
    from imr_bayes.studies.store import MANIFEST, Store

    if args.quick:
        print("imr-bayes study: warning: --quick is deprecated here and will be removed in "
              "the next release; use --smoke (the study's tiny fits; elsewhere --quick means "
              f"{quick_text()})", file=sys.stderr)
    stored = 0
    if (args.out / MANIFEST).exists():
        stored = sum(1 for i in Store.load(args.out).finished() if i < args.replicates)
    bar = None if args.no_progress else tqdm(
        total=args.replicates, initial=stored, desc=f"study {args.name}", unit="rep",
        file=sys.stderr,
    )

    def advance(index: int, done: int, total: int) -> None:
        if bar is not None:
            bar.n = done
            bar.refresh()

    try:
        result = run_study(
            args.name, replicates=args.replicates, out=args.out, seed=args.seed,
            quick=args.smoke or args.quick, workers=args.workers, scheduler=args.scheduler,
            connect_timeout=args.timeout, on_result=advance,
        )
    finally:
        if bar is not None:
            bar.close()
    summary_path, figure_path = write_outputs(args.name, args.out)
    rate = "" if not result.computed else f" ({result.per_minute:.1f} replicates/min)"
    print(
        f"study {result.study}: {len(result.computed)} replicates computed, "
        f"{len(result.skipped)} already stored, on {result.workers} worker(s){rate}"
    )
    print(f"summary: {summary_path}")
    print(f"figure:  {figure_path}")
    return 0
