"""The sections of the main run: each turns one analysis into tables, figures and a status.

Every function here has the signature ``(context) -> SectionResult`` and is registered in
:data:`imr_bayes.pipeline.SECTIONS`. They call the public API of the analysis modules and
never print. Participant rows never leave this module: only counts and summaries do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from imr_bayes import outcomes as outcome_registry
from imr_bayes.constants import ARMS, TIME_LABELS, TIMES
from imr_bayes.pipeline import FULL_SAMPLING
from imr_bayes.provenance import data_sha256, file_sha256, package_versions

if TYPE_CHECKING:
    from imr_bayes.pipeline import Figure, RunContext, SectionResult


def _result(**kwargs) -> SectionResult:
    from imr_bayes.pipeline import SectionResult

    return SectionResult(**kwargs)


def provenance(ctx: RunContext) -> SectionResult:
    """Report the data source with its SHA-256, spec hashes, seed, sampler and versions."""
    settings = ctx.settings
    rows: list[dict[str, str]] = []
    if settings.data_path is not None:
        rows.append({"item": "data source", "value": f"user file {settings.data_path.name}"})
        rows.append({"item": "data file SHA-256", "value": file_sha256(settings.data_path)})
    else:
        rows.append({"item": "data source",
                     "value": "synthetic twin (imr_bayes.data.default_twin)"})
    if "data" in ctx.store:
        rows.append({"item": "data content SHA-256", "value": data_sha256(ctx.data)})
    rows.append({"item": "seed", "value": str(settings.seed)})
    sampling = settings.sampling
    rows.append({
        "item": "sampler",
        "value": f"{sampling['chains']} chains x {sampling['draws']} draws "
                 f"(+{sampling['tune']} tuning)" + (" [--quick]" if settings.quick else ""),
    })
    rows.append({"item": "outcomes", "value": ", ".join(settings.outcomes)})
    spec_hashes = ctx.store.get("spec_hashes", {})
    for label, digest in sorted(spec_hashes.items()):
        rows.append({"item": f"spec SHA-256 ({label})", "value": digest})
    versions = package_versions()
    table = pd.DataFrame(rows)
    version_table = pd.DataFrame({"package": list(versions), "version": list(versions.values())})
    return _result(
        tables={"provenance": table, "versions": version_table},
        summary={"items": {r["item"]: r["value"] for r in rows}, "versions": versions},
    )


def data_summary(ctx: RunContext) -> SectionResult:
    """Count observations per arm x time and missingness per outcome (no participant rows)."""
    df = ctx.data
    participants = df.groupby("arm", observed=True)["participant_id"].nunique()
    text = [
        "Participants: " + ", ".join(
            f"{arm.upper()} {int(participants.get(arm, 0))}" for arm in ARMS
        ) + f" (rows: {len(df)}, one per participant and measurement)."
    ]
    counts = []
    for code in ctx.settings.outcomes:
        if code not in df.columns:
            continue
        for arm in ARMS:
            for t in TIMES:
                cell = df[(df["arm"] == arm) & (df["time"] == t)][code]
                counts.append({
                    "outcome": code, "arm": arm, "time": t, "time_label": TIME_LABELS[t],
                    "n_rows": len(cell), "n_observed": int(cell.notna().sum()),
                    "pct_missing": round(100 * float(cell.isna().mean()), 1) if len(cell) else None,
                })
    table = pd.DataFrame(counts)
    wide = table.pivot_table(index="outcome", columns=["arm", "time"], values="n_observed",
                             sort=False)
    wide.columns = [f"{arm}_t{t}" for arm, t in wide.columns]
    wide = wide.reset_index()
    missing = (table.groupby("outcome", sort=False)
               .apply(lambda g: round(100 * (1 - g["n_observed"].sum() / g["n_rows"].sum()), 1),
                      include_groups=False)
               .rename("pct_missing_overall").reset_index())
    wide = wide.merge(missing, on="outcome")
    return _result(
        tables={"observed_counts": wide, "counts_long": table},
        text=text,
        summary={"participants": {a: int(participants.get(a, 0)) for a in ARMS},
                 "rows": len(df)},
    )


def published_tables(ctx: RunContext) -> SectionResult:
    """Return the published fixed effects and marginal means (Tables 2, 3, 6, 7)."""
    from imr_bayes import published

    tables = {}
    for sample in ("itt", "completers"):
        tables[f"fixed_effects_{sample}"] = published.fixed_effects(sample)
        tables[f"marginal_means_{sample}"] = published.marginal_means(sample)
    itt = tables["fixed_effects_itt"]
    cxt = itt[itt["term"] == "condition_x_time"]
    return _result(
        tables=tables,
        text=[f"Condition x time effects in the paper's final ITT models: "
              f"{int(cxt['in_final_model'].sum())} of {len(cxt)} outcomes."],
    )


def audit(ctx: RunContext) -> SectionResult:
    """Run the internal-consistency audit of the published tables."""
    from imr_bayes import audit as audit_mod

    flags = audit_mod.audit_published()
    return _result(
        tables={"audit": flags},
        text=[f"{len(flags)} cell(s) flagged by the consistency checks."],
        summary={"n_flags": len(flags)},
    )


def barg_checklist(ctx: RunContext) -> SectionResult:
    """List the Kruschke (2021) BARG items, each with the report section that covers it."""
    from imr_bayes.report.barg import checklist

    table = checklist({key: res.status for key, res in ctx.results.items()})
    covered = int((table["status"] == "covered").sum())
    return _result(
        tables={"barg": table},
        text=[f"{covered} of {len(table)} items covered by this report."],
        summary={"covered": covered, "items": len(table)},
    )


def _png_figure(name: str, caption: str, fig, group: str = "") -> Figure:
    from imr_bayes.pipeline import Figure
    from imr_bayes.report.figures import to_png

    return Figure(name=name, caption=caption, png=to_png(fig), group=group)


def diagnostic_variables(idata) -> list[str]:
    """Return the posterior variables shown in diagnostic figures (fixed effects and SDs).

    Standardized copies (``*_std``) are left out: they are deterministic rescalings with the
    same ranks and ESS as their originals.
    """
    names = list(idata["posterior"].data_vars)
    chosen = [v for v in names if v.startswith(("beta", "sigma")) and not v.endswith("_std")]
    return chosen or names[:4]


#: Groups of a fit written to ``posteriors/*.nc``. Observed and constant data and the
#: pointwise log-likelihood are participant-level and stay out of the report folder.
POSTERIOR_GROUPS: tuple[str, ...] = ("posterior", "sample_stats")


def posterior_writer(idata):
    """Return a function writing the fit's :data:`POSTERIOR_GROUPS` (with attrs) as netCDF."""
    import xarray as xr

    from imr_bayes.atomic import atomic_path

    groups = {g: idata[g].to_dataset() for g in POSTERIOR_GROUPS if g in idata.children}
    tree = xr.DataTree.from_dict(groups)
    tree.attrs = dict(idata.attrs)

    def write(path) -> None:
        with atomic_path(path) as tmp:
            tree.to_netcdf(tmp, engine="h5netcdf")

    return write


