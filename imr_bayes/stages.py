"""The stages of the main run: each computes one typed result into the :class:`Reanalysis`.

Every function here has the signature ``(context) -> StageResult`` and is registered in
:data:`imr_bayes.reanalysis.STAGES`. They call the public API of the analysis modules, never
print and never draw: the report (:mod:`imr_bayes.report`) renders what they return.
Participant rows never leave a stage: only counts, summaries and fits do.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import pandas as pd

from imr_bayes import outcomes as outcome_registry
from imr_bayes.constants import ARMS, TIME_LABELS, TIMES
from imr_bayes.reanalysis import (
    FULL_SAMPLING,
    FitRecord,
    Fits,
    Frequentist,
    MissingData,
    Multiplicity,
    Ppc,
    PriorSensitivity,
    ProgressEvent,
    StageResult,
)

if TYPE_CHECKING:
    from imr_bayes.reanalysis import RunContext


def _first_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).splitlines() or [''])[0]}"


def data_summary(ctx: RunContext) -> StageResult:
    """Observations per outcome x arm x time and missingness (counts only)."""
    df = ctx.data
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
                    "pct_missing": round(100 * float(cell.isna().mean()), 1) if len(cell)
                    else None})
    participants = df.groupby("arm", observed=True)["participant_id"].nunique()
    return StageResult(value={
        "participants": {arm: int(participants.get(arm, 0)) for arm in ARMS},
        "rows": len(df), "counts": pd.DataFrame(counts)})


def audit(ctx: RunContext) -> StageResult:
    """Compute the internal-consistency audit of the published tables."""
    from imr_bayes import audit as audit_mod

    return StageResult(value=audit_mod.audit_published())


def summary_level(ctx: RunContext) -> StageResult:
    """Every printed estimate under the summary-level prior grid."""
    from imr_bayes import summary_level as sl

    return StageResult(value=sl.reanalyze_published())


def verdict(ctx: RunContext) -> StageResult:
    """Read each outcome's published estimate under three priors (:mod:`imr_bayes.verdict`)."""
    from imr_bayes.verdict import verdict as compute

    reanalysed = ctx.value("summary_level")
    if reanalysed is None:
        return StageResult("unavailable", "needs the summary-level reanalysis")
    flags = ctx.value("audit")
    if flags is None:
        return StageResult("warning", "the audit did not run: flags on the verdict's numbers "
                                      "are not checked", compute(reanalysed))
    return StageResult(value=compute(reanalysed, flags))


def frequentist(ctx: RunContext) -> StageResult:
    """Replicate every published frequentist analysis; set it beside the paper."""
    from imr_bayes import frequentist as freq
    from imr_bayes.counterparts import run_frequentist

    results = run_frequentist(ctx.data, ctx.settings.outcomes)
    versus = [freq.versus_published(r) for r in results.replications.values()]
    versus += [freq.versus_published(r) for r in results.fidelity.values()]
    versus.append(freq.versus_published(results.hospitalization))
    problems = pd.concat([r.problems for r in results.replications.values()])
    n_bad = problems["outcome"].nunique() if len(problems) else 0
    return StageResult(
        status="warning" if n_bad else "ok",
        message=f"{n_bad} outcome(s) with a model fit status other than ok" if n_bad else "",
        value=Frequentist(results, pd.concat(versus, ignore_index=True)))


def bayesian_fits(ctx: RunContext) -> StageResult:
    """Fit every planned analysis x outcome (:func:`imr_bayes.reanalysis.plan_fits`).

    A fit that raises or fails its diagnostics is recorded and marked; the others go on.
    """
    import imr_bayes
    from imr_bayes.reanalysis import plan_fits

    settings = ctx.settings
    jobs = plan_fits(settings)
    ctx.progress(ProgressEvent("plan", "models", total=len(jobs)))
    records = []
    for analysis, outcome in jobs:
        ctx.progress(ProgressEvent("start", "models", label=f"{analysis}/{outcome or '-'}"))
        t0 = time.perf_counter()
        try:
            fit = imr_bayes.fit(ctx.data, outcome=outcome, analysis=analysis,
                                seed=settings.seed, **settings.sampling)
            records.append(FitRecord(analysis, str(fit.outcome), fit,
                                     seconds=time.perf_counter() - t0))
        except Exception as exc:  # noqa: BLE001 - recorded in the report, the run goes on
            records.append(FitRecord(analysis, outcome or "-", error=_first_line(exc),
                                     seconds=time.perf_counter() - t0))
        ctx.progress(ProgressEvent("advance", "models"))
    ctx.progress(ProgressEvent("finish", "models"))
    value = Fits(tuple(records))
    n_error = sum(r.fit is None for r in records)
    n_bad = sum(r.fit is not None and not r.fit.diagnostics.passed for r in records)
    if not jobs:
        return StageResult("unavailable", "no analysis selected", value)
    if n_error == len(jobs):
        return StageResult("failed", f"all {n_error} fits raised an error", value)
    if n_error or n_bad:
        parts = [f"{n} of {len(jobs)} fits {what}" for n, what in (
            (n_error, "raised an error"),
            (n_bad, "failed their diagnostics (R-hat, ESS, divergence or E-BFMI thresholds "
                    "of the spec)")) if n]
        message = "; ".join(parts)
        if settings.quick:
            message += "; --quick draws too few samples to meet the ESS thresholds"
        return StageResult("warning", message, value)
    return StageResult(value=value)


