"""The verdict on the trial from its published numbers: one reading and one sentence per outcome.

For each of the 12 outcomes the verdict takes one printed ITT estimate:

* the condition x time coefficient B of Table 2 where the paper's final (stepwise AIC)
  model kept the interaction: it is the paper's own test of IMR's effect;
* otherwise the printed 18-month IMR - CAU difference of Table 3 (the interaction's cell
  of Table 2 is empty, so Table 2 has no effect estimate for the outcome).

It reads that estimate's summary-level reanalysis (:mod:`imr_bayes.summary_level`: normal
likelihood from the estimate and its 95 % CI, conjugate normal priors scaled to the planned
d = 0.40) under the reference, sceptical and enthusiastic priors, and turns P(benefit) and
P(|d| > 0.2) under the sceptical prior into a plain sentence by the rules of
:func:`reading` (thresholds: the constants below; ``docs/report.md`` explains them). ``d``
is the standardized effect at 18 months: 2B or the 18-month difference, divided by the
pooled Table 1 baseline SD.

Audit flags (:func:`imr_bayes.audit.audit_published`) on a number the verdict reads are
re-read with the alternative the flag suggests (the CI midpoint as the centre, the SE from
the printed p, the difference from the arm means, the SE from the arm CIs) to say whether
the flag changes the reading (:func:`audit_findings`).

Everything here is computed from printed numbers; nothing is fitted or sampled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from imr_bayes import outcomes as outcome_registry
from imr_bayes.constants import CI_LEVEL
from imr_bayes.errors import ImrBayesError
from imr_bayes.indices import CLINICALLY_IMPORTANT_D

#: Priors of the summary-level grid shown in the verdict, in column order.
VERDICT_PRIORS: tuple[str, ...] = ("reference", "sceptical", "enthusiastic")
#: The prior whose posterior the sentence reads: centred on no effect, 5 % probability of an
#: effect beyond the planned d = 0.40 (Spiegelhalter, Abrams & Myles 2004). A reading that
#: convinces under it convinces a sceptic.
SENTENCE_PRIOR: str = "sceptical"
#: P(benefit) at or above which the evidence of a benefit is called strong; P(benefit) at or
#: below 1 - STRONG_P is strong evidence of harm. 0.975 is the one-sided counterpart of a
#: two-sided p < 0.05 (and the tipping-point threshold of the missing-data analysis).
STRONG_P: float = 0.975
#: ... moderate (the counterpart of a one-sided p < 0.10).
MODERATE_P: float = 0.90
#: ... weak (3 to 1 odds on the direction). Between 1 - WEAK_P and WEAK_P the direction is
#: open.
WEAK_P: float = 0.75
#: P(|d| > 0.2) at or above which the effect is called probably beyond |d| = 0.2.
LIKELY_P: float = 0.75
#: P(|d| > 0.2) at or below which the effect is called probably within |d| = 0.2.
UNLIKELY_P: float = 0.25
#: The size the sentence judges: Cohen's "small", half the planned effect.
IMPORTANT_D: float = CLINICALLY_IMPORTANT_D
#: Measurement moment of the Table 3 difference read when Table 2 has no interaction.
FOLLOW_UP_TIME: int = 2

_T2, _T3 = "condition_x_time", "mean_difference"
#: Audit locations (after "<published row>: ") that concern the number the verdict reads.
NUMBER_LOCATIONS: dict[str, tuple[str, ...]] = {
    _T2: ("B (95% CI)", "B, 95% CI, p"),
    _T3: ("mean difference (95% CI)", "mean difference", "95% CI of the mean difference"),
}
#: Columns of :attr:`Verdict.table` that hold the numbers behind each sentence.
TABLE_COLUMNS: tuple[str, ...] = (
    "outcome", "label", "published_row", "estimand", "printed", "estimate", "ci_low",
    "ci_high", "p_published", "d", "d_low", "d_high",
    *(f"p_benefit_{p}" for p in VERDICT_PRIORS),
    *(f"p_abs_d_gt_{IMPORTANT_D:g}_{p}" for p in VERDICT_PRIORS),
    "reading", "audit_flags", "d_posterior", "d_posterior_low", "d_posterior_high", "sentence",
)
FINDING_COLUMNS: tuple[str, ...] = (
    "outcome", "label", "published_row", "check", "printed", "expected", "severity",
    "alternative", "p_benefit_printed", "p_benefit_alternative", "p_abs_d_printed",
    "p_abs_d_alternative", "reading_printed", "reading_alternative", "changes_reading",
    "sentence",
)


@dataclass(frozen=True)
class Verdict:
    """The verdict on the trial from the published numbers.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per outcome (the paper's order), :data:`TABLE_COLUMNS`: the published row
        read and its printed numbers, ``d`` (standardized 18-month effect, positive favours
        IMR) with its CI, P(benefit) and P(|d| > 0.2) per prior of :data:`VERDICT_PRIORS`,
        the reading, the number of audit flags on the number, the posterior mean and 95 %
        ETI of d under :data:`SENTENCE_PRIOR`, and the sentence.
    findings : pandas.DataFrame
        One row per audit flag on a number the verdict reads, :data:`FINDING_COLUMNS`.
    """

    table: pd.DataFrame
    findings: pd.DataFrame


def p_abs_beyond(post_mean: Any, post_sd: Any, threshold: Any) -> Any:
    """Return P(|effect| > threshold) under a normal posterior (element-wise)."""
    mean, sd, c = (np.asarray(x, dtype=float) for x in (post_mean, post_sd, threshold))
    return special.ndtr((-c - mean) / sd) + special.ndtr((mean - c) / sd)


def reading(p_benefit: float, p_abs_d: float) -> str:
    """Turn P(benefit) and P(|d| > 0.2) into the verdict's phrase.

    Direction, from P(benefit) = p: strong / moderate / weak evidence of a benefit when
    p >= :data:`STRONG_P` / :data:`MODERATE_P` / :data:`WEAK_P`, of harm when
    1 - p reaches the same thresholds, no clear direction in between. Size, from
    q = P(|d| > 0.2): probably beyond d = 0.2 when q >= :data:`LIKELY_P`, probably smaller
    when q <= :data:`UNLIKELY_P`, uncertain in between.

    Returns
    -------
    str
        E.g. ``"weak evidence of a benefit, probably smaller than d = 0.2"`` or ``"no clear
        direction, and an effect beyond |d| = 0.2 is unlikely"``.
    """
    for p, what in ((p_benefit, "a benefit"), (1 - p_benefit, "harm")):
        for threshold, strength in ((STRONG_P, "strong"), (MODERATE_P, "moderate"),
                                    (WEAK_P, "weak")):
            if p >= threshold:
                if p_abs_d >= LIKELY_P:
                    size = f", probably beyond d = {IMPORTANT_D:g}"
                elif p_abs_d <= UNLIKELY_P:
                    size = f", probably smaller than d = {IMPORTANT_D:g}"
                else:
                    size = " of uncertain size"
                return f"{strength} evidence of {what}{size}"
    if p_abs_d <= UNLIKELY_P:
        return f"no clear direction, and an effect beyond |d| = {IMPORTANT_D:g} is unlikely"
    return "inconclusive: neither the direction nor the size is settled"


def _prob(p: float) -> str:
    """Format a probability with two decimals, never as a certainty."""
    if p > 0.995:
        return "> 0.99"
    if p < 0.005:
        return "< 0.01"
    return f"{p:.2f}"


def _favours(d: float) -> str:
    """Name the arm a standardized effect (positive favours IMR) points to."""
    return "favours IMR" if d > 0 else "favours CAU" if d < 0 else "shows no difference"


def sentence(row: dict[str, Any]) -> str:
    """Return the verdict's plain sentence for one row of :attr:`Verdict.table`."""
    if row["estimand"] == _T2:
        head = (f"the published ITT condition x time interaction (Table 2, kept in the "
                f"final model) {_favours(row['d'])} (B {row['printed']})")
    else:
        head = ("Table 2 has no condition x time (the stepwise selection dropped it), so the "
                f"printed 18-month IMR - CAU difference (Table 3) is read: it "
                f"{_favours(row['d'])} ({row['printed']})")
    q = row[f"p_abs_d_gt_{IMPORTANT_D:g}_{SENTENCE_PRIOR}"]
    audit = ("; the audit flags this number (see the audit findings)"
             if row["audit_flags"] else "")
    return (f"{row['label']}: {head}; under a {SENTENCE_PRIOR} prior P(benefit) = "
            f"{_prob(row[f'p_benefit_{SENTENCE_PRIOR}'])}, P(|d| > {IMPORTANT_D:g}) = "
            f"{_prob(q)} — {row['reading']}{audit}.")


def _printed(source: str, estimand: str) -> str:
    """Return the estimate, 95 % CI and p of a published row with their printed precision."""
    from imr_bayes import published

    if estimand == _T2:
        t = published.printed(published.FIXED_EFFECT_TABLE["itt"]).set_index("source")
        est, low, high = t.loc[source, ["b", "ci_low", "ci_high"]]
        p = f", p {t.loc[source, 'p_text']}" if t.loc[source, "p_text"] else ""
    else:
        t = published.printed(published.MARGINAL_MEANS_TABLE["itt"]).set_index("source")
        est, low, high = t.loc[source, ["diff", "diff_ci_low", "diff_ci_high"]]
        p = ""
    return f"{est}, 95 % CI {low} to {high}{p}"


def published_rows(reanalysed: pd.DataFrame) -> pd.DataFrame:
    """Pick each outcome's verdict estimate from :func:`summary_level.reanalyze_published`.

    Table 2's condition x time where it was printed, else Table 3's 18-month difference;
    all priors of the grid are kept.
    """
    itt = reanalysed[(reanalysed["sample"] == "itt")
                     & reanalysed["outcome"].isin(outcome_registry.CODES)]
    t2 = itt[itt["estimand"] == _T2]
    t3 = itt[(itt["estimand"] == _T3) & (itt["time"] == FOLLOW_UP_TIME)
             & ~itt["outcome"].isin(t2["outcome"])]
    rows = pd.concat([t2, t3], ignore_index=True)
    missing = sorted(set(outcome_registry.CODES) - set(rows["outcome"]))
    if missing:
        raise ImrBayesError("no published ITT estimate for: " + ", ".join(missing))
    absent = [p for p in VERDICT_PRIORS if p not in set(rows["prior"])]
    if absent:
        raise ImrBayesError(f"the summary-level prior grid lacks {absent}; the verdict needs "
                            + ", ".join(VERDICT_PRIORS))
    return rows


def _flags_on(flags: pd.DataFrame, source: str, estimand: str) -> pd.DataFrame:
    wanted = {f"{source}: {what}" for what in NUMBER_LOCATIONS[estimand]}
    return flags[flags["location"].isin(wanted)]


def _standardized(rows: pd.DataFrame, values: pd.Series) -> pd.Series:
    sign = np.where(rows["benefit"] == "higher", 1.0, -1.0)
    return sign * values * rows["horizon"] / rows["sd_scale"]


def verdict_table(reanalysed: pd.DataFrame, flags: pd.DataFrame | None = None
                  ) -> pd.DataFrame:
    """Return one row per outcome: the estimate read, its posteriors and the sentence.

    Parameters
    ----------
    reanalysed : pandas.DataFrame
        :func:`imr_bayes.summary_level.reanalyze_published` (the summary-level stage).
    flags : pandas.DataFrame, optional
        :func:`imr_bayes.audit.audit_published`; counts the flags on each number read.

    Returns
    -------
    pandas.DataFrame
        :data:`TABLE_COLUMNS`, in the paper's outcome order.
    """
    rows = published_rows(reanalysed)
    rows = rows.assign(p_abs=p_abs_beyond(rows["post_mean"], rows["post_sd"],
                                          rows["clinically_important"]))
    keys = ["outcome", "estimand"]
    first = rows[rows["prior"] == VERDICT_PRIORS[0]].set_index("outcome")
    out = pd.DataFrame({
        "outcome": first.index,
        "label": [outcome_registry.get(o).abbreviation for o in first.index],
        "published_row": first["source"].to_numpy(),
        "estimand": first["estimand"].to_numpy(),
        "printed": [_printed(s, e) for s, e in zip(first["source"], first["estimand"],
                                                   strict=True)],
        "estimate": first["estimate"].to_numpy(), "ci_low": first["ci_low"].to_numpy(),
        "ci_high": first["ci_high"].to_numpy(), "p_published": first["p_published"].to_numpy(),
    })
    est = _standardized(first, first["estimate"]).to_numpy()
    low = _standardized(first, first["ci_low"]).to_numpy()
    high = _standardized(first, first["ci_high"]).to_numpy()
    out["d"], out["d_low"], out["d_high"] = est, np.minimum(low, high), np.maximum(low, high)
    for prior in VERDICT_PRIORS:
        sub = rows[rows["prior"] == prior].set_index(keys)
        index = pd.MultiIndex.from_frame(out[keys])
        out[f"p_benefit_{prior}"] = sub.loc[index, "p_benefit"].to_numpy()
        out[f"p_abs_d_gt_{IMPORTANT_D:g}_{prior}"] = sub.loc[index, "p_abs"].to_numpy()
    post = rows[rows["prior"] == SENTENCE_PRIOR].set_index("outcome").loc[first.index]
    ends = [_standardized(post, post[c]).to_numpy() for c in ("eti95_low", "eti95_high")]
    out["d_posterior"] = _standardized(post, post["post_mean"]).to_numpy()
    out["d_posterior_low"], out["d_posterior_high"] = np.minimum(*ends), np.maximum(*ends)
    q = f"p_abs_d_gt_{IMPORTANT_D:g}_{SENTENCE_PRIOR}"
    out["reading"] = [reading(p, a) for p, a in zip(out[f"p_benefit_{SENTENCE_PRIOR}"],
                                                    out[q], strict=True)]
    out["audit_flags"] = [
        0 if flags is None else len(_flags_on(flags, s, e))
        for s, e in zip(out["published_row"], out["estimand"], strict=True)]
    out["sentence"] = [sentence(r) for r in out.to_dict("records")]
    order = {code: i for i, code in enumerate(outcome_registry.CODES)}
    out = out.sort_values("outcome", key=lambda s: s.map(order)).reset_index(drop=True)
    return out[list(TABLE_COLUMNS)]


def _z() -> float:
    return float(special.ndtri(0.5 + CI_LEVEL / 2))


def alternative(check: str, row: dict[str, Any], means: pd.DataFrame
                ) -> tuple[str, float, float, float] | None:
    """Return the numbers an audit flag suggests: (description, estimate, ci_low, ci_high).

    Parameters
    ----------
    check : str
        The audit's ``check`` of the flag.
    row : dict
        The verdict's published estimate (``estimate, ci_low, ci_high, p_published,
        outcome``).
    means : pandas.DataFrame
        Table 3 (:func:`imr_bayes.published.marginal_means`), for flags on a difference.

    Returns
    -------
    tuple or None
        None when the flag suggests no other number (the reading cannot be redone).
    """
    est, lo, hi, p = row["estimate"], row["ci_low"], row["ci_high"], row["p_published"]
    if check == "estimate at centre of symmetric CI":
        mid = (lo + hi) / 2
        return f"the CI midpoint {mid:.4g} as the estimate", mid, lo, hi
    if check in ("p consistent with estimate and CI (z approximation)",
                 "p < 0.05 iff CI excludes 0"):
        if pd.isna(p) or not 0 < p < 1 or est == 0:
            return None
        se = abs(est) / float(special.ndtri(1 - p / 2))
        return (f"the SE from the printed p {p:g} (SE {se:.3g}) instead of the CI", est,
                est - _z() * se, est + _z() * se)
    arm = means[(means["outcome"] == row["outcome"]) & (means["time"] == FOLLOW_UP_TIME)]
    arm = arm.set_index("arm")
    if check == "difference = IMR mean - CAU mean":
        diff = float(arm.loc["imr", "mean"] - arm.loc["cau", "mean"])
        return (f"the difference of the arm means {diff:.4g}", diff, lo + diff - est,
                hi + diff - est)
    if check == "difference CI width from arm CIs":
        hw = math.hypot(*((arm.loc[a, "ci_high"] - arm.loc[a, "ci_low"]) / 2
                          for a in ("imr", "cau")))
        return f"the CI half-width {hw:.3g} from the arm CIs", est, est - hw, est + hw
    return None


def _posterior(reanalyze, est: float, lo: float, hi: float, first: dict[str, Any]
               ) -> tuple[float, float]:
    """P(benefit) and P(|d| > 0.2) under the sentence prior for another reading."""
    res = reanalyze(est, lo, hi, sd_scale=first["sd_scale"], horizon=first["horizon"],
                    benefit=first["benefit"]).set_index("prior").loc[SENTENCE_PRIOR]
    return float(res["p_benefit"]), float(p_abs_beyond(res["post_mean"], res["post_sd"],
                                                       res["clinically_important"]))


def audit_findings(table: pd.DataFrame, reanalysed: pd.DataFrame, flags: pd.DataFrame,
                   means: pd.DataFrame) -> pd.DataFrame:
    """Say how each audit flag on a number of the verdict changes its reading.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`verdict_table`.
    reanalysed : pandas.DataFrame
        :func:`imr_bayes.summary_level.reanalyze_published` (SD, horizon, direction).
    flags : pandas.DataFrame
        :func:`imr_bayes.audit.audit_published`.
    means : pandas.DataFrame
        Table 3 (:func:`imr_bayes.published.marginal_means`).

    Returns
    -------
    pandas.DataFrame
        :data:`FINDING_COLUMNS`, one row per flag.
    """
    from imr_bayes.summary_level import reanalyze

    described = published_rows(reanalysed).drop_duplicates("outcome").set_index("outcome")
    q = f"p_abs_d_gt_{IMPORTANT_D:g}_{SENTENCE_PRIOR}"
    out = []
    for row in table.to_dict("records"):
        for flag in _flags_on(flags, row["published_row"], row["estimand"]).to_dict("records"):
            printed_p, printed_q = row[f"p_benefit_{SENTENCE_PRIOR}"], row[q]
            alt = alternative(flag["check"], row, means)
            finding = {
                "outcome": row["outcome"], "label": row["label"],
                "published_row": row["published_row"], "check": flag["check"],
                "printed": flag["printed"], "expected": flag["expected"],
                "severity": flag["severity"], "p_benefit_printed": printed_p,
                "p_abs_d_printed": printed_q, "reading_printed": row["reading"]}
            if alt is None:
                finding.update(alternative="none computable", p_benefit_alternative=math.nan,
                               p_abs_d_alternative=math.nan, reading_alternative="",
                               changes_reading=False)
                effect = ("the flag suggests no other number, so the reading cannot be "
                          "redone; read it with caution")
            else:
                what, *numbers = alt
                pb, pa = _posterior(reanalyze, *numbers, described.loc[row["outcome"]])
                new = reading(pb, pa)
                finding.update(alternative=what, p_benefit_alternative=pb,
                               p_abs_d_alternative=pa, reading_alternative=new,
                               changes_reading=new != row["reading"])
                effect = (f"reading it with {what} gives, under the {SENTENCE_PRIOR} prior, "
                          f"P(benefit) = {_prob(pb)} (as printed {_prob(printed_p)}) and "
                          f"P(|d| > {IMPORTANT_D:g}) = {_prob(pa)} ({_prob(printed_q)}): "
                          + (f"the reading changes from \"{row['reading']}\" to \"{new}\""
                             if new != row["reading"]
                             else f"the reading stays \"{new}\""))
            finding["sentence"] = (f"{row['label']} ({row['published_row']}): the audit flags "
                                   f"\"{flag['check']}\" ({flag['severity']}; printed "
                                   f"{flag['printed']}, expected {flag['expected']}); "
                                   f"{effect}.")
            out.append(finding)
    return pd.DataFrame(out, columns=list(FINDING_COLUMNS))


def verdict(reanalysed: pd.DataFrame, flags: pd.DataFrame | None = None, *,
            means: pd.DataFrame | None = None) -> Verdict:
    """Compute the verdict and the audit findings that concern it.

    Parameters
    ----------
    reanalysed : pandas.DataFrame
        :func:`imr_bayes.summary_level.reanalyze_published`.
    flags : pandas.DataFrame, optional
        :func:`imr_bayes.audit.audit_published`; None: no findings.
    means : pandas.DataFrame, optional
        Table 3; default :func:`imr_bayes.published.marginal_means` ("itt").

    Returns
    -------
    Verdict
    """
    from imr_bayes import published

    table = verdict_table(reanalysed, flags)
    if flags is None:
        return Verdict(table, pd.DataFrame(columns=list(FINDING_COLUMNS)))
    means = published.marginal_means("itt") if means is None else means
    return Verdict(table, audit_findings(table, reanalysed, flags, means))
