"""Published and frequentist counterparts of an analysis, as :class:`Estimates`.

Each analysis spec says where each of its estimands was printed (``published:`` of the
estimand: a table kind and a term, statistic or text key, of the spec's ``published.sample``).
This module follows that map twice: into the paper's tables (:mod:`imr_bayes.published`),
giving ``source = "published"`` estimates, and into the frequentist replication of the same
tables on the data at hand (:class:`FrequentistResults`), giving ``source = "frequentist"``.
Nothing here knows which analysis maps to which table: the specs do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes.constants import CI_LEVEL
from imr_bayes.estimates import Estimates, frame

#: ``note`` of a published term the paper's stepwise AIC selection dropped (its conclusion
#: is "no effect"; no number is printed).
DROPPED: str = "term not in the paper's final model (AIC step)"
#: Where the frequentist replication keeps each text result the paper prints:
#: text key -> (attribute of :class:`FrequentistResults`, table, value column).
TEXT_RESULTS: dict[str, tuple[str, str, str]] = {
    "hosp_or": ("hospitalization", "odds_ratio", "odds_ratio"),
}


@dataclass(frozen=True)
class FrequentistResults:
    """The frequentist replication of every published analysis on one data set.

    Attributes
    ----------
    replications : dict
        Sample (``itt``, ``completers``) -> :class:`imr_bayes.frequentist.Replication`
        (Tables 2 + 3, 6 + 7).
    fidelity : dict
        Outcome -> :class:`imr_bayes.frequentist.FidelityResult` (Tables 4, 5).
    hospitalization : HospitalizationResult or None
        Odds ratio and the length-of-stay test.
    """

    replications: dict[str, Any] = field(default_factory=dict)
    fidelity: dict[str, Any] = field(default_factory=dict)
    hospitalization: Any = None


def run_frequentist(data: pd.DataFrame, outcomes: Iterable[str]) -> FrequentistResults:
    """Replicate every published frequentist analysis on ``data`` for ``outcomes``.

    ITT and completer LMMs with the paper's stepwise AIC (Tables 2, 3, 6, 7) and
    Benjamini-Hochberg, the fidelity analyses of the outcomes with a fidelity table
    (Tables 4, 5), and the hospitalization odds ratio and length-of-stay test.
    """
    from imr_bayes import frequentist as freq
    from imr_bayes.trial import fidelity_outcomes

    outcomes = tuple(outcomes)
    reps = {s: freq.replicate(data, sample=s, outcomes=outcomes) for s in ("itt", "completers")}
    fid = {o: freq.fidelity_analysis(data, outcome=o) for o in fidelity_outcomes()
           if o in outcomes}
    return FrequentistResults(reps, fid, freq.hospitalization(data))


def _label(table_key: str) -> str:
    return table_key.replace("table", "Table ")


def _row(spec, outcome: str, e, source: str, **values: Any) -> dict[str, Any]:
    return {"source": source, "analysis": spec.name, "outcome": outcome, "estimand": e.name,
            "scale": e.scale, "ci_level": CI_LEVEL, **values}


def _rows(spec, outcome: str, tables: _Tables) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for e in spec.estimands:
        ref = e.published
        if ref is None:
            continue
        if ref.table == "fixed_effects":
            rows += tables.fixed(spec, outcome, e, ref)
        elif ref.table == "marginal_means":
            rows += tables.means(spec, outcome, e, ref)
        elif ref.table == "fidelity":
            rows += tables.fidelity(spec, outcome, e, ref)
        else:
            rows += tables.text(spec, outcome, e, ref)
    return rows


@dataclass(frozen=True)
class _Tables:
    """The four kinds of printed table, read from one source.

    Each reader returns a frame with the columns of the published table (and a
    ``reference`` column), or None where the source has no such table.
    """

    source: str
    fixed_table: Callable[[str], pd.DataFrame | None]
    means_table: Callable[[str], pd.DataFrame | None]
    fidelity_table: Callable[[str], pd.DataFrame | None]
    text_result: Callable[[Any], dict[str, Any] | None]

    def fixed(self, spec, outcome, e, ref) -> list[dict[str, Any]]:
        fe = self.fixed_table(spec.published.sample)
        if fe is None:
            return []
        r = fe[(fe["outcome"] == outcome) & (fe["term"] == ref.term)]
        if r.empty:
            return []
        r = r.iloc[0]
        if not bool(r.get("in_final_model", True)):
            return [_row(spec, outcome, e, self.source, reference=r["reference"],
                         note=DROPPED)]
        return [_row(spec, outcome, e, self.source, estimate=r["b"], ci_low=r["ci_low"],
                     ci_high=r["ci_high"], p=r["p"], sd=r.get("se", np.nan),
                     reference=r["reference"])]

    def means(self, spec, outcome, e, ref) -> list[dict[str, Any]]:
        mm = self.means_table(spec.published.sample)
        if mm is None:
            return []
        mm = mm[mm["outcome"] == outcome]
        col = {"mean": ("mean", "ci_low", "ci_high"),
               "diff": ("diff", "diff_ci_low", "diff_ci_high"),
               "d": ("d", None, None)}[ref.statistic]
        if col[0] not in mm.columns:
            return []
        out = []
        for t in e.times or ():
            for arm in (("imr", "cau") if e.arms else ("imr",)):
                r = mm[(mm["arm"] == arm) & (mm["time"] == t)]
                if r.empty or pd.isna(r[col[0]].iloc[0]):
                    continue
                r = r.iloc[0]
                out.append(_row(
                    spec, outcome, e, self.source, arm=arm if e.arms else None, time=t,
                    estimate=r[col[0]], ci_low=r[col[1]] if col[1] else np.nan,
                    ci_high=r[col[2]] if col[2] else np.nan, reference=r["reference"],
                    note="no p printed; the CI decides" if ref.statistic == "diff" else ""))
        return out

    def fidelity(self, spec, outcome, e, ref) -> list[dict[str, Any]]:
        fe = self.fidelity_table(outcome)
        if fe is None:
            return []
        r = fe[fe["term"] == ref.term]
        if r.empty:
            return []
        r = r.iloc[0]
        return [_row(spec, outcome, e, self.source, estimate=r["b"], ci_low=r["ci_low"],
                     ci_high=r["ci_high"], p=r["p"], sd=r.get("se", np.nan),
                     reference=r["reference"])]

    def text(self, spec, outcome, e, ref) -> list[dict[str, Any]]:
        r = self.text_result(ref)
        return [] if r is None else [_row(spec, outcome, e, self.source, **r)]


def _published_tables() -> _Tables:
    """Readers of the paper's tables (:mod:`imr_bayes.published`)."""
    from imr_bayes import published
    from imr_bayes.trial import facts

    def fixed(sample):
        if sample not in published.FIXED_EFFECT_TABLE:
            return None
        label = _label(published.FIXED_EFFECT_TABLE[sample])
        return published.fixed_effects(sample).assign(reference=label)

    def means(sample):
        if sample not in published.MARGINAL_MEANS_TABLE:
            return None
        label = _label(published.MARGINAL_MEANS_TABLE[sample])
        return published.marginal_means(sample).assign(reference=label)

    def fidelity(outcome):
        tables = facts().fidelity.outcomes
        if outcome not in tables:
            return None
        return published.fidelity_effects(outcome).assign(reference=tables[outcome])

    def text(ref):
        keys = set(published.text_results()["key"])
        if ref.key not in keys:
            return None

        def value(key: str) -> float:
            return published.text_value(key) if key in keys else np.nan

        return {"estimate": value(ref.key), "ci_low": value(f"{ref.key}_ci_low"),
                "ci_high": value(f"{ref.key}_ci_high"),
                "p": value(ref.p_key) if ref.p_key else np.nan, "reference": "Results text"}

    return _Tables("published", fixed, means, fidelity, text)