def _headline(fit):
    """Return the fit's first treatment estimand without a time whose prior is a prior-set one.

    The prior sets (``models/priors``) give the shared parameters their priors; an estimand
    whose prior is the kind's own (e.g. the CACE's scaled one) has no prior-set variants to
    refit under. None when the fit has no such estimand.
    """
    from imr_bayes.spec import FIXED_TERMS

    for e in getattr(fit.spec, "estimands", ()):
        if e.treatment and e.times is None and e.prior in FIXED_TERMS:
            return e
    return None


def prior_sensitivity(ctx: RunContext) -> StageResult:
    """Refit the primary outcome's first analysis under every prior set.

    The first fit of the primary outcome whose headline estimand has a prior-set prior is
    refitted under each prior set (the default-prior fit is reused); the headline's
    posterior, P(benefit) and Savage-Dickey BF10 per set, under the set's prior (``bf10``)
    and under the one test prior N(0, planned effect^2) (``bf10_test``, which should not
    move with the prior set beyond Monte Carlo error).
    """
    import numpy as np

    import imr_bayes
    from imr_bayes import indices, spec
    from imr_bayes.comparison import standardized

    fits = ctx.value("fits").fits if ctx.value("fits") else {}
    outcome = outcome_registry.PRIMARY
    candidates = [(a, f) for (a, o), f in fits.items() if o == outcome and _headline(f)]
    if not candidates:
        return StageResult("unavailable", f"needs a fit of {outcome} with a treatment "
                                          "effect that has a prior-set prior")
    analysis, base_fit = candidates[0]
    head = _headline(base_fit)
    direction = outcome_registry.get(outcome).direction
    names = spec.prior_set_names()
    test = indices.alternative_prior(horizon=head.d_horizon)  # the same for every prior set
    ctx.progress(ProgressEvent("plan", "models", total=len(names)))
    rows = []
    scale = outcome_registry.get(outcome).pooled_baseline_sd()
    for name in names:
        ctx.progress(ProgressEvent("start", "models", label=f"{analysis}/{outcome}/{name}"))
        fit = base_fit if name == base_fit.spec.prior_set else imr_bayes.fit(
            ctx.data, outcome=outcome, analysis=analysis, prior_set=name,
            seed=ctx.settings.seed, **ctx.settings.sampling)
        row = fit.estimates.row(head.name)
        draws = standardized(fit, row, fit.estimates.draws_of(row), scale)
        prior = spec.load_prior_set(name).priors[head.prior].resolved(direction)
        low, high = indices.eti(draws)
        rows.append({
            "prior_set": name, "estimand": f"{head.name} (standardized)",
            "prior": indices.describe_prior(prior),
            "post_mean": float(np.mean(draws)), "ci_low": float(low), "ci_high": float(high),
            "p_benefit": float(indices.p_benefit(draws, direction)),
            "bf10": float(indices.savage_dickey_bf10(draws, prior)),
            "bf10_test": float(indices.reweighted_bf10(draws, prior, test)),
            "test_prior": indices.describe_prior(test),
            "diagnostics": "passed" if fit.diagnostics.passed else "FAILED",
        })
        ctx.progress(ProgressEvent("advance", "models"))
    ctx.progress(ProgressEvent("finish", "models"))
    table = pd.DataFrame(rows)
    failed = int((table["diagnostics"] != "passed").sum())
    return StageResult("warning" if failed else "ok",
                       f"{failed} prior-set fit(s) failed diagnostics" if failed else "",
                       PriorSensitivity(analysis, outcome, table))


