"""The ITT linear mixed model per outcome: data panel, PyMC builders, derived quantities.

Model (standardized scale ``z = (y - m) / s``, ``m`` and ``s`` the pooled Table 1 baseline
mean and SD of the outcome)::

    z_it = x_it' beta + u_i + c_i [t > 0] g_j(i) + e_it
    u_i ~ N(0, sigma_participant^2)          random participant intercept
    g_j ~ N(0, sigma_group^2)                IMR group j, treated participants after baseline
    e_it ~ N(0, sigma_residual[arm_i]^2)     one residual SD, or one per arm

``x_it`` holds intercept, time, condition, condition x time (linear time) or the categorical
time dummies and their interactions with condition. ``g`` is non-centred
(``g = sigma_group * group_raw``). Two engines build the same posterior: ``marginal``
integrates ``u`` out (:mod:`imr_bayes.bayes.marginal`) and ``full`` samples ``u``
(non-centred). Rows with a missing outcome are dropped, as in the LMM; participants with no
observed row are dropped for that outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes import outcomes
from imr_bayes.constants import ARMS, N_RANDOMIZED, TIMES
from imr_bayes.errors import DataValidationError
from imr_bayes.spec import required_terms

#: Columns the ITT model reads from the contract's long data.
REQUIRED_COLUMNS: tuple[str, ...] = ("participant_id", "arm", "time", "imr_group")


@dataclass(frozen=True)
class Panel:
    """One outcome's data as a participant x time grid, ready for the model.

    Attributes
    ----------
    outcome : str
    participants : ndarray of str, shape (P,)
    y : ndarray, shape (P, T)
        Raw outcome values, NaN where not observed.
    mask : ndarray, shape (P, T)
        1.0 where observed.
    treated : ndarray, shape (P,)
        1.0 for the IMR arm.
    arm_idx : ndarray of int, shape (P,)
        Index into :data:`imr_bayes.constants.ARMS` order ``("imr", "cau")``.
    group_idx : ndarray of int, shape (P,)
        Index into ``groups`` (0 where the participant has no group).
    group_on : ndarray, shape (P, T)
        1.0 where the IMR-group effect applies (treated, has a group, after baseline).
    groups : tuple of str
    X : ndarray, shape (P, T, K)
        Fixed-effect design.
    terms : tuple of str
    center, scale : float
        Standardization: ``z = (y - center) / scale``.
    """

    outcome: str
    participants: np.ndarray
    y: np.ndarray
    mask: np.ndarray
    treated: np.ndarray
    arm_idx: np.ndarray
    group_idx: np.ndarray
    group_on: np.ndarray
    groups: tuple[str, ...]
    X: np.ndarray
    terms: tuple[str, ...]
    center: float
    scale: float

    @property
    def n_rows(self) -> int:
        """Number of participant x time rows used (observed outcome)."""
        return int(self.mask.sum())

    @property
    def z(self) -> np.ndarray:
        """Standardized outcome with 0 in unobserved cells."""
        return np.where(self.mask > 0, (self.y - self.center) / self.scale, 0.0)

    def model_data(self) -> dict[str, np.ndarray]:
        """Return the arrays the compiled model reads (its ``pm.Data`` containers)."""
        return {
            "z": self.z, "mask": self.mask, "X": self.X, "group_idx": self.group_idx,
            "group_on": self.group_on, "arm_idx": self.arm_idx,
        }


def standardization(outcome: str) -> tuple[float, float]:
    """Return (center, scale): the pooled Table 1 baseline mean and SD of ``outcome``."""
    o = outcomes.get(outcome)
    n = N_RANDOMIZED
    center = sum(n[a] * o.baseline_mean(a) for a in ARMS) / sum(n.values())
    return float(center), o.pooled_baseline_sd()


def design(time: np.ndarray, treated: np.ndarray, terms: tuple[str, ...]) -> np.ndarray:
    """Return the fixed-effect design array of shape ``time.shape + (len(terms),)``."""
    c = np.broadcast_to(treated[:, None], time.shape).astype(float)
    cols = {
        "intercept": np.ones_like(c),
        "time": time.astype(float),
        "condition": c,
        "condition_x_time": c * time,
        "time_1": (time == 1).astype(float),
        "time_2": (time == 2).astype(float),
        "condition_x_time_1": c * (time == 1),
        "condition_x_time_2": c * (time == 2),
    }
    return np.stack([cols[t] for t in terms], axis=-1)


#: Fixed terms of the ITT model with linear time.
LINEAR_TERMS: tuple[str, ...] = required_terms("linear")


def make_panel(data: pd.DataFrame, outcome: str, terms: Any = LINEAR_TERMS) -> Panel:
    """Build the participant x time panel of one outcome from contract long data.

    ``terms`` are the fixed terms of the design (or a spec with a ``terms`` attribute).

    Raises
    ------
    DataValidationError
        If a required column is missing, an arm or time is not in the contract, or no row
        has an observed outcome.
    """
    outcomes.get(outcome)
    missing = [c for c in (*REQUIRED_COLUMNS, outcome) if c not in data.columns]
    if missing:
        raise DataValidationError([f"missing column {c!r}" for c in missing])
    bad_arm = sorted(set(data["arm"].dropna().astype(str)) - set(ARMS))
    if bad_arm:
        raise DataValidationError([f"arm values {bad_arm} not in {list(ARMS)}"])
    bad_time = sorted(set(pd.to_numeric(data["time"]).dropna().astype(int)) - set(TIMES))
    if bad_time:
        raise DataValidationError([f"time values {bad_time} not in {list(TIMES)}"])

    d = pd.DataFrame({
        "pid": data["participant_id"].astype(str).to_numpy(),
        "arm": data["arm"].astype(str).to_numpy(),
        "time": pd.to_numeric(data["time"]).astype(int).to_numpy(),
        "group": data["imr_group"].astype("string").to_numpy(),
        "y": pd.to_numeric(data[outcome]).astype(float).to_numpy(),
    })
    # Controls have no group; a treated participant without one gets no group effect.
    grouped = d[(d["arm"] == "imr") & d["group"].notna()]
    groups = tuple(sorted(str(g) for g in grouped["group"].unique()))
    observed = d[np.isfinite(d["y"])]
    if observed.empty:
        raise DataValidationError([f"outcome {outcome!r} has no observed value"])
    people = observed.groupby("pid", sort=True).agg(arm=("arm", "first"))
    pgroup = grouped.groupby("pid")["group"].first().astype(str)
    pids = people.index.to_numpy(dtype=str)
    n_p, n_t = len(pids), len(TIMES)
    pos = pd.Series(np.arange(n_p), index=pids)
    y = np.full((n_p, n_t), np.nan)
    y[pos[observed["pid"]].to_numpy(), observed["time"].to_numpy()] = observed["y"].to_numpy()
    mask = np.isfinite(y).astype(float)
    treated = (people["arm"].to_numpy() == "imr").astype(float)
    arm_idx = np.where(treated > 0, ARMS.index("imr"), ARMS.index("cau")).astype(np.int64)
    gmap = {g: k for k, g in enumerate(groups)}
    glabel = [pgroup.get(p) for p in pids]
    has_group = np.array([treated[k] > 0 and glabel[k] in gmap for k in range(n_p)])
    group_idx = np.array([gmap[glabel[k]] if has_group[k] else 0 for k in range(n_p)],
                         dtype=np.int64)
    time = np.broadcast_to(np.asarray(TIMES), (n_p, n_t))
    group_on = (has_group[:, None] & (time > 0)).astype(float)
    center, scale = standardization(outcome)
    terms = tuple(getattr(terms, "terms", terms))
    return Panel(outcome=outcome, participants=pids, y=y, mask=mask, treated=treated,
                 arm_idx=arm_idx, group_idx=group_idx, group_on=group_on, groups=groups,
                 X=design(time, treated, terms), terms=terms, center=center, scale=scale)


def sd_parameters(spec: Any) -> tuple[str, ...]:
    """Return the SD parameters the spec's model has."""
    out = ["sigma_residual"]
    if spec.random.participant:
        out.insert(0, "sigma_participant")
    if spec.random.imr_group:
        out.insert(1 if spec.random.participant else 0, "sigma_group")
    return tuple(out)


