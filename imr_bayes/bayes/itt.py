"""The ITT linear mixed models per outcome: data panel, PyMC builders, derived quantities.

Two kinds share the panel (standardized scale ``z = (y - m) / s``, ``m`` and ``s`` the
pooled Table 1 baseline mean and SD of the outcome).

The SPSS-parity model (``model: lmm``, :func:`build_model`)::

    z_it = x_it' beta + u_i + c_i [t > 0] g_j(i) + e_it
    u_i ~ N(0, sigma_participant^2)          random participant intercept
    g_j ~ N(0, sigma_group^2)                IMR group j, treated participants after baseline
    e_it ~ N(0, sigma_residual[arm_i]^2)     one residual SD, or one per arm

The partially nested model (``model: pn_lmm``, :func:`build_pn_model`; ``docs/models.md``)::

    z_it = x_it' beta + v_k(i) + u_i + c_i L_t g_j(i) + e_it
    v_k ~ N(0, sigma_team^2)                 team k (randomization stratum)
    L_t = t (slope), [t > 0] (shift)         loading of the group effect
    e_it ~ N(0, sigma_residual[r(i, t)]^2)   r: baseline (both arms), IMR or CAU follow-up

where a treated participant without a group label is a group of its own (singleton
cluster). ``x_it`` holds intercept, time, condition, condition x time (linear time) or the
categorical time dummies and their interactions with condition. Random effects are
non-centred (``g = sigma_group * group_raw``). Two engines build the same posterior:
``marginal`` integrates ``u`` out (:mod:`imr_bayes.bayes.marginal`) and ``full`` samples
``u`` (non-centred). Rows with a missing outcome are dropped, as in the LMM; participants
with no observed row are dropped for that outcome.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes import outcomes
from imr_bayes.constants import ARMS, N_RANDOMIZED, TIMES
from imr_bayes.errors import DataValidationError
from imr_bayes.spec import PnLmmSpec, required_terms

#: Columns the ITT model reads from the contract's long data.
REQUIRED_COLUMNS: tuple[str, ...] = ("participant_id", "arm", "time", "imr_group")
#: Residual cells of the partially nested model: baseline (both arms, exchangeable after
#: randomization), the IMR arm's follow-ups and the CAU arm's follow-ups.
RESIDUAL_CELLS: tuple[str, ...] = ("baseline", "imr_follow_up", "cau_follow_up")
#: Label prefix of a singleton cluster (a treated participant without a group label).
SINGLETON_PREFIX: str = "single:"


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
    group_shift_on : ndarray, shape (P, T), or None
        Partially nested model with ``group_effect: both``: loading of the second (shift)
        group effect; ``group_on`` is then the slope loading.
    teams : tuple of str
        Partially nested model with a team effect: the teams (randomization strata).
    team_idx : ndarray of int, shape (P,), or None
        Index into ``teams``.
    residual_idx : ndarray of int, shape (P, T), or None
        Partially nested model with ``residual_sd: by_arm_after_baseline``: index into
        :data:`RESIDUAL_CELLS` of every cell.

    In the partially nested model ``group_on`` is the loading ``L_t`` of the group effect
    (``t`` for ``slope``) and ``groups`` ends with the singleton clusters.
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
    group_shift_on: np.ndarray | None = None
    teams: tuple[str, ...] = ()
    team_idx: np.ndarray | None = None
    residual_idx: np.ndarray | None = None

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
        data = {
            "z": self.z, "mask": self.mask, "X": self.X, "group_idx": self.group_idx,
            "group_on": self.group_on, "arm_idx": self.arm_idx,
        }
        for name in ("group_shift_on", "team_idx", "residual_idx"):
            if getattr(self, name) is not None:
                data[name] = getattr(self, name)
        return data


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

    ``terms`` are the fixed terms of the design, or a spec with a ``terms`` attribute; a
    :class:`imr_bayes.spec.PnLmmSpec` also sets the partially nested structure (group
    loading, singleton clusters, teams, residual cells; :func:`partially_nested`).

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
    # Controls have no group; a treated participant without one gets no group effect here
    # (the parity model's rule; the partially nested model makes it a singleton cluster).
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
    spec = terms if isinstance(terms, PnLmmSpec) else None
    terms = tuple(getattr(terms, "terms", terms))
    panel = Panel(outcome=outcome, participants=pids, y=y, mask=mask, treated=treated,
                  arm_idx=arm_idx, group_idx=group_idx, group_on=group_on, groups=groups,
                  X=design(time, treated, terms), terms=terms, center=center, scale=scale)
    return panel if spec is None else partially_nested(panel, data, spec)


def partially_nested(panel: Panel, data: pd.DataFrame, spec: PnLmmSpec) -> Panel:
    """Give a panel the partially nested model's structure.

    * **Singleton clusters** (``spec.singletons``): every IMR participant of ``data``
      without a group label becomes a group of its own, labelled
      :data:`SINGLETON_PREFIX` + id, after the therapy groups. They come from the whole
      data set, not from the outcome's observed rows, so every outcome of a data set has
      the same groups and one compiled model serves them all.
    * **Group loading** ``L_t``: ``group_on`` is ``t`` (``slope``) or ``[t > 0]``
      (``shift``) for treated participants with a group; ``both`` adds ``group_shift_on``.
    * **Teams** (``team: random``): the team of every participant (teams from the whole
      data set).
    * **Residual cells** (``residual_sd: by_arm_after_baseline``): baseline, IMR follow-up
      or CAU follow-up (:data:`RESIDUAL_CELLS`).

    Raises
    ------
    DataValidationError
        ``team: random`` and the data lack the ``team`` column or a participant's team.
    """
    pids = panel.participants
    time = np.broadcast_to(np.asarray(TIMES), panel.mask.shape)
    treated = panel.treated > 0
    has_group = panel.group_on[:, -1] > 0
    groups, group_idx = panel.groups, panel.group_idx.copy()
    if spec.singletons and spec.has_group_effect:
        ids = data["participant_id"].astype(str)
        labelled = set(ids[data["imr_group"].notna().to_numpy()])
        single = sorted(set(ids[(data["arm"].astype(str) == "imr").to_numpy()]) - labelled)
        index = {p: len(groups) + k for k, p in enumerate(single)}
        groups = groups + tuple(SINGLETON_PREFIX + p for p in single)
        alone = np.array([treated[k] and not has_group[k] for k in range(len(pids))])
        group_idx = np.where(alone, [index.get(p, 0) for p in pids], group_idx)
        has_group = has_group | alone
    on = has_group[:, None].astype(float)
    shift = on * (time > 0)
    slope = on * time
    loading = {"slope": slope, "both": slope, "shift": shift, "none": shift}
    out = dataclasses.replace(
        panel, groups=groups, group_idx=group_idx.astype(np.int64),
        group_on=loading[spec.group_effect],
        group_shift_on=shift if spec.group_effect == "both" else None)
    if spec.team == "random":
        teams, team_idx = team_index(data, pids)
        out = dataclasses.replace(out, teams=teams, team_idx=team_idx)
    if spec.residual_sd == "by_arm_after_baseline":
        cell = np.where(time == 0, 0, np.where(treated[:, None], 1, 2))
        out = dataclasses.replace(out, residual_idx=cell.astype(np.int64))
    return out


def team_index(data: pd.DataFrame, participants: np.ndarray
               ) -> tuple[tuple[str, ...], np.ndarray]:
    """Return the teams of ``data`` (sorted) and each participant's index into them.

    Raises
    ------
    DataValidationError
        No ``team`` column, or participants without a team.
    """
    if "team" not in data.columns:
        raise DataValidationError(["missing column 'team' (the randomization stratum; fit "
                                   "with team='none' to leave it out)"])
    per = pd.DataFrame({"pid": data["participant_id"].astype(str).to_numpy(),
                        "team": data["team"].astype("string").to_numpy()}).dropna()
    team = per.groupby("pid")["team"].first()
    teams = tuple(sorted(team.unique(), key=lambda v: (len(v), v)))
    lost = [p for p in participants if p not in team.index]
    if lost:
        raise DataValidationError([f"{len(lost)} participant(s) without a team, e.g. "
                                   f"{lost[:3]} (fit with team='none' to leave it out)"])
    where = {t: k for k, t in enumerate(teams)}
    return teams, np.array([where[team[p]] for p in participants], dtype=np.int64)


def sd_parameters(spec: Any) -> tuple[str, ...]:
    """Return the SD parameters (prior-set entries) the spec's model has.

    The partially nested model's second group effect (``group_effect: both``) and its
    residual SDs per cell take the priors of ``sigma_group`` and ``sigma_residual``.
    """
    if isinstance(spec, PnLmmSpec):
        return ("sigma_participant", *(("sigma_group",) if spec.has_group_effect else ()),
                "sigma_residual", *(("sigma_team",) if spec.team == "random" else ()))
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


def build_pn_model(panel: Panel, spec: PnLmmSpec, priors: dict[str, dict[str, Any]],
                   *, engine: str):
    """Build the PyMC model of the partially nested LMM on one panel (module docstring).

    Parameters
    ----------
    panel : Panel
        Data with the partially nested structure (:func:`partially_nested`).
    spec : PnLmmSpec
        Group effect, residual cells, team.
    priors : dict
        Resolved priors on the standardized scale (:func:`sd_parameters` and the terms).
    engine : {"marginal", "full"}
        ``marginal`` integrates the participant intercept out
        (:func:`imr_bayes.bayes.marginal.block_logp_cells_pt`); ``full`` samples it.

    Returns
    -------
    pymc.Model
    """
    import pymc as pm
    import pytensor.tensor as pt

    from imr_bayes.bayes.marginal import block_logp_cells_pt

    coords: dict[str, Any] = {"term": list(panel.terms), "group": list(panel.groups),
                              "team": list(panel.teams), "residual": list(RESIDUAL_CELLS)}
    with pm.Model(coords=coords) as model:
        data = {k: pm.Data(k, v) for k, v in panel.model_data().items()}
        betas = [_prior(pm, f"beta_{t}", priors[t]) for t in panel.terms]
        mu = pt.tensordot(data["X"], pt.stack(betas), axes=[[2], [0]])
        if spec.has_group_effect:
            sigma_group = _prior(pm, "sigma_group", priors["sigma_group"])
            group_raw = pm.Normal("group_raw", 0.0, 1.0, dims="group")
            mu = mu + data["group_on"] * (sigma_group * group_raw)[data["group_idx"]][:, None]
        if spec.group_effect == "both":
            sigma_shift = _prior(pm, "sigma_group_shift", priors["sigma_group"])
            shift_raw = pm.Normal("group_shift_raw", 0.0, 1.0, dims="group")
            mu = mu + data["group_shift_on"] * (sigma_shift * shift_raw)[
                data["group_idx"]][:, None]
        if spec.team == "random":
            sigma_team = _prior(pm, "sigma_team", priors["sigma_team"])
            team_raw = pm.Normal("team_raw", 0.0, 1.0, dims="team")
            mu = mu + (sigma_team * team_raw)[data["team_idx"]][:, None]
        if spec.residual_sd == "by_arm_after_baseline":
            sigma_res = _prior(pm, "sigma_residual", priors["sigma_residual"], dims="residual")
            cell_var = sigma_res[data["residual_idx"]] ** 2
        else:
            sigma_res = _prior(pm, "sigma_residual", priors["sigma_residual"])
            cell_var = pt.ones_like(data["z"]) * sigma_res**2
        sigma_part = _prior(pm, "sigma_participant", priors["sigma_participant"])
        resid = data["z"] - mu
        if engine == "marginal":
            pm.Potential("loglik", block_logp_cells_pt(resid, data["mask"], cell_var,
                                                       sigma_part**2).sum())
        else:
            u_raw = pm.Normal("participant_raw", 0.0, 1.0, shape=data["z"].shape[0])
            resid = resid - (sigma_part * u_raw)[:, None]
            logp = pm.logp(pm.Normal.dist(0.0, pt.sqrt(cell_var)), resid)
            pm.Potential("loglik", (logp * data["mask"]).sum())
    return model


def model_builder(spec: Any):
    """Return the PyMC builder of the spec's kind, :func:`build_pn_model` or :func:`build_model`."""
    return build_pn_model if isinstance(spec, PnLmmSpec) else build_model