def _label(code: str) -> str:
    """Abbreviation of an outcome code, or the code itself for non-registry outcomes."""
    return outcome_registry.OUTCOMES[code].abbreviation if code in outcome_registry.OUTCOMES \
        else code


def _fit_row(analysis: str, outcome: str, fit, seconds: float) -> dict[str, object]:
    diag = fit.diagnostics
    table = diag.table
    bfmi = [float(b) for b in diag.bfmi] if diag.bfmi is not None else []
    return {
        "analysis": analysis,
        "outcome": outcome,
        "status": "passed" if diag.passed else "FAILED diagnostics",
        "r_hat_max": float(table["r_hat"].max()),
        "ess_bulk_min": float(table["ess_bulk"].min()),
        "ess_tail_min": float(table["ess_tail"].min()),
        "divergences": int(diag.divergences),
        "bfmi_min": min(bfmi) if bfmi else float("nan"),
        "problems": "; ".join(diag.problems),
        "seconds": round(seconds, 1),
        "spec_sha256": str(fit.idata.attrs.get("spec_hash", ""))[:16],
    }


def bayesian_fits(ctx: RunContext) -> SectionResult:
    """Fit every selected analysis x outcome; tabulate diagnostics and draw ArviZ figures.

    A fit that raises or fails its diagnostics is marked in the table and the section's
    status; the other fits go on. Fits are kept in ``ctx.store["fits"]`` for later sections.
    """
    import time as _time

    import imr_bayes
    from imr_bayes.pipeline import ProgressEvent, plan_fits
    from imr_bayes.report.figures import diagnostic_figures

    settings = ctx.settings
    data = ctx.data
    sampling = settings.sampling
    jobs = plan_fits(settings)
    fits: dict[tuple[str, str], object] = {}
    rows, param_tables, figures, files = [], [], [], {}
    spec_hashes: dict[str, str] = {}
    ctx.progress(ProgressEvent("plan", "models", total=len(jobs)))
    for analysis, outcome in jobs:
        ctx.progress(ProgressEvent("start", "models", label=f"{analysis}/{outcome}"))
        t0 = _time.perf_counter()
        try:
            fit = imr_bayes.fit(data, outcome=outcome, analysis=analysis, seed=settings.seed,
                                **sampling)
        except Exception as exc:  # noqa: BLE001 - marked in the report, the run goes on
            first = (str(exc).splitlines() or [""])[0]
            rows.append({"analysis": analysis, "outcome": outcome,
                         "status": f"ERROR: {type(exc).__name__}: {first}",
                         "seconds": round(_time.perf_counter() - t0, 1)})
            ctx.progress(ProgressEvent("advance", "models"))
            continue
        seconds = _time.perf_counter() - t0
        outcome = str(fit.outcome)  # a single-model analysis names its own outcome
        fits[(analysis, outcome)] = fit
        rows.append(_fit_row(analysis, outcome, fit, seconds))
        spec_hashes[analysis] = str(fit.idata.attrs.get("spec_hash", ""))
        params = fit.diagnostics.table.copy()
        if "parameter" not in params.columns:
            params = params.rename_axis("parameter").reset_index()
        params.insert(0, "outcome", outcome)
        params.insert(0, "analysis", analysis)
        param_tables.append(params)
        files[f"posteriors/{analysis}__{outcome}.nc"] = posterior_writer(fit.idata)
        ctx.progress(ProgressEvent("advance", "models"))
        if fit.diagnostics.passed and outcome != outcome_registry.PRIMARY and \
                outcome in outcome_registry.CODES:
            continue  # figures: the primary outcome, single models and every failed fit
        label = f"{analysis}, {_label(outcome)}"
        verdict = "passed" if fit.diagnostics.passed else "FAILED its diagnostics"
        for kind, fig in diagnostic_figures(fit.idata, diagnostic_variables(fit.idata)).items():
            figures.append(_png_figure(
                f"{analysis}__{outcome}__{kind}",
                f"{kind.upper() if kind == 'ess' else kind.capitalize()} plot: {label} "
                f"(fit {verdict})",
                fig,
                group=f"ArviZ diagnostic plots: {label} (fit {verdict})",
            ))
    ctx.progress(ProgressEvent("finish", "models"))
    ctx.store["fits"] = fits
    ctx.store["spec_hashes"] = spec_hashes
    table = pd.DataFrame(rows)
    n_error = int(table["status"].str.startswith("ERROR").sum()) if len(table) else 0
    n_bad = int((table["status"] == "FAILED diagnostics").sum()) if len(table) else 0
    tables = {"diagnostics": table}
    if param_tables:
        tables["parameters"] = pd.concat(param_tables, ignore_index=True)
    effects = [f.effects for f in fits.values()]
    if effects:
        tables["effects"] = pd.concat(effects, ignore_index=True)
    status, message = "ok", ""
    if not jobs:
        status, message = "unavailable", "no Bayesian analysis is registered in this build"
    elif n_error == len(jobs):
        status, message = "failed", f"all {n_error} fits raised an error"
    elif n_error or n_bad:
        status = "warning"
        parts = [f"{n} of {len(jobs)} fits {what}" for n, what in (
            (n_error, "raised an error"),
            (n_bad, "failed their diagnostics (R-hat, ESS, divergence or E-BFMI thresholds "
                    "of the spec)")) if n]
        message = "; ".join(parts)
        if settings.quick:
            message += "; --quick draws too few samples to meet the ESS thresholds"
    text = [f"{len(fits)} fits: {sampling['chains']} chains x {sampling['draws']} draws after "
            f"{sampling['tune']} tuning steps, seed {settings.seed}. Thresholds come from each "
            "analysis spec (models/analyses). ArviZ rank, ESS and energy plots are drawn for "
            "the primary outcome, the single-model analyses and every fit that failed its "
            "diagnostics; the tables cover every fit and parameter."]
    return _result(
        status=status, message=message, tables=tables, figures=figures, text=text,
        files=files,
        summary={"fits": table.to_dict(orient="records"),
                 "n_fits": len(jobs), "n_errors": n_error, "n_failed_diagnostics": n_bad},
    )


