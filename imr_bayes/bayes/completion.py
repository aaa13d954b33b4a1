"""Completion: the per-protocol counterpart (Tables 6-7) and the complier average causal effect.

``analysis="completers"`` (an ``lmm`` spec with ``sample: completers``) fits the ITT model
to the paper's per-protocol sample, :func:`completers_sample`: IMR completers (attended >= 50 %
of scheduled sessions) and *all* controls. Completers are a selected group and the controls
are not, so this contrast is not protected by randomization.

``analysis="cace"`` keeps every randomized participant. It is principal stratification with
one-sided noncompliance (Imbens & Rubin 1997): each participant is a complier (C = 1, would
complete IMR if offered) or a never-taker (C = 0). C is observed in the IMR arm (the
``completer`` flag) and latent in the control arm, where it is marginalised out of the
likelihood as a two-component mixture (no discrete sampling). On the standardized scale,
with the participant intercept integrated out as in the ITT fast path::

    never-takers:  z_it = b0 + b1 t + Z_i rho tau t                          + u_i + e_it
    compliers:     z_it = b0 + b1 t + k0 + k1 t
                               + Z_i (a + tau t + [t > 0] g_j(i))           + u_i + e_it
    P(C_i = 1) = logistic(c0 + w_i' c)       w_i: standardized baseline characteristics

``tau`` (``cace_condition_x_time``) is the effect of assignment to IMR on the slope of the
compliers: the principal stratum of participants who would attend >= 50 % of their sessions
if offered IMR. ``rho`` (the spec's ``never_taker_effect_ratio``, fixed, not estimated) sets
the effect of assignment among never-takers to ``rho tau`` per step; ``rho = 0`` is the
exclusion restriction, under which ``tau`` is also the effect of *completing* IMR.
:func:`cace_sensitivity` refits the model over a grid of ``rho``. Compliers may differ from
never-takers in level and trend (``k0``, ``k1``: the selection that biases the per-protocol
contrast). The compliance model is learned where compliance is observed (IMR arm) and,
through the mixture, also from the controls' outcomes; randomization makes the strata
equally distributed in both arms. ``g_j`` is the IMR-group effect of treated compliers after
baseline.

The priors of ``a`` and ``tau`` are the prior set's ITT priors (``condition``,
``condition_x_time``) divided by ``kappa_a = pi_hat`` and ``kappa_tau = pi_hat + (1 - pi_hat)
rho`` (``pi_hat``: observed complier share of the IMR arm), so that the arm-level effect they
imply, ``kappa tau``, has the ITT prior (``CacePanel.effect_prior_scales``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes import outcomes
from imr_bayes.errors import DataValidationError

#: CACE parameters and the prior-set entry each one uses.
CACE_TERMS: dict[str, str] = {
    "intercept": "intercept", "time": "time", "complier": "condition",
    "complier_x_time": "condition", "cace_condition": "condition",
    "cace_condition_x_time": "condition_x_time",
}
#: Effects of assignment in the complier stratum whose ITT priors are scaled by ``1/kappa``.
SCALED_TERMS: tuple[str, ...] = ("cace_condition", "cace_condition_x_time")
#: The never-taker effect ratios of the sensitivity analysis (issue 17).
SENSITIVITY_RHOS: tuple[float, ...] = (0.0, 0.25, 0.5)
# --------------------------------------------------------------------------- per-protocol
def completers_sample(data: pd.DataFrame) -> pd.DataFrame:
    """Rows of IMR completers and all controls (the paper's per-protocol sample).

    Raises
    ------
    DataValidationError
        If ``arm`` or ``completer`` is missing, or an IMR participant has no completer flag.
    """
    missing = [c for c in ("arm", "completer") if c not in data.columns]
    if missing:
        raise DataValidationError([f"missing column {c!r}" for c in missing])
    imr = (data["arm"].astype(str) == "imr").to_numpy()
    flag = data["completer"].astype("boolean")
    if flag[imr].isna().any():
        raise DataValidationError(["IMR rows with a missing 'completer' flag"])
    return data[~imr | flag.fillna(False).to_numpy(bool)]


# --------------------------------------------------------------------------------- CACE
@dataclasses.dataclass(frozen=True)
class CacePanel:
    """ITT panel plus the compliance data of the CACE model.

    Attributes
    ----------
    panel : imr_bayes.bayes.itt.Panel
    complier : ndarray, shape (P,)
        Observed completion (1/0) in the IMR arm, 0 (unused) for controls.
    W : ndarray, shape (P, K)
        Standardized compliance covariates.
    covariate_names : tuple of str
    """

    panel: Any
    complier: np.ndarray
    W: np.ndarray
    covariate_names: tuple[str, ...]

    @property
    def observed_complier_share(self) -> float:
        """``pi_hat``: share of completers among the IMR participants in the likelihood."""
        treated = self.panel.treated > 0
        return float(self.complier[treated].mean())

    def effect_prior_scales(self, spec) -> dict[str, float]:
        """Return ``kappa`` of each scaled effect: its prior is the ITT prior divided by it.

        The arm-level (ITT) contrasts the model implies are ``pi a`` at baseline and
        ``(pi + (1 - pi) rho) tau`` per step; with ``pi`` at ``pi_hat`` these are the
        ``kappa`` that give them the prior set's ITT priors. All 1 when the spec's
        ``scale_effect_priors`` is off.
        """
        if not spec.scale_effect_priors:
            return dict.fromkeys(SCALED_TERMS, 1.0)
        pi = self.observed_complier_share
        return {"cace_condition": pi,
                "cace_condition_x_time": pi + (1.0 - pi) * spec.never_taker_effect_ratio}

    def model_data(self, spec) -> dict[str, np.ndarray]:
        """Return the arrays the compiled CACE model reads (data, ``rho`` and ``kappa``).

        ``rho`` and the ``kappa`` are data of the graphs that have them
        (:func:`cace_structure`), as arrays of shape (1,): PyTensor's numba backend cannot
        compile a 0-d data container inside a prior's parameters.
        """
        p = self.panel
        out = {"z": p.z, "mask": p.mask, "treated": p.treated, "complier_obs": self.complier,
               "W": self.W, "group_idx": p.group_idx, "group_on": p.group_on}
        parts = cace_structure(spec)
        if parts["never_taker_effect"]:
            out["never_taker_effect_ratio"] = np.array([spec.never_taker_effect_ratio])
        if parts["scaled_priors"]:
            scales = self.effect_prior_scales(spec)
            out.update({f"prior_scale_{t}": np.array([scales[t]]) for t in SCALED_TERMS})
        return out


def cace_structure(spec) -> dict[str, bool]:
    """Return the optional parts of the CACE graph a spec needs.

    ``never_taker_effect`` (``rho != 0``) adds ``Z rho tau t`` to the never-takers' mean,
    ``scaled_priors`` divides the priors of :data:`SCALED_TERMS` by ``kappa``. Without both
    the graph is the exclusion-restriction model with the ITT priors, the same graph (and log
    density, to the last bit) as before the sensitivity analysis existed. ``rho`` and
    ``kappa`` are data, so one compiled graph serves every ``rho != 0`` and every data set.
    """
    return {"never_taker_effect": spec.never_taker_effect_ratio != 0,
            "scaled_priors": spec.scale_effect_priors}


def make_cace_panel(data: pd.DataFrame, outcome: str, covariates: tuple[str, ...]
                    ) -> CacePanel:
    """Build the CACE data of one outcome (participants with >= 1 observed value).

    Raises
    ------
    DataValidationError
        Missing columns, or an IMR participant without a completer flag.
    """
    from imr_bayes.bayes.itt import make_panel
    from imr_bayes.covariates import standardized_design

    if "completer" not in data.columns:
        raise DataValidationError(["missing column 'completer'"])
    panel = make_panel(data, outcome)
    people = data.drop_duplicates("participant_id").copy()
    people.index = people["participant_id"].astype(str).to_numpy()
    people = people.reindex(panel.participants)
    flag = people["completer"].astype("boolean")
    treated = panel.treated > 0
    if flag[treated].isna().any():
        raise DataValidationError(["IMR participants with a missing 'completer' flag"])
    complier = np.where(treated, flag.fillna(False).to_numpy(bool), False).astype(float)
    W, names = standardized_design(people, covariates)
    return CacePanel(panel=panel, complier=complier, W=W, covariate_names=names)


def build_cace_model(cp: CacePanel, spec, priors: dict[str, dict[str, Any]]):
    """Build the PyMC CACE mixture model (participant intercept integrated out).

    Parameters
    ----------
    cp : CacePanel
    spec : CaceSpec
        ``random.imr_group`` switches the IMR-group effect of treated compliers;
        :func:`cace_structure` says whether the graph has the never-taker effect and the
        prior scales (both read as data, :meth:`CacePanel.model_data`).
    priors : dict
        Resolved, unscaled priors of :data:`CACE_TERMS`, the SD parameters and the
        compliance model (the spec's ``priors``); those of :data:`SCALED_TERMS` are divided
        by ``kappa`` in the graph.

    Returns
    -------
    pymc.Model
    """
    import pymc as pm
    import pytensor.tensor as pt

    from imr_bayes.bayes.marginal import block_logp_pt
    from imr_bayes.constants import TIMES

    def prior(name: str, key: str, **kw: Any):
        p = priors[key]
        return getattr(pm, p["dist"])(name, **p["kwargs"], **kw)

    def scaled_prior(name: str, kappa):
        p = priors[name]
        return getattr(pm, p["dist"])(name, **_divided(p["kwargs"], kappa))

    coords = {"covariate": list(cp.covariate_names), "group": list(cp.panel.groups)}
    with pm.Model(coords=coords) as model:
        d = {k: pm.Data(k, v) for k, v in cp.model_data(spec).items()}
        parts = cace_structure(spec)
        b = {t: (scaled_prior(t, d[f"prior_scale_{t}"][0])
                 if parts["scaled_priors"] and t in SCALED_TERMS else prior(t, t))
             for t in CACE_TERMS}
        time = pt.as_tensor_variable(np.asarray(TIMES, dtype=float))[None, :]
        z_ = d["treated"][:, None]
        mu0 = b["intercept"] + b["time"] * time
        mu_nt = mu0
        if parts["never_taker_effect"]:
            rho = d["never_taker_effect_ratio"][0]
            mu_nt = mu0 + z_ * (rho * b["cace_condition_x_time"]) * time
        mu1 = (mu0 + b["complier"] + b["complier_x_time"] * time
               + z_ * (b["cace_condition"] + b["cace_condition_x_time"] * time))
        if spec.random.imr_group:
            sigma_group = prior("sigma_group", "sigma_group")
            group_raw = pm.Normal("group_raw", 0.0, 1.0, dims="group")
            mu1 = mu1 + d["group_on"] * (sigma_group * group_raw)[d["group_idx"]][:, None]
        sigma_res = prior("sigma_residual", "sigma_residual")
        sigma_part = prior("sigma_participant", "sigma_participant")
        c0 = prior("compliance_intercept", "compliance_intercept")
        c = prior("compliance_coef", "compliance_coef", dims="covariate")
        rv = pt.ones(d["treated"].shape) * sigma_res**2
        ll1 = block_logp_pt(d["z"] - mu1, d["mask"], rv, sigma_part**2)
        ll0 = block_logp_pt(d["z"] - mu_nt, d["mask"], rv, sigma_part**2)
        eta = c0 + pt.dot(d["W"], c)
        lp1 = pt.log(pt.sigmoid(eta)) + ll1
        lp0 = pt.log(pt.sigmoid(-eta)) + ll0
        observed = d["complier_obs"] * lp1 + (1.0 - d["complier_obs"]) * lp0
        mixture = pt.logaddexp(lp1, lp0)
        pm.Potential("loglik", pt.switch(d["treated"] > 0, observed, mixture).sum())
    return model


def cace_priors(request) -> dict[str, dict[str, Any]]:
    """Resolve the CACE priors: prior-set entries (:data:`CACE_TERMS`) and compliance.

    The priors of :data:`SCALED_TERMS` are returned unscaled (the compiled model divides
    them by ``kappa``, :func:`scaled_priors` records the result).

    Raises
    ------
    SpecError
        If a prior of :data:`SCALED_TERMS` has no location and scale (``mu``, ``sigma``).
    """
    from imr_bayes.errors import SpecError
    from imr_bayes.spec import priors_for

    spec = request.spec
    direction = outcomes.get(request.outcome).direction
    sds = ("sigma_participant", "sigma_residual") + (
        ("sigma_group",) if spec.random.imr_group else ())
    base = priors_for(request.prior_set, tuple(dict.fromkeys(CACE_TERMS.values())) + sds,
                      direction)
    priors = {t: base[p] for t, p in CACE_TERMS.items()}
    priors.update({s: base[s] for s in sds})
    priors.update(spec.resolved_priors())
    for t in SCALED_TERMS:
        if not {"mu", "sigma"} <= set(priors[t]["kwargs"]):
            raise SpecError(f"the CACE scales the prior of {t!r} ({CACE_TERMS[t]!r} of prior "
                            f"set {request.prior_set.name!r}) by the complier share and needs "
                            f"a location-scale prior (mu, sigma); got {priors[t]['dist']}")
    return priors


def scaled_priors(priors: dict[str, dict[str, Any]], scales: dict[str, float]
                  ) -> dict[str, dict[str, Any]]:
    """Return the priors with those of :data:`SCALED_TERMS` divided by their ``kappa``.

    These are the priors the model sampled under (recorded in the fit's attrs and used for
    the Savage-Dickey BF10).
    """
    out = dict(priors)
    for t in SCALED_TERMS:
        out[t] = {"dist": priors[t]["dist"], "kwargs": _divided(priors[t]["kwargs"], scales[t])}
    return out


def _divided(kwargs: dict[str, Any], kappa: Any) -> dict[str, Any]:
    """Prior arguments with the location and scale divided by ``kappa`` (number or tensor)."""
    return {k: (v / kappa if k in ("mu", "sigma") else v) for k, v in kwargs.items()}


def cace_loglik(cp: CacePanel, draws: dict[str, np.ndarray], *, rho: float
                ) -> tuple[np.ndarray, np.ndarray]:
    """Per-participant log-likelihood (standardized scale) and P(complier | data).

    Parameters
    ----------
    cp : CacePanel
    draws : dict
        Flat draws ``(S, ...)`` of the model's variables.
    rho : float
        The never-taker effect ratio the model was fitted with.

    Returns
    -------
    (loglik, p_complier) : ndarray, shape (S, P) each
        ``p_complier`` is the posterior membership probability (observed 0/1 in the IMR
        arm).
    """
    from imr_bayes.bayes.marginal import block_logp_np
    from imr_bayes.constants import TIMES

    p = cp.panel
    t = np.asarray(TIMES, dtype=float)[None, None, :]
    z_ = p.treated[None, :, None]

    def col(name: str) -> np.ndarray:
        return draws[name][:, None, None]

    mu0 = col("intercept") + col("time") * t
    mu_nt = mu0 + z_ * (rho * col("cace_condition_x_time")) * t
    mu1 = (mu0 + col("complier") + col("complier_x_time") * t
           + z_ * (col("cace_condition") + col("cace_condition_x_time") * t))
    if "group_raw" in draws:
        g = draws["sigma_group"][:, None] * draws["group_raw"]
        mu1 = mu1 + p.group_on[None] * g[:, p.group_idx][:, :, None]
    rv = np.repeat((draws["sigma_residual"] ** 2)[:, None], len(p.participants), axis=1)
    pv = draws["sigma_participant"] ** 2
    ll1 = block_logp_np(p.z[None] - mu1, p.mask, rv, pv)
    ll0 = block_logp_np(p.z[None] - mu_nt, p.mask, rv, pv)
    eta = draws["compliance_intercept"][:, None] + draws["compliance_coef"] @ cp.W.T
    lp1 = -np.logaddexp(0.0, -eta) + ll1
    lp0 = -np.logaddexp(0.0, eta) + ll0
    treated = p.treated[None, :] > 0
    comp = cp.complier[None, :]
    ll = np.where(treated, comp * lp1 + (1 - comp) * lp0, np.logaddexp(lp1, lp0))
    post = np.where(treated, comp, np.exp(lp1 - np.logaddexp(lp1, lp0)))
    return ll, post


def fit_cace(data: pd.DataFrame, request) -> Any:
    """Fit the CACE principal-stratification model to one outcome.

    Parameters
    ----------
    data : pandas.DataFrame
        Contract long data (``completer`` and the baseline characteristics).
    request : imr_bayes.registry.FitRequest
        The spec's ``covariates`` (default: the trial facts' baseline model) select the
        compliance covariates, ``never_taker_effect_ratio`` fixes ``rho`` and
        ``scale_effect_priors`` the prior scaling.

    Returns
    -------
    imr_bayes.bayes.api.BayesianFit
        Estimands ``cace_condition_x_time`` (raw, and ``_d`` in baseline SDs),
        ``cace_condition``, ``complier_share``, ``itt_condition_x_time_implied``
        ((share + (1 - share) rho) x CACE), ``complier_x_time`` (complier - never-taker
        trend without IMR: the selection behind the per-protocol bias). The effect rows
        carry a ``note`` with ``rho``; attrs ``never_taker_effect_ratio``,
        ``observed_complier_share`` and ``effect_prior_scales``.
    """
    import json

    import xarray as xr

    from imr_bayes.bayes import engine

    spec = request.spec
    cp = make_cace_panel(data, request.outcome, spec.compliance_covariates())
    priors = cace_priors(request)
    key = {"kind": "cace", "k": cp.W.shape[1], "groups": len(cp.panel.groups),
           "imr_group": spec.random.imr_group, "priors": priors, **cace_structure(spec)}
    compiled = engine.compiled(key, lambda: build_cace_model(cp, spec, priors), spec.sampler)
    compiled = compiled.with_data(cp.model_data(spec))
    post_raw, stats = engine.sample(compiled, spec.sampler, request.seed)
    names = [*CACE_TERMS, "sigma_residual", "sigma_participant", "compliance_intercept",
             "compliance_coef"] + (["sigma_group", "group_raw"] if spec.random.imr_group
                                   else [])
    draws = {n: engine.flat(post_raw, n) for n in names}
    p = cp.panel
    s, centre = p.scale, p.center
    rho = spec.never_taker_effect_ratio
    ll, p_comp = cace_loglik(cp, draws, rho=rho)
    ll = ll - p.mask.sum(axis=1)[None] * np.log(s)
    eta = draws["compliance_intercept"][:, None] + draws["compliance_coef"] @ cp.W.T
    share = (1.0 / (1.0 + np.exp(-eta))).mean(axis=1)
    coef = {t: draws[t] * s for t in CACE_TERMS}
    coef["intercept"] = coef["intercept"] + centre
    variables: dict[str, tuple[tuple[str, ...], np.ndarray]] = {
        t: ((), v) for t, v in coef.items()}
    variables.update({
        "cace_condition_x_time_std": ((), draws["cace_condition_x_time"]),
        "sigma_residual": ((), draws["sigma_residual"] * s),
        "sigma_participant": ((), draws["sigma_participant"] * s),
        "compliance_intercept": ((), draws["compliance_intercept"]),
        "compliance_coef": (("covariate",), draws["compliance_coef"]),
        "complier_share": ((), share),
    })
    if spec.random.imr_group:
        variables["sigma_group"] = ((), draws["sigma_group"] * s)
        variables["group_effect"] = (("group",),
                                     draws["sigma_group"][:, None] * draws["group_raw"] * s)
    posterior = engine.dataset(variables, post_raw, {"covariate": list(cp.covariate_names),
                                                     "group": list(p.groups)})
    note = {"note": f"assumes never-taker effect = {rho:g} x CACE"
                    + (" (exclusion restriction)" if rho == 0 else "")}
    quantities = [
        ({"estimand": "cace_condition_x_time", **note}, coef["cace_condition_x_time"]),
        ({"estimand": "cace_condition_x_time_d", **note}, draws["cace_condition_x_time"]),
        ({"estimand": "cace_condition"}, coef["cace_condition"]),
        ({"estimand": "itt_condition_x_time_implied", **note},
         (share + (1.0 - share) * rho) * coef["cace_condition_x_time"]),
        ({"estimand": "complier_share", "scale": "probability"}, share),
        ({"estimand": "complier"}, coef["complier"]),
        ({"estimand": "complier_x_time"}, coef["complier_x_time"]),
        ({"estimand": "intercept"}, coef["intercept"]),
        ({"estimand": "time"}, coef["time"]),
    ] + [({"estimand": name}, variables[name][1])
         for name in ("sigma_participant", "sigma_group", "sigma_residual") if name in variables]
    controls = p.treated == 0
    groups = {
        "log_likelihood": xr.Dataset(
            {"y": (("chain", "draw", "participant"), engine.chain_draw(ll, post_raw))},
            coords={"participant": p.participants}),
        "observed_data": xr.Dataset({"y": (("participant", "time"), p.y)},
                                    coords={"participant": p.participants,
                                            "time": [0, 1, 2]}),
        "constant_data": xr.Dataset(
            {"treated": ("participant", p.treated), "complier": ("participant", cp.complier),
             "W": (("participant", "covariate"), cp.W),
             "mask": (("participant", "time"), p.mask),
             "center": ((), p.center), "scale": ((), p.scale),
             "expected_control_compliers": ((), float(p_comp[:, controls].sum(axis=1).mean()))},
            coords={"participant": p.participants, "time": [0, 1, 2],
                    "covariate": list(cp.covariate_names)}),
    }
    var_names = [v for v in (*CACE_TERMS, "sigma_residual", "sigma_participant",
                             "sigma_group", "compliance_intercept", "compliance_coef",
                             "group_effect") if v in posterior]
    scales = cp.effect_prior_scales(spec)
    return engine.assemble(data, request, posterior=posterior, sample_stats=stats,
                           groups=groups, quantities=quantities, var_names=var_names,
                           priors=scaled_priors(priors, scales), n_rows=p.n_rows,
                           n_participants=len(p.participants),
                           extra_attrs={"covariates": ",".join(cp.covariate_names),
                                        "sample": "all randomized (ITT); compliance latent "
                                                  "in the control arm",
                                        "never_taker_effect_ratio": float(rho),
                                        "observed_complier_share": cp.observed_complier_share,
                                        "effect_prior_scales": json.dumps(scales)})


# -------------------------------------------------------------------- CACE sensitivity
#: Columns of :attr:`CaceSensitivity.table`.
SENSITIVITY_COLUMNS: tuple[str, ...] = (
    "rho", "cace", "cace_ci_low", "cace_ci_high", "cace_d", "cace_d_ci_low", "cace_d_ci_high",
    "p_benefit", "never_taker_effect", "itt_implied", "complier_share", "prior_sd_d",
    "max_r_hat", "min_ess_bulk", "min_ess_tail", "divergences", "diagnostics",
)


@dataclasses.dataclass(frozen=True)
class CaceSensitivity:
    """The CACE at each never-taker effect ratio rho (:func:`cace_sensitivity`).

    Attributes
    ----------
    analysis, outcome : str
    label : str
        The estimand's label (the spec's ``label``).
    table : pandas.DataFrame
        One row per rho, columns :data:`SENSITIVITY_COLUMNS`: the CACE per time step on the
        outcome's scale and in baseline SDs (posterior mean, 95 % ETI), P(benefit), the
        never-taker effect ``rho x CACE`` and the implied ITT effect (posterior means, raw),
        the complier share, the prior SD of the standardized CACE (the ITT prior's SD over
        ``kappa``) and the fit's diagnostics (``passed`` or ``FAILED``).
    """

    analysis: str
    outcome: str
    label: str
    table: pd.DataFrame


def cace_sensitivity(data: pd.DataFrame, outcome: str | None = None, *,
                     rhos: tuple[float, ...] = SENSITIVITY_RHOS, analysis: str = "cace",
                     existing: tuple[Any, ...] = (), progress: Any = None,
                     **fit_kwargs: Any) -> CaceSensitivity:
    """Fit the CACE at each never-taker effect ratio rho (the exclusion restriction relaxed).

    Parameters
    ----------
    data : pandas.DataFrame
        Contract long data.
    outcome : str, optional
        Outcome code (default: the primary outcome).
    rhos : tuple of float
        Never-taker effect ratios (each in [0, 1]); 0 is the exclusion restriction.
    analysis : str
        A spec of the ``cace`` kind.
    existing : tuple of BayesianFit
        Fits already made with this analysis, outcome and settings (e.g. the main run's
        rho = 0 fit); a rho with one among them is not refitted.
    progress : callable, optional
        Called as ``progress("start" | "done", rho)`` around each fit.
    **fit_kwargs
        Passed to :func:`imr_bayes.fit` (``seed``, ``draws``, ``tune``, ``chains``,
        ``prior_set``, spec overrides).

    Returns
    -------
    CaceSensitivity
    """
    import json

    import imr_bayes

    outcome = outcome or outcomes.PRIMARY
    given = {float(f.spec.never_taker_effect_ratio): f for f in existing}
    rows, label = [], ""
    for rho in rhos:
        if progress:
            progress("start", rho)
        fit = given.get(float(rho)) or imr_bayes.fit(
            data, analysis=analysis, outcome=outcome, never_taker_effect_ratio=rho,
            **fit_kwargs)
        est = fit.estimates
        raw, std = est.row("cace_condition_x_time"), est.row("cace_condition_x_time_d")
        prior = json.loads(fit.idata.attrs["priors"])["cace_condition_x_time"]
        diag = fit.diagnostics.summary()
        label = fit.spec.label
        rows.append({
            "rho": float(rho), "cace": raw["estimate"], "cace_ci_low": raw["ci_low"],
            "cace_ci_high": raw["ci_high"], "cace_d": std["estimate"],
            "cace_d_ci_low": std["ci_low"], "cace_d_ci_high": std["ci_high"],
            "p_benefit": raw["p_benefit"], "never_taker_effect": float(rho) * raw["estimate"],
            "itt_implied": est.row("itt_condition_x_time_implied")["estimate"],
            "complier_share": est.row("complier_share")["estimate"],
            "prior_sd_d": prior["kwargs"]["sigma"],
            "max_r_hat": diag["max_r_hat"], "min_ess_bulk": diag["min_ess_bulk"],
            "min_ess_tail": diag["min_ess_tail"], "divergences": diag["divergences"],
            "diagnostics": "passed" if fit.diagnostics.passed else "FAILED"})
        if progress:
            progress("done", rho)
    return CaceSensitivity(analysis, outcome, label,
                           pd.DataFrame(rows, columns=list(SENSITIVITY_COLUMNS)))