def model_key(panel: Panel, spec: Any, priors: Mapping[str, Any]) -> dict[str, Any]:
    """Return the compile-cache key of an ITT-builder model: structure and priors, never data.

    Panels of the same data set share it across outcomes (same groups, teams and cells),
    so one compiled model serves every outcome.
    """
    key = {"kind": spec.model, "engine": spec.engine, "terms": panel.terms,
           "groups": len(panel.groups), "priors": dict(priors),
           "participants": len(panel.participants) if spec.engine == "full" else None}
    if isinstance(spec, PnLmmSpec):
        key.update(group_effect=spec.group_effect, residual_sd=spec.residual_sd,
                   team=spec.team, teams=len(panel.teams))
    else:
        key.update(random=spec.random.model_dump(), by_arm=spec.residual_sd_by_arm)
    return key


@dataclass(frozen=True)
class Draws:
    """Posterior draws on the standardized scale, flattened to (S, ...) arrays.

    ``sigma_residual`` is (S,) for one residual SD, (S, 2) per arm (parity model) or
    (S, 3) per residual cell (partially nested model, :data:`RESIDUAL_CELLS`). The
    optional fields are those of the partially nested model.
    """

    beta: np.ndarray            # (S, K)
    sigma_participant: np.ndarray  # (S,)
    sigma_group: np.ndarray     # (S,)
    group_raw: np.ndarray       # (S, G)
    sigma_residual: np.ndarray  # (S,), (S, 2) or (S, 3)
    participant_raw: np.ndarray | None  # (S, P) for the full engine
    sigma_group_shift: np.ndarray | None = None  # (S,) with group_effect: both
    group_shift_raw: np.ndarray | None = None    # (S, G)
    sigma_team: np.ndarray | None = None         # (S,) with team: random
    team_raw: np.ndarray | None = None           # (S, K_team)