#: Standardized condition x time estimands a forest plot can show, by preference.
FOREST_ESTIMANDS: tuple[str, ...] = (
    "condition_x_time_d", "pp_condition_x_time_d", "cace_condition_x_time_d",
)


def forest(ctx: RunContext) -> SectionResult:
    """Draw posterior 95 % ETIs beside the published 95 % CIs, per analysis.

    Analyses with a standardized condition x time effect (:data:`FOREST_ESTIMANDS`) are
    drawn beside Table 6 (completers) or Table 2 (every other analysis); analyses without
    one (categorical time, fidelity subgroups, hospitalization) are left out.
    """
    from imr_bayes import published
    from imr_bayes.report.figures import forest_data, plot_forest

    fits = ctx.store.get("fits", {})
    if not fits:
        return _result(status="unavailable", message="no Bayesian fit produced results")
    effects = pd.concat([f.effects for f in fits.values()], ignore_index=True)
    figures, tables = [], {}
    for analysis in dict.fromkeys(a for a, _ in fits):
        own = effects[effects["analysis"] == analysis]
        estimand = next((e for e in FOREST_ESTIMANDS if (own["estimand"] == e).any()), None)
        if estimand is None:
            continue
        sample = "completers" if analysis == "completers" else "itt"
        table_name = "Table 6" if sample == "completers" else "Table 2"
        data = forest_data(own, published.fixed_effects(sample), estimand=estimand)
        tables[f"forest_{analysis}"] = data
        figures.append(_png_figure(
            f"forest_{analysis}",
            f"Condition x time, {analysis} ({estimand}): posterior mean and 95 % ETI (circles) "
            f"beside the published B and 95 % CI ({table_name}, squares; only outcomes "
            "whose final model kept the interaction), in pooled "
            "baseline SDs per time step, positive favours IMR.",
            plot_forest(data, title=analysis),
        ))
    return _result(tables=tables, figures=figures, csv_only=tuple(tables))


