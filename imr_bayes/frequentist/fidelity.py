"""Fidelity analysis (Tables 4 and 5).

Methods: "This analysis included all participants with fidelity scores who had attended
at least ten IMR sessions ... Participants were divided into high and moderate-to-low
fidelity groups, with mixed models used to assess differences in time effects between the
control group and the two experimental subgroups. The control group was considered the
reference group. The model components were comprised of the three measurement moments, the
three subgroups (high fidelity, moderate/low fidelity, and control), and their
interactions." High fidelity is a group score >= 4.0.

So the sample is every control plus the IMR participants with ``sessions_attended >= 10``
in a scored group; the model is subgroup (reference: control) x categorical time
(reference: baseline) with a random participant intercept, fitted by REML. The omnibus test
of the subgroup x time interaction (4 df) is an F test with a Satterthwaite denominator df
(the paper prints F(4, 271) and F(4, 237)); the Wald chi-square is given alongside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from imr_bayes.frequentist.lmm import check_choice, require_columns
from imr_bayes.frequentist.mixed import MixedFit, fit_mixed
from imr_bayes.frequentist.replication import format_p
from imr_bayes.outcomes import CODES
from imr_bayes.trial import facts

#: Term names as in :data:`imr_bayes.published.FIDELITY_TERMS`.
FIDELITY_TERMS: tuple[str, ...] = (
    "intercept", "high", "moderate", "followup", "post",
    "high_x_followup", "high_x_post", "moderate_x_followup", "moderate_x_post",
)
INTERACTION_TERMS: tuple[str, ...] = FIDELITY_TERMS[5:]
COEFFICIENT_COLUMNS: tuple[str, ...] = (
    "term", "b", "se", "t", "df", "p", "p_text", "ci_low", "ci_high", "status", "warning",
)


@dataclass(frozen=True)
class FidelityResult:
    """Reproduced Table 4 or 5.

    Attributes
    ----------
    outcome : str
        Outcome code.
    coefficients : pandas.DataFrame
        Columns :data:`COEFFICIENT_COLUMNS`, terms :data:`FIDELITY_TERMS`.
    omnibus : pandas.DataFrame
        One row: ``outcome, f, num_df, den_df, p, chi2, p_chi2, status, warning``.
    subgroups : pandas.DataFrame
        Participants and groups per subgroup (``subgroup, participants, groups,
        mean_fidelity``), aggregates only.
    fit : MixedFit
        The underlying fit.
    """

    outcome: str
    coefficients: pd.DataFrame
    omnibus: pd.DataFrame
    subgroups: pd.DataFrame
    fit: MixedFit


def fidelity_sample(data: pd.DataFrame) -> pd.DataFrame:
    """Select controls and IMR participants with >= 10 sessions in a scored group.

    Adds ``subgroup``: ``"control"``, ``"high"`` (group fidelity >= 4.0) or ``"moderate"``.
    The session minimum and the threshold are the trial facts (``fidelity``).
    """
    rule = facts().fidelity
    require_columns(data, ["participant_id", "arm", "time", "sessions_attended", "fidelity"])
    imr = (data["arm"] == "imr").to_numpy()
    sessions = pd.to_numeric(data["sessions_attended"], errors="coerce").to_numpy(float)
    fid = pd.to_numeric(data["fidelity"], errors="coerce").to_numpy(float)
    eligible = imr & (sessions >= rule.min_sessions) & np.isfinite(fid)
    keep = ~imr | eligible
    out = data[keep].copy()
    out["subgroup"] = np.where(~imr[keep], "control",
                               np.where(fid[keep] >= rule.high_threshold, "high", "moderate"))
    return out


def _design(rows: pd.DataFrame) -> pd.DataFrame:
    high = (rows["subgroup"] == "high").to_numpy(float)
    mod = (rows["subgroup"] == "moderate").to_numpy(float)
    t = pd.to_numeric(rows["time"]).to_numpy()
    post, follow = (t == 1).astype(float), (t == 2).astype(float)
    return pd.DataFrame({
        "intercept": np.ones(len(rows)), "high": high, "moderate": mod,
        "followup": follow, "post": post,
        "high_x_followup": high * follow, "high_x_post": high * post,
        "moderate_x_followup": mod * follow, "moderate_x_post": mod * post,
    })


def fidelity_analysis(data: pd.DataFrame, *, outcome: str = "imrs_client") -> FidelityResult:
    """Reproduce Table 4 (``imrs_client``) or Table 5 (``sers_sf``) for any outcome.

    Parameters
    ----------
    data : DataFrame
        Long data in the contract layout (needs ``sessions_attended`` and ``fidelity``).
    outcome : str
        Outcome code; the paper reports ``imrs_client`` and ``sers_sf``.

    Returns
    -------
    FidelityResult
    """
    check_choice("outcome", outcome, CODES)
    require_columns(data, [outcome])
    rows = fidelity_sample(data)
    rows = rows[rows[outcome].notna().to_numpy()]
    fit = fit_mixed(rows[outcome].to_numpy(float), _design(rows),
                    rows["participant_id"].astype(str))
    coefs = fit.coefficients.copy()
    coefs["p_text"] = [format_p(p) for p in coefs["p"]]
    coefs["status"] = fit.status
    coefs["warning"] = fit.warning_text
    omni = {"outcome": outcome, "f": np.nan, "num_df": 4, "den_df": np.nan, "p": np.nan,
            "chi2": np.nan, "p_chi2": np.nan, "status": fit.status,
            "warning": fit.warning_text}
    if fit.ok:
        L = pd.DataFrame(np.eye(4), columns=list(INTERACTION_TERMS))
        test = fit.contrast(L)
        omni.update(f=test.f, num_df=test.num_df, den_df=test.den_df, p=test.p,
                    chi2=test.chi2, p_chi2=test.p_chi2)
    per = rows.drop_duplicates("participant_id")
    groups = per.groupby("subgroup").agg(
        participants=("participant_id", "size"),
        groups=("imr_group", "nunique") if "imr_group" in per.columns
        else ("participant_id", lambda s: np.nan),
        mean_fidelity=("fidelity", "mean"),
    ).reindex(["control", "high", "moderate"]).reset_index()
    groups["participants"] = groups["participants"].fillna(0).astype(int)
    return FidelityResult(
        outcome=outcome,
        coefficients=coefs.reindex(columns=list(COEFFICIENT_COLUMNS)),
        omnibus=pd.DataFrame([omni]),
        subgroups=groups,
        fit=fit,
    )