def _frequentist_tables(results: FrequentistResults) -> _Tables:
    """Readers of the reproduced tables in ``results``."""
    def fixed(sample):
        rep = results.replications.get(sample)
        if rep is None:
            return None
        fe = rep.fixed_effects
        # condition x time: the full linear model's estimate, whatever the AIC step kept
        full = rep.effects.rename(columns={"estimand": "term", "estimate": "b"})
        full = full.assign(in_final_model=True)[["outcome", "term", "b", "ci_low", "ci_high",
                                                 "p", "se", "in_final_model"]]
        fe = pd.concat([fe[fe["term"] != "condition_x_time"], full], ignore_index=True)
        return fe.assign(reference="reproduced")

    def means(sample):
        rep = results.replications.get(sample)
        return None if rep is None else rep.marginal_means.assign(reference="reproduced")

    def fidelity(outcome):
        fid = results.fidelity.get(outcome)
        return None if fid is None else fid.coefficients.assign(reference="reproduced")

    def text(ref):
        where = TEXT_RESULTS.get(ref.key)
        owner = getattr(results, where[0]) if where else None
        if owner is None:
            return None
        r = getattr(owner, where[1]).iloc[0]
        return {"estimate": r[where[2]], "ci_low": r["ci_low"], "ci_high": r["ci_high"],
                "p": r["p"], "reference": "reproduced"}

    return _Tables("frequentist", fixed, means, fidelity, text)


def published_estimates(spec, outcome: str) -> Estimates:
    """Return the printed counterparts of ``spec``'s estimands for ``outcome`` (may be empty)."""
    if spec.published is None:
        return Estimates.empty()
    return Estimates(frame(_rows(spec, outcome, _published_tables())))


def frequentist_estimates(results: FrequentistResults | None, spec, outcome: str
                          ) -> Estimates:
    """Return the reproduced frequentist counterparts of ``spec``'s estimands for ``outcome``."""
    if results is None or spec.published is None:
        return Estimates.empty()
    return Estimates(frame(_rows(spec, outcome, _frequentist_tables(results))))


def benjamini_hochberg(results: FrequentistResults | None, spec) -> pd.DataFrame:
    """BH-adjusted p of ``condition_x_time`` for the spec's published sample (may be empty).

    Columns ``analysis, outcome, estimand, p_bh``.
    """
    empty = pd.DataFrame(columns=["analysis", "outcome", "estimand", "p_bh"])
    if results is None or spec.published is None:
        return empty
    rep = results.replications.get(spec.published.sample)
    if rep is None or not len(rep.multiplicity):
        return empty
    m = rep.multiplicity
    return pd.DataFrame({"analysis": spec.name, "outcome": m["outcome"],
                         "estimand": "condition_x_time", "p_bh": m["p_bh"].astype(float)})