def summary_level(ctx: RunContext) -> SectionResult:
    """Reanalyse every printed estimate under the prior grid; heat maps of P(benefit)."""
    import numpy as np

    from imr_bayes import summary_level as sl

    full = sl.reanalyze_published()
    keys = ["source", "sample", "outcome", "estimand", "term", "estimate", "ci_low", "ci_high",
            "p_published"]
    main = full[full["estimand"].isin(["condition_x_time", "odds_ratio"])]
    wide = main.pivot_table(index=keys[:5], columns="prior", values="p_benefit", sort=False,
                            dropna=False)
    wide.columns = [f"p_benefit_{c}" for c in wide.columns]
    wide = wide.reset_index()
    ref = main[main["prior"] == "reference"].set_index(keys[:5])[
        ["estimate", "ci_low", "ci_high", "p_published", "p_clinically_important", "agreement"]
    ].rename(columns={"p_clinically_important": "p_clin_important_reference",
                      "agreement": "agreement_reference"})
    table = wide.merge(ref.reset_index(), on=keys[:5]).drop(columns=["source", "estimand"])
    figures = []
    first = main[(main["estimand"] == "condition_x_time") & (main["sample"] == "itt")
                 & (main["outcome"] == outcome_registry.PRIMARY)]
    odds = main[main["estimand"] == "odds_ratio"]
    for label, sub in (("primary", first), ("hospitalization_or", odds)):
        if sub.empty:
            continue
        est = sub.iloc[0]
        delta = abs(float(est["planned_effect"]))
        means = np.linspace(-2 * delta, 2 * delta, 41)
        sds = np.geomspace(delta / 4, 4 * delta, 30)
        what = ("hospitalization odds ratio (log scale)" if est["ratio"]
                else f"{outcome_registry.get(est['outcome']).abbreviation} condition x time, ITT")
        fig = sl.plot_sensitivity(
            float(est["estimate"]), float(est["ci_low"]), float(est["ci_high"]),
            prior_means=means, prior_sds=sds, ratio=bool(est["ratio"]),
            benefit=est["benefit"], title=f"P(benefit): {what}",
        )
        figures.append(_png_figure(
            f"sensitivity_{label}",
            f"Prior sensitivity of P(benefit) for the {what}: normal priors over a grid of "
            f"means (x) and SDs (y, planned effect {delta:.3g} on this scale); contours at "
            "0.5, 0.9 and 0.975.",
            fig,
        ))
    ref_primary = first[first["prior"] == "reference"]
    ref_or = odds[odds["prior"] == "reference"]
    summary = {}
    if not ref_primary.empty:
        summary["primary_itt_p_gt_0_reference"] = float(ref_primary["p_gt_0"].iloc[0])
    if not ref_or.empty:
        summary["hospitalization_p_or_lt_1_reference"] = float(1 - ref_or["p_gt_0"].iloc[0])
    return _result(
        tables={"p_benefit_by_prior": table, "all_estimates": full},
        figures=figures,
        text=[f"{full[keys[:5]].drop_duplicates().shape[0]} printed estimates x "
              f"{full['prior'].nunique()} priors ({', '.join(dict.fromkeys(full['prior']))}); "
              "normal likelihood from each estimate and its 95 % CI (log scale for the odds "
              "ratio). The table shows the condition x time effects and the hospitalization "
              "odds ratio; all estimates are in the CSV."],
        summary=summary,
    )


