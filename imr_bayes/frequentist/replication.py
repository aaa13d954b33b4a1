"""Every outcome's published analysis at once: Tables 2/3 (ITT) or Tables 6/7 (completers)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from imr_bayes.frequentist.emm import marginal_means
from imr_bayes.frequentist.lmm import (
    TERMS,
    check_choice,
    fit_lmm,
    require_columns,
    select_sample,
)
from imr_bayes.frequentist.mixed import MixedFit
from imr_bayes.frequentist.multiplicity import benjamini_hochberg
from imr_bayes.frequentist.stepwise import StepwiseResult, stepwise
from imr_bayes.outcomes import CODES, SECONDARY, get
from imr_bayes.provenance import data_sha256

#: Columns of :attr:`Replication.fixed_effects`: ``imr_bayes.published.fixed_effects``'s
#: columns, then ``se``, ``df``, ``aic_selected`` (did the AIC search choose the term),
#: ``status`` and ``warning``.
FIXED_COLUMNS: tuple[str, ...] = (
    "outcome", "term", "b", "ci_low", "ci_high", "p", "p_text", "in_final_model", "source",
    "note", "se", "df", "aic_selected", "status", "warning",
)
SELECTIONS: tuple[str, ...] = ("stepwise", "published")
TABLES: dict[str, tuple[str, str]] = {"itt": ("Table 2", "Table 3"),
                                      "completers": ("Table 6", "Table 7")}
_ALL_TERMS = ("intercept", *TERMS)


def format_p(p: float) -> str:
    """Format a p value as the paper prints it (``<0.001``, else 2-3 decimals)."""
    if not np.isfinite(p):
        return ""
    if p < 0.001:
        return "<0.001"
    if p < 0.01:
        return f"{p:.3f}"
    return f"{p:.2f}"


@dataclass(frozen=True)
class Replication:
    """The reproduced Tables 2 + 3 (ITT) or 6 + 7 (completers).

    Attributes
    ----------
    sample : str
        ``"itt"`` or ``"completers"``.
    selection : str
        ``"stepwise"`` or ``"published"`` (how the final models were chosen).
    fixed_effects : pandas.DataFrame
        Final-model fixed effects (columns :data:`FIXED_COLUMNS`), four rows per outcome;
        terms the stepwise search left out have ``in_final_model=False`` and no numbers.
    marginal_means : pandas.DataFrame
        EMMs per arm x time with CIs, IMR - CAU differences with CIs and Cohen's d.
    steps : pandas.DataFrame
        Every AIC step of every outcome.
    multiplicity : pandas.DataFrame
        Condition x time p of the 11 secondary outcomes (full linear model) with
        Benjamini-Hochberg adjusted p.
    effects : pandas.DataFrame
        The condition x time effect of every outcome from the full linear model (time,
        condition, condition x time; REML), whatever the selection kept: ``analysis,
        outcome, estimand, estimate, se, df, ci_low, ci_high, p``, and ``estimate_d``,
        ``se_d`` divided by the pooled Table 1 baseline SD (the Bayesian
        ``condition_x_time_d`` yardstick), ``in_final_model``, ``status``, ``warning``.
        The frequentist side of the posterior-vs-frequentist comparison.
    models : dict
        Outcome code -> :class:`StepwiseResult`.
    n_participants : int
        Participants in the analysis sample.
    data_hash : str
        SHA-256 of the input data (:func:`imr_bayes.provenance.data_sha256`), to tie the
        tables to the data they came from.
    """

    sample: str
    selection: str
    fixed_effects: pd.DataFrame
    marginal_means: pd.DataFrame
    steps: pd.DataFrame
    multiplicity: pd.DataFrame
    effects: pd.DataFrame
    models: dict[str, StepwiseResult]
    n_participants: int
    data_hash: str

    @property
    def problems(self) -> pd.DataFrame:
        """Rows of :attr:`fixed_effects` whose fit status is not ``ok``."""
        fe = self.fixed_effects
        return fe[fe["status"] != "ok"]


def _fixed_rows(outcome: str, terms: tuple[str, ...], final: MixedFit,
                aic_terms: tuple[str, ...], source: str) -> list[dict]:
    coefs = final.coefficients.set_index("term")
    rows = []
    for term in _ALL_TERMS:
        inside = term == "intercept" or term in terms
        rec = {"outcome": outcome, "term": term, "in_final_model": inside,
               "aic_selected": term == "intercept" or term in aic_terms,
               "source": source, "status": final.status, "warning": final.warning_text}
        if inside:
            c = coefs.loc[term]
            rec.update(b=c["b"], ci_low=c["ci_low"], ci_high=c["ci_high"], p=c["p"],
                       p_text=format_p(c["p"]), se=c["se"], df=c["df"], note="")
        else:
            rec.update(p_text="", note="not in the final model")
        rows.append(rec)
    return rows


def published_terms(sample: str) -> dict[str, tuple[str, ...]]:
    """Terms of the paper's final model per outcome (Table 2 or 6), intercept excluded."""
    from imr_bayes import published

    fe = published.fixed_effects(sample)
    fe = fe[fe["in_final_model"].astype(bool) & (fe["term"] != "intercept")]
    return {o: tuple(t for t in TERMS if t in set(g["term"])) for o, g in fe.groupby("outcome")}