def extract_draws(posterior, panel: Panel, spec: Any) -> Draws:
    """Flatten the sampled variables of a nutpie/PyMC posterior to arrays over draws."""
    def flat(name: str) -> np.ndarray:
        v = posterior[name]
        return v.stack(sample=("chain", "draw")).transpose("sample", ...).to_numpy()

    def maybe(name: str) -> np.ndarray | None:
        return flat(name) if name in posterior else None

    n = posterior.sizes["chain"] * posterior.sizes["draw"]
    beta = np.stack([flat(f"beta_{t}") for t in panel.terms], axis=1)
    zeros = np.zeros(n)
    grouped = "group_raw" in posterior
    return Draws(
        beta=beta,
        sigma_participant=flat("sigma_participant") if "sigma_participant" in posterior
        else zeros,
        sigma_group=flat("sigma_group") if grouped else zeros,
        group_raw=flat("group_raw") if grouped else np.zeros((n, 0)),
        sigma_residual=flat("sigma_residual"),
        participant_raw=maybe("participant_raw"),
        sigma_group_shift=maybe("sigma_group_shift"), group_shift_raw=maybe("group_shift_raw"),
        sigma_team=maybe("sigma_team"), team_raw=maybe("team_raw"),
    )


def mean_std(draws: Draws, panel: Panel) -> np.ndarray:
    """Return the conditional mean (fixed, group and team effects), standardized, (S, P, T)."""
    mu = np.einsum("ptk,sk->spt", panel.X, draws.beta)
    if draws.group_raw.shape[1]:
        g = draws.sigma_group[:, None] * draws.group_raw
        mu = mu + panel.group_on[None] * g[:, panel.group_idx][:, :, None]
    if draws.group_shift_raw is not None:
        g = draws.sigma_group_shift[:, None] * draws.group_shift_raw
        mu = mu + panel.group_shift_on[None] * g[:, panel.group_idx][:, :, None]
    if draws.team_raw is not None:
        v = draws.sigma_team[:, None] * draws.team_raw
        mu = mu + v[:, panel.team_idx][:, :, None]
    return mu