def frequentist(ctx: RunContext) -> SectionResult:
    """Replicate every published frequentist analysis and set it beside the paper.

    ITT and completer LMMs with the paper's stepwise AIC (Tables 2, 3, 6, 7) and
    Benjamini-Hochberg, the fidelity analyses (Tables 4, 5) and the hospitalization odds
    ratio and length-of-stay test. Results are kept in ``ctx.store["frequentist"]``.
    """
    from imr_bayes import frequentist as freq

    outcomes = ctx.settings.outcomes
    results: dict[str, object] = {}
    tables: dict[str, pd.DataFrame] = {}
    versus = []
    for sample in ("itt", "completers"):
        res = freq.replicate(ctx.data, sample=sample, outcomes=outcomes)
        results[sample] = res
        tables[f"fixed_effects_{sample}"] = res.fixed_effects
        tables[f"marginal_means_{sample}"] = res.marginal_means
        if len(res.multiplicity):
            tables[f"benjamini_hochberg_{sample}"] = res.multiplicity
        versus.append(freq.versus_published(res))
    for outcome in ("imrs_client", "sers_sf"):
        if outcome in outcomes:
            fid = freq.fidelity_analysis(ctx.data, outcome=outcome)
            results[f"fidelity_{outcome}"] = fid
            tables[f"fidelity_{outcome}"] = fid.coefficients
            versus.append(freq.versus_published(fid))
    hosp = freq.hospitalization(ctx.data)
    results["hospitalization"] = hosp
    tables["hospitalization_odds_ratio"] = hosp.odds_ratio
    tables["length_of_stay"] = hosp.length_of_stay
    versus.append(freq.versus_published(hosp))
    tables["versus_published"] = pd.concat(versus, ignore_index=True)
    ctx.store["frequentist"] = results
    problems = pd.concat([results[s].problems for s in ("itt", "completers")])
    n_bad = problems["outcome"].nunique() if len(problems) else 0
    return _result(
        status="warning" if n_bad else "ok",
        message=f"{n_bad} outcome(s) with a model fit status other than ok" if n_bad else "",
        tables=tables,
        text=["Linear mixed models as in the paper (random participant intercept; final "
              "models by stepwise AIC on these data; REML estimates with model-based SEs and "
              "Satterthwaite df as SPSS prints them). Versus published: each reproduced "
              "number beside the printed one."],
        summary={"n_participants": {s: int(results[s].n_participants)
                                    for s in ("itt", "completers")}},
    )