def _prior(pm: Any, name: str, prior: dict[str, Any], **kw: Any):
    return getattr(pm, prior["dist"])(name, **prior["kwargs"], **kw)


def build_model(panel: Panel, spec: Any, priors: dict[str, dict[str, Any]],
                *, engine: str):
    """Build the PyMC model of the ITT LMM on one panel.

    Parameters
    ----------
    panel : Panel
        Data (its arrays become ``pm.Data`` containers, so a compiled model can swap them).
    spec : LmmSpec
        Structure: random effects, residual SD per arm (the terms are the panel's).
    priors : dict
        Resolved priors ``{parameter: {dist, kwargs}}`` on the standardized scale.
    engine : {"marginal", "full"}
        ``marginal`` integrates the participant intercept out; ``full`` samples it.

    Returns
    -------
    pymc.Model
    """
    import pymc as pm
    import pytensor.tensor as pt

    from imr_bayes.bayes.marginal import block_logp_pt

    coords: dict[str, Any] = {"term": list(panel.terms), "arm": list(ARMS),
                              "group": list(panel.groups)}
    with pm.Model(coords=coords) as model:
        data = {k: pm.Data(k, v) for k, v in panel.model_data().items()}
        betas = [_prior(pm, f"beta_{t}", priors[t]) for t in panel.terms]
        mu = pt.tensordot(data["X"], pt.stack(betas), axes=[[2], [0]])
        if spec.random.imr_group:
            sigma_group = _prior(pm, "sigma_group", priors["sigma_group"])
            group_raw = pm.Normal("group_raw", 0.0, 1.0, dims="group")
            mu = mu + data["group_on"] * (sigma_group * group_raw)[data["group_idx"]][:, None]
        if spec.residual_sd_by_arm:
            sigma_res = _prior(pm, "sigma_residual", priors["sigma_residual"], dims="arm")
            resid_sd = sigma_res[data["arm_idx"]]
        else:
            sigma_res = _prior(pm, "sigma_residual", priors["sigma_residual"])
            resid_sd = pt.ones(data["arm_idx"].shape) * sigma_res
        if spec.random.participant:
            sigma_part = _prior(pm, "sigma_participant", priors["sigma_participant"])
        resid = data["z"] - mu
        if engine == "marginal":
            part_var = sigma_part**2 if spec.random.participant else pt.constant(0.0)
            pm.Potential("loglik", block_logp_pt(resid, data["mask"], resid_sd**2,
                                                 part_var).sum())
        else:
            if spec.random.participant:
                u_raw = pm.Normal("participant_raw", 0.0, 1.0, shape=data["z"].shape[0])
                resid = resid - (sigma_part * u_raw)[:, None]
            logp = pm.logp(pm.Normal.dist(0.0, resid_sd[:, None]), resid)
            pm.Potential("loglik", (logp * data["mask"]).sum())
    return model