def ppc(ctx: RunContext) -> StageResult:
    """Posterior predictive checks of every fit whose model reproduces published tables.

    Every printed statistic against its posterior predictive distribution (same
    missingness), data-level checks per arm x time, the statistics the model is not fitted
    to (correlations, SDs, floor/ceiling shares, group ICC), Table 2/6's B with the AIC step
    repeated in each replicate, replicated data of the primary outcome's fits for the
    density figures, and the LOO-PIT cells of the primary outcome's first fit (refitted once
    with ``posterior_predictive=True`` when the run's fit lacks them; same seed and sampler).
    """
    import imr_bayes
    from imr_bayes import ppc as ppc_mod

    fits = ctx.value("fits").fits if ctx.value("fits") else {}
    fits = {k: f for k, f in fits.items() if ppc_mod.published_sample(f) is not None}
    if not fits:
        return StageResult("unavailable", "no fit of an analysis with published Tables 2/3, "
                                          "4/5 or 6/7")
    settings = ctx.settings
    draws = 200 if settings.quick else 1000
    seed = settings.seed
    checks, data_checks, structure, selection, predictive = [], [], [], [], {}
    for (analysis, outcome), fit in fits.items():
        checks.append(ppc_mod.published_checks(fit, draws=draws, seed=seed)
                      .assign(analysis=analysis))
        data_checks.append(ppc_mod.data_checks(fit, draws=draws, seed=seed)
                           .assign(analysis=analysis))
        structure.append(ppc_mod.structure_checks(fit, draws=draws, seed=seed)
                         .assign(analysis=analysis))
        if getattr(fit.spec, "time", None) == "linear":
            selection.append(ppc_mod.selection_checks(fit, draws=draws, seed=seed)
                             .assign(analysis=analysis))
        if outcome == outcome_registry.PRIMARY:
            predictive[(analysis, outcome)] = ppc_mod.predictive_tree(fit, draws=100,
                                                                      seed=seed)
    loo_pit, note = {}, ""
    primary = [(a, f) for (a, o), f in fits.items() if o == outcome_registry.PRIMARY]
    if primary:
        analysis, fit = primary[0]
        try:
            if "posterior_predictive" not in fit.idata.children:
                fit = imr_bayes.fit(ctx.data, outcome=fit.outcome, analysis=analysis,
                                    seed=seed, posterior_predictive=True, **settings.sampling)
            loo_pit[(analysis, str(fit.outcome))] = ppc_mod.loo_pit_tree(fit)
        except Exception as exc:  # noqa: BLE001 - the other checks stand without it
            note = f"LOO-PIT not available: {_first_line(exc)}"

    def stack(parts: list[pd.DataFrame]) -> pd.DataFrame:
        table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
        return table[["analysis", *[c for c in table.columns if c != "analysis"]]] \
            if "analysis" in table else table

    value = Ppc(stack(checks), stack(data_checks), predictive,
                structure_checks=stack(structure), selection_checks=stack(selection),
                loo_pit=loo_pit)
    return StageResult("warning" if note else "ok", note, value)


def missing_data(ctx: RunContext) -> StageResult:
    """Delta adjustment (pattern mixture) of every ITT fit, with tipping points."""
    from imr_bayes.sensitivity import delta_adjust, tipping_points

    fits = ctx.value("fits").fits if ctx.value("fits") else {}
    itt = [f for (a, o), f in fits.items() if a == "itt" and o in outcome_registry.OUTCOMES]
    if not itt:
        return StageResult("unavailable", "no ITT fit to adjust")
    table = delta_adjust(itt, arms="imr", seed=ctx.settings.seed)
    return StageResult(value=MissingData(table, tipping_points(table)))


def comparison(ctx: RunContext) -> StageResult:
    """Posterior, reproduced frequentist and published results side by side.

    The comparison table of :func:`imr_bayes.compare` over every fit of a trial outcome
    (the partial pooling always at the full sampler settings: it samples in a second).
    """
    from imr_bayes.comparison import compare

    fits = [f for (_, o), f in (ctx.value("fits").fits if ctx.value("fits") else {}).items()]
    if not fits:
        return StageResult("unavailable", "no Bayesian fit")
    freq = ctx.value("frequentist")
    pooling = ctx.options.get("pooling", dict(FULL_SAMPLING))
    table = compare(fits, freq.results if freq is not None else None, True,
                    pooling=pooling, seed=ctx.settings.seed)
    return StageResult(value=table)


def multiplicity(ctx: RunContext) -> StageResult:
    """Partial pooling of the published effects across outcomes, beside BH.

    By default the published 18-month IMR - CAU differences (Table 3) of all 12 outcomes;
    with the option ``pooling_aic_selected`` also the condition x time coefficients of
    Table 2, which exist only for the outcomes the paper's AIC step kept (pooling them is
    conditional on that selection). BH is over all 12 outcomes; always at the full sampler
    settings.
    """
    from imr_bayes import multiplicity as mult

    inputs = {"published_18m_difference": mult.published_effects(
        "itt", estimand="followup_difference")}
    if ctx.options.get("pooling_aic_selected"):
        inputs["published_condition_x_time_aic_selected"] = mult.published_effects(
            "itt", estimand="condition_x_time")
    pooled, versus, problems = {}, {}, []
    for name, effects in inputs.items():
        result = mult.partial_pooling(effects, seed=ctx.settings.seed, **FULL_SAMPLING)
        pooled[name] = result
        if "p" in effects.columns:
            pvalues = effects.set_index("outcome")["p"]
            versus[name] = mult.compare_with_bh(result, pvalues[result.table["outcome"]],
                                                family_size=len(effects))
        if not result.diagnostics.passed:
            problems.append(f"{name}: " + "; ".join(result.diagnostics.problems))
    return StageResult("warning" if problems else "ok",
                       "pooling fit(s) failed diagnostics: " + " | ".join(problems)
                       if problems else "", Multiplicity(pooled, versus))