def ppc(ctx: RunContext) -> SectionResult:
    """Check the published statistics and the data against posterior predictive draws.

    For every fit of an analysis with a published counterpart (Tables 2/3, 6/7): each
    printed statistic against its posterior predictive distribution (same missingness), and
    data-level checks per arm x time. Figures: the published-statistic percentiles per
    analysis, and ArviZ predictive densities for the primary outcome.
    """
    from imr_bayes import ppc as ppc_mod

    fits = {k: f for k, f in ctx.store.get("fits", {}).items()
            if ppc_mod.published_sample(f) is not None}
    if not fits:
        return _result(status="unavailable",
                       message="no fit of an analysis with published Table 2/3 or 6/7 numbers")
    draws = 200 if ctx.settings.quick else 1000
    seed = ctx.settings.seed
    checks, data_checks, figures = [], [], []
    for (analysis, outcome), fit in fits.items():
        table = ppc_mod.published_checks(fit, draws=draws, seed=seed)
        table.insert(0, "analysis", analysis)
        checks.append(table)
        dc = ppc_mod.data_checks(fit, draws=draws, seed=seed)
        dc.insert(0, "analysis", analysis)
        data_checks.append(dc)
        if outcome == outcome_registry.PRIMARY:
            figures.append(_png_figure(
                f"predictive_{analysis}__{outcome}",
                f"Posterior predictive densities per arm x time ({analysis}, {_label(outcome)}) "
                "against the observed data (ArviZ plot_ppc_dist).",
                ppc_mod.plot_data_checks(fit, draws=100, seed=seed),
            ))
    table = pd.concat(checks, ignore_index=True)
    for analysis, sub in table.groupby("analysis", sort=False):
        figures.append(_png_figure(
            f"published_checks_{analysis}",
            f"Percentile of every published statistic ({analysis}) in its posterior "
            "predictive distribution; band: central 95 %, red: flagged.",
            ppc_mod.plot_published_checks(sub),
        ))
    n_flag = int(table["flagged"].astype(bool).sum())
    return _result(
        status="ok",
        message="",
        tables={"published_checks": table,
                "data_checks": pd.concat(data_checks, ignore_index=True)},
        figures=figures,
        text=[f"{n_flag} of {len(table)} published statistics fall outside the central 95 % "
              "of their posterior predictive distribution (flagged). Replicated data keep "
              "the observed missingness; see docs/ppc.md."],
        summary={"n_checks": len(table), "n_flagged": n_flag},
    )


#: Columns of the per-outcome comparison table shown in the page (all columns go to CSV).
COMPARISON_SHOWN: tuple[str, ...] = (
    "outcome", "published_b", "published_ci_low", "published_ci_high", "published_p",
    "frequentist_b", "post_mean", "eti95_low", "eti95_high", "p_direction", "p_benefit",
    "p_rope", "bf10", "agreement", "multiplicity_conclusion",
)


def _one_row_per_outcome(rows: pd.DataFrame) -> pd.DataFrame:
    """Pick each outcome's headline effect: condition x time, else its first estimand."""
    order = rows["estimand"].ne("condition_x_time")
    head = (rows.assign(_o=order).sort_values("_o", kind="stable")
            .drop_duplicates("outcome").drop(columns="_o"))
    head = head.set_index("outcome").loc[list(dict.fromkeys(rows["outcome"]))].reset_index()
    shown = [c for c in ("outcome", "estimand", "time", *COMPARISON_SHOWN[1:])
             if c in head.columns]
    return head[shown]


def comparison(ctx: RunContext) -> SectionResult:
    """Set posterior, reproduced frequentist and published condition x time side by side."""
    from imr_bayes import published
    from imr_bayes.comparison import compare

    fits = [f for (_, o), f in ctx.store.get("fits", {}).items()
            if o in outcome_registry.OUTCOMES]
    if not fits:
        return _result(status="unavailable", message="no Bayesian fit of a trial outcome")
    pooling = dict(FULL_SAMPLING)  # cheap to sample (see multiplicity), so never --quick
    table = compare(fits, ctx.store.get("frequentist"), published,
                              pooling=pooling, seed=ctx.settings.seed)
    tables = {f"outcomes_{analysis}": _one_row_per_outcome(sub)
              for analysis, sub in table.groupby("analysis", sort=False)}
    tables["comparison"] = table  # every estimand; folded in the page when long
    counts = table[table["estimand"] == "condition_x_time"].groupby(
        ["analysis", "agreement"], dropna=False).size()
    return _result(
        tables=tables,
        text=["One table per analysis with one row per outcome: its condition x time effect "
              "(or the analysis' first treatment effect where the model has no such term); "
              "the CSV holds every estimand. Agreement classes, the ROPE and the "
              "multiplicity columns are defined in docs/comparison.md."],
        summary={"agreement": {f"{a}/{g}": int(n) for (a, g), n in counts.items()}},
    )


