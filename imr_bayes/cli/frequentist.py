"""``imr-bayes frequentist``: reproduce every published frequentist analysis, as CSV tables."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from imr_bayes.cli.data_options import add_data_arguments, load_data
from imr_bayes.cli.options import add_outcomes_argument, outcome_codes


def register(subparsers: Any) -> None:
    """Add the ``frequentist`` subcommand."""
    parser = subparsers.add_parser(
        "frequentist", allow_abbrev=False,
        help="reproduce the paper's frequentist analyses (mixed models, fidelity, "
             "hospitalization, non-completion) as tidy CSV tables",
        description=(
            "Run the paper's analyses on participant data (default: the synthetic twin): "
            "stepwise-AIC linear mixed models with model-based SEs and Satterthwaite df "
            "(Tables 2/6), marginal means with Cohen's d (Tables 3/7), Benjamini-Hochberg "
            "across the 11 secondary outcomes, the fidelity models (Tables 4/5) with their "
            "omnibus F tests, the hospitalization odds ratio and length-of-stay Mann-Whitney "
            "test, and the selective non-completion test; each beside the published numbers. "
            "Writes aggregates only (no participant rows) into a folder, atomically."
        ),
    )
    parser.add_argument("--sample", choices=("itt", "completers"), default="itt",
                        help="intention to treat (Tables 2, 3; default) or completers "
                             "(Tables 6, 7)")
    parser.add_argument("--selection", choices=("stepwise", "published"), default="stepwise",
                        help="final models chosen by the AIC search on these data (default) "
                             "or the ones the paper printed")
    add_outcomes_argument(parser, default="all 12")
    parser.add_argument("--out", type=Path, default=Path("reports") / "frequentist",
                        metavar="DIR",
                        help="folder to (re)create with the CSV files "
                             "(default: reports/frequentist)")
    add_data_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the analyses, write the CSV tables into ``args.out``, print a summary."""
    from imr_bayes import frequentist as F
    from imr_bayes.atomic import atomic_dir
    from imr_bayes.data import required_columns
    from imr_bayes.outcomes import CODES
    from imr_bayes.trial import fidelity_outcomes

    outcomes = outcome_codes(args, default=CODES)
    analyses = [args.sample, "hospitalization", "los", "noncompletion"]
    if set(fidelity_outcomes()) & set(outcomes):
        analyses.append("fidelity")
    data = load_data(args, required=required_columns(analyses, outcomes))
    source = str(args.data) if args.data is not None else "default synthetic twin"
    rep = F.replicate(data, sample=args.sample, selection=args.selection, outcomes=outcomes)
    s = args.sample
    frames = {
        f"fixed_effects_{s}": rep.fixed_effects,
        f"marginal_means_{s}": rep.marginal_means,
        f"stepwise_{s}": rep.steps,
        f"multiplicity_{s}": rep.multiplicity,
        f"effects_{s}": rep.effects,
        f"versus_published_{s}": F.versus_published(rep),
    }
    hosp = F.hospitalization(data)
    frames["hospitalization_odds_ratio"] = hosp.odds_ratio
    frames["length_of_stay"] = hosp.length_of_stay
    frames["versus_published_hospitalization"] = F.versus_published(hosp)
    nonc = F.noncompletion(data)
    frames["noncompletion_omnibus"] = nonc.omnibus
    frames["noncompletion_coefficients"] = nonc.coefficients
    frames["versus_published_noncompletion"] = F.versus_published(nonc)
    for outcome in [o for o in fidelity_outcomes() if o in outcomes]:
        fid = F.fidelity_analysis(data, outcome=outcome)
        frames[f"fidelity_{outcome}"] = fid.coefficients
        frames[f"fidelity_omnibus_{outcome}"] = fid.omnibus
        frames[f"versus_published_fidelity_{outcome}"] = F.versus_published(fid)
    with atomic_dir(args.out) as tmp:
        for name, frame in frames.items():
            frame.to_csv(tmp / f"{name}.csv", index=False)
    fe = rep.fixed_effects
    cxt = fe[(fe["term"] == "condition_x_time") & fe["in_final_model"]]
    sig = ", ".join(cxt.loc[cxt["p"] < 0.05, "outcome"]) or "none"
    problems = rep.problems
    print(f"frequentist replication ({s}, {args.selection} models) of {source} "
          f"(sha256 {rep.data_hash[:12]}): {rep.n_participants} participants, "
          f"{len(frames)} tables in {args.out}")
    print(f"  condition x time in the final model for {len(cxt)} of "
          f"{fe['outcome'].nunique()} outcomes; p < 0.05: {sig}")
    if not problems.empty:
        print(f"  {problems['outcome'].nunique()} outcome(s) with fit problems: "
              + ", ".join(sorted(set(problems["outcome"] + " (" + problems["status"] + ")"))))
    return 0