def residual_var(draws: Draws, panel: Panel) -> np.ndarray:
    """Residual variance per draw and cell (standardized), shape (S, P, T)."""
    s = draws.sigma_residual
    shape = (s.shape[0], *panel.mask.shape)
    if s.ndim == 1:
        return np.broadcast_to((s**2)[:, None, None], shape)
    if panel.residual_idx is not None:
        return (s**2)[:, panel.residual_idx]
    return np.broadcast_to((s**2)[:, panel.arm_idx][:, :, None], shape)


def conditional_pieces(posterior, constant, keep: np.ndarray | None = None
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the random-effect part of a saved ITT-builder fit, standardized, for prediction.

    Reads a fit's ``posterior`` (raw-scale ``group_effect``, ``group_shift_effect``,
    ``team_effect``, ``sigma_residual``, ``sigma_participant``) and ``constant_data``
    (``group_on``, ``group_shift_on``, ``group_index``, ``team_index``,
    ``residual_index``, ``treated``, ``scale``) of either kind.

    Parameters
    ----------
    posterior, constant : xarray.Dataset or DataTree node
    keep : ndarray of int, optional
        Flat draw indices to use (default: all).

    Returns
    -------
    offset : ndarray, shape (S, P, T)
        Group and team effects of every cell (add ``X beta`` for the conditional mean).
    cell_var : ndarray, shape (S, P, T)
        Residual variance of every cell.
    participant_var : ndarray, shape (S,)
        Variance of the participant intercept (0 without one).
    """
    def flat(name: str) -> np.ndarray:
        v = posterior[name].stack(sample=("chain", "draw")).transpose("sample", ...)
        v = v.to_numpy()
        return v if keep is None else v[keep]

    scale = float(constant["scale"])
    treated = constant["treated"].to_numpy()
    n_p, n_t = constant["mask"].shape
    sres = flat("sigma_residual") / scale
    shape = (sres.shape[0], n_p, n_t)
    offset = np.zeros(shape)
    for effect, loading in (("group_effect", "group_on"),
                            ("group_shift_effect", "group_shift_on")):
        if effect in posterior.data_vars and posterior.sizes.get("group", 0):
            g = flat(effect) / scale
            gi = constant["group_index"].to_numpy().astype(int)
            offset += constant[loading].to_numpy()[None] * g[:, gi][:, :, None]
    if "team_effect" in posterior.data_vars:
        v = flat("team_effect") / scale
        offset += v[:, constant["team_index"].to_numpy().astype(int)][:, :, None]
    if sres.ndim == 1:
        cell_var = np.broadcast_to((sres**2)[:, None, None], shape)
    elif "residual_index" in constant.data_vars:
        cell_var = (sres**2)[:, constant["residual_index"].to_numpy().astype(int)]
    else:  # one SD per arm, ARMS order
        arm_idx = np.where(treated > 0, ARMS.index("imr"), ARMS.index("cau"))
        cell_var = np.broadcast_to((sres**2)[:, arm_idx][:, :, None], shape)
    pvar = (flat("sigma_participant") / scale) ** 2 \
        if "sigma_participant" in posterior.data_vars else np.zeros(shape[0])
    return offset, np.array(cell_var), pvar


#: Follow-up times at which the IMR arm's group ICC is reported.
ICC_TIMES: tuple[int, ...] = (1, 2)
#: Prior draws behind the prior of the group ICC (a fit's ``prior`` group).
PRIOR_DRAWS: int = 4000


def draw_prior(prior: Mapping[str, Any], size: int, rng: np.random.Generator) -> np.ndarray:
    """Draw ``size`` values from a resolved prior ``{dist, kwargs}`` (NumPy, PyMC's parameters).

    ``HalfCauchy(beta)`` has scale ``beta``, ``Exponential(lam)`` rate ``lam``.
    """
    kw = prior["kwargs"]
    dist = prior["dist"]
    if dist == "Normal":
        return rng.normal(kw["mu"], kw["sigma"], size)
    if dist == "HalfNormal":
        return np.abs(rng.normal(0.0, kw["sigma"], size))
    if dist == "StudentT":
        return kw["mu"] + kw["sigma"] * rng.standard_t(kw["nu"], size)
    if dist == "HalfStudentT":
        return np.abs(kw["sigma"] * rng.standard_t(kw["nu"], size))
    if dist == "HalfCauchy":
        return np.abs(kw["beta"] * rng.standard_cauchy(size))
    if dist == "Exponential":
        return rng.exponential(1.0 / kw["lam"], size)
    raise ValueError(f"no sampler for prior distribution {dist!r}")


def sd_quantile(prior: Mapping[str, Any], q: np.ndarray | float) -> np.ndarray:
    """Quantiles ``q`` of a positive prior of an SD (closed form)."""
    from scipy import stats

    kw = prior["kwargs"]
    q = np.asarray(q, dtype=float)
    dist = prior["dist"]
    if dist == "HalfNormal":
        return kw["sigma"] * stats.norm.ppf((1 + q) / 2)
    if dist == "HalfStudentT":
        return kw["sigma"] * stats.t.ppf((1 + q) / 2, kw["nu"])
    if dist == "HalfCauchy":
        return kw["beta"] * np.tan(np.pi * q / 2)
    if dist == "Exponential":
        return stats.expon.ppf(q, scale=1.0 / kw["lam"])
    raise ValueError(f"{dist!r} is not a prior of an SD")


def icc_quantiles(prior: Mapping[str, Any], q: np.ndarray | float, *, loading: float = 1.0,
                  rest_var: float = 1.0) -> np.ndarray:
    """Quantiles of the ICC ``L^2 s^2 / (L^2 s^2 + rest_var)`` implied by a prior of ``s``.

    The ICC is increasing in ``s``, so its ``q`` quantile is the transform of the SD's
    (:func:`sd_quantile`): the closed form of ``docs/priors.md`` with the other variance
    components fixed at ``rest_var`` (1: the standardized scale's baseline variance).
    """
    v = (loading * sd_quantile(prior, q)) ** 2
    return v / (v + rest_var)


def group_loadings(spec: PnLmmSpec, t: int) -> tuple[float, float]:
    """Return the loadings ``(L_t, shift)`` of the group effect(s) at time ``t``."""
    on = float(t > 0)
    first = float(t) * on if spec.group_effect in ("slope", "both") else on
    return first, on if spec.group_effect == "both" else 0.0


def icc_group(sd: Mapping[str, np.ndarray], spec: PnLmmSpec) -> np.ndarray:
    """Return the IMR arm's group ICC at each follow-up (:data:`ICC_TIMES`), shape (S, 2).

    ``ICC_t = V_t / (V_t + sigma_team^2 + sigma_participant^2 + sigma_res,IMR^2)`` with
    ``V_t = L_t^2 sigma_group^2 (+ sigma_group_shift^2 for both)``: the share of the
    variance of an IMR participant's score at time ``t``, given the fixed effects, that
    lies between IMR groups. ``sd`` holds standardized SD draws ``sigma_group``,
    ``sigma_participant``, ``sigma_residual`` (the IMR arm's follow-up SD) and, where the
    model has them, ``sigma_group_shift`` and ``sigma_team``.
    """
    rest = sd["sigma_participant"] ** 2 + sd["sigma_residual"] ** 2
    if spec.team == "random":
        rest = rest + sd["sigma_team"] ** 2
    out = []
    for t in ICC_TIMES:
        load, shift = group_loadings(spec, t)
        v = (load * sd["sigma_group"]) ** 2
        if shift:
            v = v + sd["sigma_group_shift"] ** 2
        out.append(v / (v + rest))
    return np.stack(out, axis=1)


def posterior_sds(draws: Draws) -> dict[str, np.ndarray]:
    """Standardized SD draws of a partially nested fit, as :func:`icc_group` reads them."""
    s = draws.sigma_residual
    out = {"sigma_group": draws.sigma_group, "sigma_participant": draws.sigma_participant,
           "sigma_residual": s[:, RESIDUAL_CELLS.index("imr_follow_up")] if s.ndim == 2 else s}
    for name in ("sigma_group_shift", "sigma_team"):
        if getattr(draws, name) is not None:
            out[name] = getattr(draws, name)
    return out


def prior_sds(priors: Mapping[str, Mapping[str, Any]], spec: PnLmmSpec, size: int,
              rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Draws of the partially nested model's SDs from their priors (as :func:`posterior_sds`)."""
    names = ["sigma_group", "sigma_participant", "sigma_residual"]
    if spec.group_effect == "both":
        names.append("sigma_group_shift")
    if spec.team == "random":
        names.append("sigma_team")
    return {n: draw_prior(priors["sigma_group" if n == "sigma_group_shift" else n], size, rng)
            for n in names}


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