def missing_data(ctx: RunContext) -> SectionResult:
    """Delta-adjustment (pattern-mixture) sensitivity of every ITT fit, with tipping points."""
    from imr_bayes.sensitivity import delta_adjust, plot_tipping_points, tipping_points

    fits = [f for (a, o), f in ctx.store.get("fits", {}).items()
            if a == "itt" and o in outcome_registry.OUTCOMES]
    if not fits:
        return _result(status="unavailable", message="no ITT fit to adjust")
    table = delta_adjust(fits, arms="imr", seed=ctx.settings.seed)
    tips = tipping_points(table)
    fig = plot_tipping_points(table)
    return _result(
        tables={"tipping_points": tips, "delta_adjustment": table},
        figures=[_png_figure(
            "tipping_points",
            "P(benefit) and the Rubin-pooled frequentist p of condition x time as the missing "
            "IMR-arm follow-ups are shifted by delta pooled baseline SDs in the unfavourable "
            "direction (MAR at delta = 0); tipping points marked.", fig)],
        text=["Missing follow-ups are imputed from each ITT fit's posterior predictive and "
              "shifted by delta (IMR arm only). The tipping point is the smallest delta at "
              "which P(benefit) falls below 0.975, or the pooled p rises above 0.05. "
              "Assumptions: docs/missing_data.md.", *tips["sentence"].tolist()],
        summary={"tipping_points": tips[["outcome", "sentence"]].to_dict("records")},
    )


#: The summary-level prior grid lives beside the prior sets but is not one.
_NOT_PRIOR_SETS: frozenset[str] = frozenset({"summary_level"})


def _describe_prior(prior: dict) -> str:
    args = ", ".join(f"{k}={v:g}" for k, v in prior["kwargs"].items())
    return f"{prior['dist']}({args})"


def _std_slope(fit):
    """Draws of the standardized condition x time coefficient (the priors' scale), or None."""
    import numpy as np

    post = fit.idata["posterior"]
    if "beta_std" not in post.data_vars or "condition_x_time" not in post["term"].values:
        return None
    return np.asarray(post["beta_std"].sel(term="condition_x_time")).ravel()


def prior_sensitivity(ctx: RunContext) -> SectionResult:
    """Refit the primary outcome under every prior set; compare condition x time and BF10.

    Uses the first selected analysis with a linear condition x time term. The default-prior
    fit is reused from the fits section.
    """
    import numpy as np

    import imr_bayes
    from imr_bayes import indices, spec
    from imr_bayes.pipeline import ProgressEvent
    from imr_bayes.report.figures import plot_forest

    fits = ctx.store.get("fits", {})
    outcome = outcome_registry.PRIMARY
    candidates = [(a, f) for (a, o), f in fits.items()
                  if o == outcome and _std_slope(f) is not None]
    if not candidates:
        return _result(status="unavailable",
                       message=f"needs a fit of {outcome} with a linear condition x time term")
    analysis, base_fit = candidates[0]
    direction = outcome_registry.get(outcome).direction
    names = [n for n in spec.prior_set_names() if n not in _NOT_PRIOR_SETS]
    default = spec.load_analysis(analysis).prior_set
    ctx.progress(ProgressEvent("plan", "models", total=len(names)))
    rows = []
    for name in names:
        ctx.progress(ProgressEvent("start", "models", label=f"{analysis}/{outcome}/{name}"))
        fit = base_fit if name == default else imr_bayes.fit(
            ctx.data, outcome=outcome, analysis=analysis, prior_set=name,
            seed=ctx.settings.seed, **ctx.settings.sampling)
        prior = spec.load_prior_set(name).priors["condition_x_time"].resolved(direction)
        draws = _std_slope(fit)
        low, high = indices.eti(draws)
        rows.append({
            "prior_set": name,
            "prior_condition_x_time": _describe_prior(prior),
            "post_mean": float(draws.mean()), "eti95_low": float(low), "eti95_high": float(high),
            "p_benefit": float(indices.p_benefit(draws, direction)),
            "bf10": float(indices.savage_dickey_bf10(draws, prior)),
            "diagnostics": "passed" if fit.diagnostics.passed else "FAILED",
        })
        ctx.progress(ProgressEvent("advance", "models"))
    ctx.progress(ProgressEvent("finish", "models"))
    table = pd.DataFrame(rows)
    sign = direction
    plot = pd.DataFrame({
        "outcome": outcome, "label": table["prior_set"], "source": "posterior",
        "estimate": sign * table["post_mean"],
        "low": np.minimum(sign * table["eti95_low"], sign * table["eti95_high"]),
        "high": np.maximum(sign * table["eti95_low"], sign * table["eti95_high"]),
    })
    fig = plot_forest(plot, title=f"{outcome_registry.get(outcome).abbreviation}, {analysis}: "
                                  "condition x time by prior set")
    fig.axes[0].set_xlabel("condition x time per time step, in baseline SDs "
                           "(positive favours IMR)")
    failed = table[table["diagnostics"] != "passed"]
    return _result(
        status="warning" if len(failed) else "ok",
        message=(f"{len(failed)} prior-set fit(s) failed diagnostics" if len(failed) else ""),
        tables={"prior_sets": table},
        figures=[_png_figure("prior_sets", "Posterior mean and 95 % ETI of the standardized "
                             "condition x time effect of the primary outcome under each prior "
                             "set (models/priors).", fig)],
        text=[f"Primary outcome ({outcome}), analysis {analysis}: the same model refitted under "
              f"each prior set. BF10 is the Savage-Dickey Bayes factor of condition x time "
              "against 0 (prior density / posterior density at 0)."],
        summary={"prior_sets": table.to_dict(orient="records")},
    )