@dataclass(frozen=True)
class Draws:
    """Posterior draws on the standardized scale, flattened to (S, ...) arrays."""

    beta: np.ndarray            # (S, K)
    sigma_participant: np.ndarray  # (S,)
    sigma_group: np.ndarray     # (S,)
    group_raw: np.ndarray       # (S, G)
    sigma_residual: np.ndarray  # (S,) or (S, 2)
    participant_raw: np.ndarray | None  # (S, P) for the full engine


def extract_draws(posterior, panel: Panel, spec: Any) -> Draws:
    """Flatten the sampled variables of a nutpie/PyMC posterior to arrays over draws."""
    def flat(name: str) -> np.ndarray:
        v = posterior[name]
        return v.stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()

    n = posterior.sizes["chain"] * posterior.sizes["draw"]
    beta = np.stack([flat(f"beta_{t}") for t in panel.terms], axis=1)
    zeros = np.zeros(n)
    return Draws(
        beta=beta,
        sigma_participant=flat("sigma_participant") if spec.random.participant else zeros,
        sigma_group=flat("sigma_group") if spec.random.imr_group else zeros,
        group_raw=flat("group_raw") if spec.random.imr_group else np.zeros((n, 0)),
        sigma_residual=flat("sigma_residual"),
        participant_raw=(flat("participant_raw")
                         if "participant_raw" in posterior else None),
    )


def mean_std(draws: Draws, panel: Panel) -> np.ndarray:
    """Return the conditional mean (fixed + group effects), standardized, shape (S, P, T)."""
    mu = np.einsum("ptk,sk->spt", panel.X, draws.beta)
    if draws.group_raw.shape[1]:
        g = draws.sigma_group[:, None] * draws.group_raw
        mu = mu + panel.group_on[None] * g[:, panel.group_idx][:, :, None]
    return mu


def residual_var(draws: Draws, panel: Panel) -> np.ndarray:
    """Residual variance per draw and participant (standardized), shape (S, P)."""
    s = draws.sigma_residual
    if s.ndim == 1:
        return np.repeat((s**2)[:, None], len(panel.participants), axis=1)
    return (s**2)[:, panel.arm_idx]


def cell_means_std(beta: np.ndarray, terms: tuple[str, ...]) -> np.ndarray:
    """Model-implied arm x time means (standardized), shape (S, arm, time) in ARMS order.

    ``beta`` holds standardized coefficient draws, shape (S, K), of the ITT ``terms``.
    """
    time = np.asarray(TIMES)
    out = np.empty((beta.shape[0], len(ARMS), len(TIMES)))
    for a, arm in enumerate(ARMS):
        x = design(time[None, :], np.array([1.0 if arm == "imr" else 0.0]), terms)[0]
        out[:, a, :] = beta @ x.T
    return out


def observed_pooled_sd(panel: Panel, t: int) -> float:
    """Pooled within-arm SD (n - 1 weights) of the scores observed at time ``t``.

    The SD behind the ``cohens_d`` estimand, as for the frequentist Table 3 counterpart
    (``docs/frequentist.md``): the published d's fit a time-specific SD best.
    """
    num, den = 0.0, 0
    for arm_value in (1.0, 0.0):
        y = panel.y[panel.treated == arm_value, t]
        y = y[np.isfinite(y)]
        if len(y) > 1:
            num += (len(y) - 1) * float(np.var(y, ddof=1))
            den += len(y) - 1
    return float(np.sqrt(num / den)) if den else float("nan")
