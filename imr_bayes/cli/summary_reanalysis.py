"""``imr-bayes summary-reanalysis``: every printed estimate under the summary-level prior grid."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from imr_bayes.cli.options import add_quick_argument
from imr_bayes.outcomes import PRIMARY
from imr_bayes.reanalysis import QUICK_SAMPLING


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``summary-reanalysis`` subcommand."""
    parser = subparsers.add_parser(
        "summary-reanalysis", allow_abbrev=False,
        help="reanalyse every printed estimate (Tables 2-7, hospitalization OR) under a prior grid",
        description=(
            "Summary-level Bayesian reanalysis from the published numbers alone: each printed "
            "estimate and 95 % CI is a normal likelihood (log scale for the odds ratio), "
            "combined with the reference, sceptical, neutral, enthusiastic and pessimistic "
            "priors scaled to the planned effect d = 0.40; the hospitalization odds ratio, "
            "which had no planned effect, gets generic priors (sceptical: 95 % on OR 0.5-2); "
            "baseline differences are balance checks without P(benefit); BF10 also under the "
            "test prior N(0, planned effect^2) (docs/summary_level.md). Writes "
            "summary_reanalysis.csv, sensitivity_*.csv and sensitivity_*.png to DIR "
            "(with --pooling also partial_pooling.csv, partial_pooling_hyper.csv and "
            "partial_pooling_*.png)."
        ),
    )
    parser.add_argument("--out", type=Path, default=Path("reports/summary_reanalysis"),
                        metavar="DIR",
                        help="output folder, replaced atomically "
                             "(default: reports/summary_reanalysis)")
    parser.add_argument("--priors", type=Path, metavar="YAML",
                        help="prior grid file (default: models/priors/summary_level.yaml)")
    parser.add_argument("--no-plots", action="store_true", help="skip the heat-map PNGs")
    parser.add_argument("--pooling", action="store_true",
                        help="also fit the partial-pooling multiplicity model to the published "
                             "18-month differences of all 12 outcomes (ITT, completers) and "
                             "compare with Benjamini-Hochberg (docs/multiplicity.md; about a "
                             "minute)")
    parser.add_argument("--pooling-aic-selected", action="store_true",
                        help="with --pooling, also pool the printed condition x time B's, "
                             "which exist only for the outcomes the paper's AIC step kept "
                             "(conditional on that selection: winner's curse)")
    add_quick_argument(parser, where="(the partial-pooling fits of --pooling)")
    parser.set_defaults(func=run)


#: Estimates that get a sensitivity heat map: (file stem, sample, outcome, estimand). A
#: choice of rows, not a trial fact: the primary ITT slope, SERS-SF (the ITT slope whose
#: interval excludes 0 in the paper) and the hospitalization OR.
HEATMAPS: tuple[tuple[str, str, str, str], ...] = (
    (f"{PRIMARY}_itt", "itt", PRIMARY, "condition_x_time"),
    ("sers_sf_itt", "itt", "sers_sf", "condition_x_time"),
    ("hospitalization_or", "itt", "hospitalization", "odds_ratio"),
)