def _pooling_plot_data(table: pd.DataFrame) -> pd.DataFrame:
    """Unpooled (estimate +/- 1.96 SE) and pooled (posterior 95 % ETI) rows for plot_forest."""
    from scipy import stats

    from imr_bayes.constants import CI_LEVEL

    z = float(stats.norm.ppf(0.5 + CI_LEVEL / 2))
    labels = [outcome_registry.get(o).abbreviation for o in table["outcome"]]
    unpooled = pd.DataFrame({
        "outcome": table["outcome"], "label": labels, "source": "unpooled",
        "estimate": table["benefit_d"], "low": table["benefit_d"] - z * table["se_d"],
        "high": table["benefit_d"] + z * table["se_d"],
    })
    pooled = pd.DataFrame({
        "outcome": table["outcome"], "label": labels, "source": "partially pooled",
        "estimate": table["post_mean"], "low": table["eti95_low"], "high": table["eti95_high"],
    })
    return pd.concat([unpooled, pooled], ignore_index=True)


def multiplicity(ctx: RunContext) -> SectionResult:
    """Pool the standardized effects across outcomes partially; set them beside BH.

    Pools the published 18-month IMR - CAU differences (Table 3, all 12 outcomes) and the
    published condition x time coefficients (Table 2, BH family of all 12 outcomes). The
    pooling of the Bayesian fits' effects is part of the comparison table (``compare``).
    """
    from imr_bayes import multiplicity as mult
    from imr_bayes.report.figures import plot_forest

    # The pooling model has 14 parameters: its sampling takes a second, so it always runs at
    # the full settings (even with --quick); compiling it is what costs time.
    run = {"seed": ctx.settings.seed, **FULL_SAMPLING}
    tables, figures, problems = {}, [], []
    inputs = {
        "published_18m_difference": mult.published_effects("itt",
                                                           estimand="followup_difference"),
        "published_condition_x_time": mult.published_effects("itt"),
    }
    for name, effects in inputs.items():
        result = mult.partial_pooling(effects, **run)
        tables[f"{name}_pooled"] = result.table
        tables[f"{name}_hyper"] = result.hyper
        if "p" in effects.columns:
            pvalues = effects.set_index("outcome")["p"]
            tables[f"{name}_versus_bh"] = mult.compare_with_bh(
                result, pvalues[result.table["outcome"]], family_size=len(effects))
        if not result.diagnostics.passed:
            problems.append(f"{name}: " + "; ".join(result.diagnostics.problems))
        figures.append(_png_figure(
            f"pooling_{name}",
            f"Partial pooling across outcomes ({name.replace('_', ' ')}): unpooled estimate "
            "+/- 1.96 SE beside the partially pooled posterior 95 % ETI, standardized, "
            "positive favours IMR.",
            plot_forest(_pooling_plot_data(result.table), title=name.replace("_", " ")),
        ))
    return _result(
        status="warning" if problems else "ok",
        message="pooling fit(s) failed diagnostics: " + " | ".join(problems) if problems else "",
        tables=tables, figures=figures,
        text=["Hierarchical model of the standardized effects across outcomes (Gelman, Hill & "
              "Yajima 2012): theta_k ~ N(mu, tau); see docs/multiplicity.md. The BH tables set "
              "the pooled conclusion beside the Benjamini-Hochberg-adjusted frequentist one."],
    )