def loo(ctx: RunContext) -> StageResult:
    """PSIS-LOO of each ITT fit against the same model without condition x time.

    Runs only when asked for (option ``loo``): one extra fit per outcome.
    """
    from imr_bayes import loo as loo_mod

    if not ctx.options.get("loo"):
        return StageResult("unavailable", "not requested (imr-bayes compare --loo)")
    fits = ctx.value("fits").fits if ctx.value("fits") else {}
    itt = {o: f for (a, o), f in fits.items() if a == "itt"}
    if not itt:
        return StageResult("unavailable", "no ITT fit")
    results = [loo_mod.loo_interaction(ctx.data, outcome=o, with_fit=f, seed=ctx.settings.seed,
                                       **ctx.settings.sampling) for o, f in itt.items()]
    return StageResult(value=results)


def power_scaling(ctx: RunContext) -> StageResult:
    """Power-scaling prior and likelihood sensitivity of every fit (arviz-stats ``psense``).

    One row per fit x estimate (:func:`imr_bayes.prior_checks.power_scaling`). A fit whose
    power-scaling importance weights have a Pareto k above the threshold makes the stage a
    warning: its sensitivities are unreliable.
    """
    from imr_bayes.prior_checks import power_scaling_table

    fits = ctx.value("fits").fits if ctx.value("fits") else {}
    if not fits:
        return StageResult("unavailable", "no Bayesian fit")
    table = power_scaling_table(fits.values())
    bad = table.loc[~table["reliable"], ["analysis", "outcome"]].drop_duplicates()
    if len(bad):
        return StageResult("warning", f"{len(bad)} fit(s) with a Pareto k of the power-scaling "
                                      "weights above the threshold: their sensitivities are "
                                      "unreliable", table)
    return StageResult(value=table)


def prior_predictive(ctx: RunContext) -> StageResult:
    """Prior predictive checks of every fit: prior arm x time means and effects vs the range.

    :func:`imr_bayes.prior_checks.prior_predictive` of each fit, seeded with the run's seed.
    """
    from imr_bayes.prior_checks import prior_predictive_table

    fits = ctx.value("fits").fits if ctx.value("fits") else {}
    if not fits:
        return StageResult("unavailable", "no Bayesian fit")
    return StageResult(value=prior_predictive_table(fits.values(), seed=ctx.settings.seed))


def cace_sensitivity(ctx: RunContext) -> StageResult:
    """Fit the CACE of the primary outcome at never-taker effect ratios rho = 0, 0.25, 0.5.

    Relaxes the exclusion restriction (:func:`imr_bayes.bayes.completion.cace_sensitivity`);
    the main run's ``cace`` fit of the outcome is reused for its own rho.
    """
    from imr_bayes.bayes.completion import SENSITIVITY_RHOS
    from imr_bayes.bayes.completion import cace_sensitivity as sensitivity

    settings = ctx.settings
    if settings.analyses is not None and "cace" not in settings.analyses:
        return StageResult("unavailable", "the cace analysis is not selected")
    outcome = (outcome_registry.PRIMARY if outcome_registry.PRIMARY in settings.outcomes
               else settings.outcomes[0])
    fits = ctx.value("fits").fits if ctx.value("fits") else {}
    existing = tuple(f for (a, o), f in fits.items() if a == "cace" and o == outcome)
    ctx.progress(ProgressEvent("plan", "models", total=len(SENSITIVITY_RHOS)))

    def progress(kind: str, rho: float) -> None:
        ctx.progress(ProgressEvent("start", "models", label=f"cace/{outcome}/rho={rho:g}")
                     if kind == "start" else ProgressEvent("advance", "models"))

    result = sensitivity(ctx.data, outcome, rhos=SENSITIVITY_RHOS, existing=existing,
                         progress=progress, seed=settings.seed, **settings.sampling)
    ctx.progress(ProgressEvent("finish", "models"))
    failed = int((result.table["diagnostics"] != "passed").sum())
    return StageResult("warning" if failed else "ok",
                       f"{failed} of {len(result.table)} CACE fits failed their diagnostics"
                       if failed else "", result)