def replicate(
    data: pd.DataFrame,
    *,
    sample: str = "itt",
    selection: str = "stepwise",
    outcomes: tuple[str, ...] = CODES,
    aic_method: str = "ML",
    rule: str = "best",
    d_sd: str = "observed_pooled",
) -> Replication:
    """Reproduce the paper's mixed-model analysis of every outcome.

    Parameters
    ----------
    data : DataFrame
        Long data in the contract layout (e.g. :func:`imr_bayes.data.default_twin`).
    sample : {"itt", "completers"}
        Intention to treat (Tables 2, 3) or IMR completers + all controls (Tables 6, 7).
    selection : {"stepwise", "published"}
        Final model per outcome: the one the AIC search chooses on these data (the paper's
        protocol), or the one the paper printed (to compare estimates cell by cell).
        The AIC search runs in both cases; ``aic_selected`` records its choice.
    outcomes : tuple of str
        Outcome codes (default: all 12 in the paper's order).
    aic_method : {"ML", "REML"}
        Likelihood of the stepwise AIC comparisons (see :mod:`.stepwise`).
    rule : {"best", "forward"}
        Stepwise rule (see :mod:`.stepwise`).
    d_sd : str
        Denominator of Cohen's d (see :mod:`.emm`).

    Returns
    -------
    Replication
    """
    check_choice("selection", selection, SELECTIONS)
    require_columns(data, ["participant_id", "arm", "time", *outcomes])
    rows = select_sample(data, sample)
    fixed_table, means_table = TABLES[sample]
    paper_terms = published_terms(sample) if selection == "published" else {}
    source = (f"reproduced {fixed_table} ({sample}): REML, "
              f"{'published' if selection == 'published' else 'AIC-selected'} final model, "
              "model-based SE, Satterthwaite df")
    models: dict[str, StepwiseResult] = {}
    fixed, means, steps, effects = [], [], [], []
    for outcome in outcomes:
        res = stepwise(rows, outcome, aic_method=aic_method, rule=rule)
        models[outcome] = res
        terms, final = res.terms, res.final
        if selection == "published" and paper_terms.get(outcome, ()) != res.terms:
            terms = paper_terms.get(outcome, ())
            final = fit_lmm(rows, outcome, terms=terms, reml=True)
        fixed += _fixed_rows(outcome, terms, final, res.terms, source)
        steps.append(res.steps)
        means.append(marginal_means(rows, outcome, d_sd=d_sd))
        full = final if terms == TERMS else fit_lmm(rows, outcome, terms=TERMS, reml=True)
        c = full.coefficients.set_index("term").loc["condition_x_time"]
        sd = get(outcome).pooled_baseline_sd()
        effects.append({
            "analysis": sample, "outcome": outcome, "estimand": "condition_x_time",
            "estimate": c["b"], "se": c["se"], "df": c["df"], "ci_low": c["ci_low"],
            "ci_high": c["ci_high"], "p": c["p"], "estimate_d": c["b"] / sd,
            "se_d": c["se"] / sd, "baseline_sd": sd,
            "in_final_model": "condition_x_time" in terms, "status": full.status,
            "warning": full.warning_text})
    effects_df = pd.DataFrame(effects)
    mult_df = effects_df[effects_df["outcome"].isin(SECONDARY)] if len(effects_df) else effects_df
    mult_df = mult_df.rename(columns={"estimate": "b"}).reindex(
        columns=["outcome", "b", "p", "in_final_model", "status"]).reset_index(drop=True)
    if len(mult_df):
        mult_df["p_bh"] = benjamini_hochberg(mult_df["p"].to_numpy())
        mult_df["significant"] = mult_df["p"] < 0.05
        mult_df["significant_bh"] = mult_df["p_bh"] < 0.05
    means_df = pd.concat(means, ignore_index=True) if means else pd.DataFrame()
    if len(means_df):
        means_df.insert(len(means_df.columns) - 2, "source",
                        f"reproduced {means_table} ({sample}): categorical-time REML model")
    return Replication(
        sample=sample,
        selection=selection,
        fixed_effects=pd.DataFrame(fixed).reindex(columns=list(FIXED_COLUMNS)),
        marginal_means=means_df,
        steps=pd.concat(steps, ignore_index=True) if steps else pd.DataFrame(),
        multiplicity=mult_df,
        effects=effects_df,
        models=models,
        n_participants=int(rows["participant_id"].nunique()),
        data_hash=data_sha256(data),
    )