def run(args: argparse.Namespace) -> int:
    """Compute, write atomically, print an aggregate table; return the exit code."""
    from imr_bayes.atomic import atomic_dir
    from imr_bayes.summary_level import (
        plot_sensitivity,
        reanalyze_published,
        sensitivity_grid,
    )

    table = reanalyze_published(prior_grid=args.priors)
    sampler = dict(QUICK_SAMPLING) if args.quick else {}
    pooled = _pooling(args.pooling_aic_selected, sampler) if args.pooling else None
    with atomic_dir(args.out) as tmp:
        table.to_csv(tmp / "summary_reanalysis.csv", index=False)
        if pooled is not None:
            pooled[0].to_csv(tmp / "partial_pooling.csv", index=False)
            pooled[1].to_csv(tmp / "partial_pooling_hyper.csv", index=False)
            if not args.no_plots:
                _draw_pooling(pooled[2], tmp)
        for stem, sample, outcome, estimand in HEATMAPS:
            est = table[(table["sample"] == sample) & (table["outcome"] == outcome)
                        & (table["estimand"] == estimand)].iloc[0]
            delta = float(est["prior_unit"])  # the planned effect, or the generic unit
            kwargs = dict(
                prior_means=np.linspace(-2 * delta, 2 * delta, 21),
                prior_sds=np.geomspace(delta / 4, 8 * delta, 16),
                ratio=bool(est["ratio"]), benefit=est["benefit"],
            )
            ci = (est["estimate"], est["ci_low"], est["ci_high"])
            sensitivity_grid(*ci, **kwargs).to_csv(tmp / f"sensitivity_{stem}.csv", index=False)
            if not args.no_plots:
                import matplotlib

                matplotlib.use("Agg")
                import matplotlib.pyplot as plt

                fig = plot_sensitivity(*ci, **kwargs, title=f"{outcome} {estimand} ({sample})")
                fig.savefig(tmp / f"sensitivity_{stem}.png", dpi=120, bbox_inches="tight")
                plt.close(fig)

    ct = table[table["estimand"].isin(["condition_x_time", "odds_ratio"])]
    wide = ct.pivot_table(index=["sample", "outcome", "estimand"], columns="prior",
                          values="p_benefit", sort=False)
    print("P(benefit) of each printed condition x time B and the hospitalization OR, by prior")
    print(wide.to_string(float_format=lambda v: f"{v:.3f}"))
    effects = table[table["role"] == "effect"]
    counts = effects.groupby(["estimand", "prior"], sort=False)["agreement"].value_counts()
    print("\nagreement with the published conclusion (rows: estimand x prior)")
    print(counts.unstack(fill_value=0).to_string())
    bal = table[table["role"] == "balance"]
    print(f"\nbaseline balance (no P(benefit)): {int((bal['d_mean'].abs() > 0.1).sum())} of "
          f"{len(bal)} printed baseline differences have |d| > 0.1; largest |d| "
          f"{bal['d_mean'].abs().max():.2f}")
    if pooled is not None:
        print("\npartial pooling vs Benjamini-Hochberg (12 outcomes): detections")
        print(pooled[1].to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    n_est = effects[["sample", "outcome", "estimand", "term", "time"]].drop_duplicates().shape[0]
    print(f"\n{len(table)} rows ({n_est} effects x their priors, {len(bal)} baseline balance "
          f"checks) written to {args.out}")
    return 0


def _draw_pooling(results: dict[str, object], folder: Path) -> None:
    """Write one shrinkage plot per fitted estimand x sample."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from imr_bayes.multiplicity import plot_pooling

    for name, result in results.items():
        fig = plot_pooling(result, title=f"Partial pooling: {name.replace('_', ' ')}")
        fig.savefig(folder / f"partial_pooling_{name}.png", dpi=120, bbox_inches="tight")
        plt.close(fig)


def _pooling(aic_selected: bool, sampler: dict[str, int]
             ) -> tuple[object, object, dict[str, object]]:
    """Fit the multiplicity model to the published 18-month differences of each sample.

    With ``aic_selected`` also to the printed condition x time B's (the AIC-selected
    outcomes). ``sampler`` overrides the model's draws, tune and chains (``--quick``).
    Returns the per-outcome table, the per-fit summary and the results by name.
    """
    import pandas as pd

    from imr_bayes.multiplicity import (
        compare_with_bh,
        partial_pooling,
        published_effects,
    )

    tables, hyper, results = [], [], {}
    for estimand in ("followup_difference", *(("condition_x_time",) if aic_selected else ())):
        for sample in ("itt", "completers"):
            eff = published_effects(sample, estimand=estimand)
            res = partial_pooling(eff, **sampler)
            results[f"{estimand}_{sample}"] = res
            bh = compare_with_bh(res, dict(zip(eff["outcome"], eff["p"], strict=True)),
                                 family_size=len(eff))
            tables.append(res.table.merge(bh.drop(columns=["p_benefit_unpooled"]), on="outcome")
                          .assign(estimand=estimand, sample=sample))
            d = res.diagnostics
            worst = d.summary()
            mu, tau = res.hyper.set_index("parameter").loc[["mu", "tau"], "mean"]
            hyper.append({
                "estimand": estimand, "sample": sample, "n_outcomes": len(res.table),
                "mu": mu, "tau": tau, "bh_detect": int(bh["bh_detect"].sum()),
                "pooled_detect": int(bh["pooled_detect"].sum()), "max_r_hat": worst["max_r_hat"],
                "min_ess_bulk": worst["min_ess_bulk"], "divergences": d.divergences,
                "diagnostics_passed": d.passed,
            })
    return pd.concat(tables, ignore_index=True), pd.DataFrame(hyper), results
