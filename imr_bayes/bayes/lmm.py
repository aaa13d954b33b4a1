"""The ``lmm`` and ``pn_lmm`` kinds: linear mixed models of one outcome, every sample and design.

One function, :func:`fit_lmm`, fits every analysis whose spec says ``model: lmm`` (the
SPSS-parity model) or ``model: pn_lmm`` (the partially nested model): the ITT counterparts
of Tables 2-3 (``sample: itt``), the per-protocol counterparts of Tables 6-7
(``sample: completers``), the fidelity subgroups of Tables 4-5 (``sample: fidelity``,
``design: fidelity_subgroups``), the fidelity dose-response (``design: fidelity_slope``) and
the non-randomized attendance moderator (``design: attendance``). The model itself is the
kind's builder in :mod:`imr_bayes.bayes.itt` with the design's fixed effects; a *design* is
a function ``(panel, rows, request) -> Design`` that sets the fixed-effect columns, their
priors and the design's own derived quantities.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes import outcomes
from imr_bayes.bayes import engine
from imr_bayes.constants import ARMS, TIMES


@dataclasses.dataclass(frozen=True)
class Design:
    """The fixed effects of one LMM design on one panel.

    Attributes
    ----------
    panel : imr_bayes.bayes.itt.Panel
        With the design's ``X`` and ``terms``.
    priors : dict
        Resolved priors of every term, the SD parameters and the design's own parameters.
    derived : callable or None
        ``(variables, panel) -> (extra posterior variables, extra quantities)``.
    constant_data : dict
        Extra ``constant_data`` variables (name -> (dims, values)).
    attrs : dict
        Extra root attrs of the fit.
    """

    panel: Any
    priors: dict[str, dict[str, Any]]
    derived: Callable[[dict, Any], tuple[dict, list]] | None = None
    constant_data: dict[str, tuple[tuple[str, ...], Any]] = dataclasses.field(
        default_factory=dict)
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)


def with_design(panel, X: np.ndarray, terms: tuple[str, ...]):
    """Return the panel with another fixed design ``X`` (P, T, K) and term names."""
    return dataclasses.replace(panel, X=np.asarray(X, dtype=float), terms=tuple(terms))


def shared_priors(request, panel, mapping: dict[str, str] | None = None
                  ) -> dict[str, dict[str, Any]]:
    """Priors of the panel's terms and SD parameters from the prior set.

    ``mapping`` names the prior-set entry of a term that is not itself an entry (e.g. the
    fidelity subgroup ``high`` uses ``condition``).
    """
    from imr_bayes.bayes.itt import sd_parameters
    from imr_bayes.spec import priors_for

    mapping = mapping or {}
    direction = outcomes.get(request.outcome).direction
    wanted = {t: mapping.get(t, t) for t in panel.terms}
    base = priors_for(request.prior_set,
                      tuple(dict.fromkeys(wanted.values())) + sd_parameters(request.spec),
                      direction)
    out = {t: base[p] for t, p in wanted.items()}
    out.update({p: base[p] for p in sd_parameters(request.spec)})
    return out


def standard_design(panel, rows: pd.DataFrame, request) -> Design:
    """Intercept, time, condition, condition x time (linear or categorical time)."""
    def derived(variables: dict, panel_) -> tuple[dict, list]:
        return cell_quantities(variables, panel_)

    return Design(panel=panel, priors=shared_priors(request, panel), derived=derived)


def _designs() -> dict[str, Callable[..., Design]]:
    from imr_bayes.bayes.attendance import attendance_design
    from imr_bayes.bayes.fidelity import fidelity_slope_design, fidelity_subgroups_design

    return {"standard": standard_design, "fidelity_subgroups": fidelity_subgroups_design,
            "fidelity_slope": fidelity_slope_design, "attendance": attendance_design}


def sample_rows(data: pd.DataFrame, sample: str) -> pd.DataFrame:
    """Return the rows of the analysis sample (``itt``: all; ``completers``; ``fidelity``)."""
    if sample == "completers":
        from imr_bayes.bayes.completion import completers_sample

        return completers_sample(data)
    if sample == "fidelity":
        from imr_bayes.frequentist.fidelity import fidelity_sample

        return fidelity_sample(data)
    return data


def sample_lmm(panel, spec, priors: dict[str, dict[str, Any]], seed: int):
    """Sample the kind's LMM on ``panel`` (any fixed design).

    Returns
    -------
    (draws, posterior, sample_stats)
        :class:`imr_bayes.bayes.itt.Draws` (standardized scale) and the raw Datasets.
    """
    from imr_bayes.bayes.itt import extract_draws, model_builder, model_key

    s = spec.sampler
    build = model_builder(spec)
    compiled = engine.compiled(model_key(panel, spec, priors),
                               lambda: build(panel, spec, priors, engine=spec.engine),
                               s).with_data(panel.model_data())
    posterior, stats = engine.sample(compiled, s, seed)
    return extract_draws(posterior, panel, spec), posterior, stats


def lmm_variables(draws, panel, spec) -> dict[str, tuple[tuple[str, ...], np.ndarray]]:
    """Posterior variables of an LMM on the raw outcome scale.

    ``beta`` (intercept shifted by the centre, every other coefficient times the scale),
    ``beta_std`` and the SD parameters and IMR-group effects, as
    :func:`imr_bayes.bayes.engine.dataset` input.
    """
    s = panel.scale
    beta = draws.beta * s
    if "intercept" in panel.terms:
        beta[:, panel.terms.index("intercept")] += panel.center
    out = {"beta": (("term",), beta), "beta_std": (("term",), draws.beta)}
    if spec.has_participant_intercept:
        out["sigma_participant"] = ((), draws.sigma_participant * s)
    if spec.has_group_effect:
        out["sigma_group"] = ((), draws.sigma_group * s)
        out["group_effect"] = (("group",), draws.sigma_group[:, None] * draws.group_raw * s)
    if draws.group_shift_raw is not None:
        out["sigma_group_shift"] = ((), draws.sigma_group_shift * s)
        out["group_shift_effect"] = (("group",), draws.sigma_group_shift[:, None]
                                     * draws.group_shift_raw * s)
    if draws.team_raw is not None:
        out["sigma_team"] = ((), draws.sigma_team * s)
        out["team_effect"] = (("team",), draws.sigma_team[:, None] * draws.team_raw * s)
    sres = draws.sigma_residual * s
    dims = () if sres.ndim == 1 else ("arm",) if panel.residual_idx is None else ("residual",)
    out["sigma_residual"] = (dims, sres)
    return out


def cell_quantities(variables: dict, panel) -> tuple[dict, list]:
    """Arm x time means, IMR - CAU differences and Cohen's d of the standard design.

    Returns the ``cell_mean`` posterior variable and the quantities ``arm_time_mean``
    (per arm and time), ``difference`` and ``cohens_d`` (per time; d divided by the pooled
    within-arm SD observed at that time, as the paper's Table 3).
    """
    from imr_bayes.bayes.itt import cell_means_std, observed_pooled_sd

    cell = cell_means_std(variables["beta_std"][1], panel.terms) * panel.scale + panel.center
    quantities: list = []
    imr, cau = ARMS.index("imr"), ARMS.index("cau")
    for t in TIMES:
        for a, arm in enumerate(ARMS):
            quantities.append(({"estimand": "arm_time_mean", "arm": arm, "time": t},
                               cell[:, a, t]))
        diff = cell[:, imr, t] - cell[:, cau, t]
        quantities.append(({"estimand": "difference", "time": t}, diff))
        quantities.append(({"estimand": "cohens_d", "time": t},
                           diff / observed_pooled_sd(panel, t)))
    return {"cell_mean": (("arm", "time"), cell)}, quantities


def term_quantities(variables: dict, panel, spec) -> list:
    """Each term on the raw scale, and ``<term>_d`` where the spec declares it."""
    declared = {e.name for e in spec.estimands}
    beta, beta_std = variables["beta"][1], variables["beta_std"][1]
    out = []
    for i, term in enumerate(panel.terms):
        out.append(({"estimand": term}, beta[:, i]))
        if f"{term}_d" in declared:
            out.append(({"estimand": f"{term}_d", "scale": "d"}, beta_std[:, i]))
    return out


#: Where each residual cell of the partially nested model goes in the estimates table:
#: baseline at time 0 (both arms), each arm's follow-up SD without a time.
_RESIDUAL_ROWS: dict[str, dict[str, Any]] = {
    "baseline": {"time": 0, "note": "baseline, both arms"},
    "imr_follow_up": {"arm": "imr", "note": "after baseline (12 and 18 months)"},
    "cau_follow_up": {"arm": "cau", "note": "after baseline (12 and 18 months)"},
}


def sd_quantities(variables: dict) -> list:
    """Return the SDs: participant, group(s), team and residual (per arm or residual cell)."""
    from imr_bayes.bayes.itt import RESIDUAL_CELLS

    out = []
    for name in ("sigma_participant", "sigma_group", "sigma_group_shift", "sigma_team",
                 "sigma_residual"):
        if name not in variables:
            continue
        dims, values = variables[name]
        if dims == ("arm",):
            out += [({"estimand": name, "arm": arm}, values[:, a]) for a, arm in enumerate(ARMS)]
        elif dims == ("residual",):
            out += [({"estimand": name, **_RESIDUAL_ROWS[cell]}, values[:, k])
                    for k, cell in enumerate(RESIDUAL_CELLS)]
        else:
            out.append(({"estimand": name}, values))
    return out


def icc_quantities(draws, spec, priors: dict[str, dict[str, Any]], *, seed: int,
                   prior_set: str) -> tuple[list, Any]:
    """Return the IMR arm's group ICC at 12 and 18 months, with its prior beside it.

    Posterior draws of :func:`imr_bayes.bayes.itt.icc_group`; the same function of
    :data:`imr_bayes.bayes.itt.PRIOR_DRAWS` draws from the priors gives the prior, whose
    median and 95 % interval go into each row's ``note`` and whose draws (with those of
    ``sigma_group``, standardized) form the fit's ``prior`` group.

    Returns
    -------
    (quantities, prior)
        Rows ``icc_group`` (arm ``imr``, time 1 and 2, scale ``probability``) and an
        ``xarray.Dataset`` with dims (chain, draw[, time]).
    """
    import xarray as xr

    from imr_bayes.bayes.itt import (
        ICC_TIMES,
        PRIOR_DRAWS,
        icc_group,
        posterior_sds,
        prior_sds,
    )
    from imr_bayes.constants import CI_LEVEL

    post = icc_group(posterior_sds(draws), spec)
    sds = prior_sds(priors, spec, PRIOR_DRAWS, np.random.default_rng([seed, 11]))
    prior = icc_group(sds, spec)
    tail = (1 - CI_LEVEL) / 2
    rows = []
    for k, t in enumerate(ICC_TIMES):
        lo, med, hi = np.quantile(prior[:, k], [tail, 0.5, 1 - tail])
        note = (f"prior ({prior_set} set): median {med:.3f}, 95 % interval {lo:.3f} to "
                f"{hi:.3f}")
        rows.append(({"estimand": "icc_group", "arm": "imr", "time": t, "scale": "probability",
                      "note": note}, post[:, k]))
    dataset = xr.Dataset(
        {"icc_group": (("chain", "draw", "time"), prior[None]),
         "sigma_group": (("chain", "draw"), sds["sigma_group"][None])},
        coords={"chain": [0], "draw": np.arange(PRIOR_DRAWS), "time": list(ICC_TIMES)})
    dataset.attrs["scale"] = "standardized (pooled Table 1 baseline SD)"
    return rows, dataset


def lmm_groups(panel, draws, posterior, *, seed: int, posterior_predictive: bool
               ) -> dict[str, Any]:
    """``log_likelihood`` (per participant, raw scale), ``observed_data``, ``constant_data``.

    For an LMM fitted with the ITT builder on ``panel`` (either engine). With
    ``posterior_predictive``, also a ``posterior_predictive`` group of replicated outcomes on
    the raw scale (``y``, the full participant x time grid) and, for ArviZ's per-observation
    functions such as ``loo_pit``, the variable ``y_cell`` on one dimension ``cell`` (the
    observed cells) in ``log_likelihood``, ``observed_data`` and ``posterior_predictive``:
    each cell's density given the participant effect drawn with the replicates
    (``docs/models.md``).
    """
    import xarray as xr

    from imr_bayes.bayes.itt import mean_std, residual_var
    from imr_bayes.bayes.marginal import block_logp_np, draw_participant_effects

    mu = mean_std(draws, panel)
    rvar = residual_var(draws, panel)
    resid = panel.z[None] - mu
    pvar = draws.sigma_participant**2
    if draws.participant_raw is None:
        ll = block_logp_np(resid, panel.mask, rvar, pvar)
        u = None
    else:  # full engine: the same block density, u having been sampled explicitly
        u = draws.sigma_participant[:, None] * draws.participant_raw
        r = resid - u[:, :, None]
        ll = (-0.5 * (np.log(2 * np.pi * rvar) + r**2 / rvar) * panel.mask).sum(axis=2)
    ll = ll - panel.mask.sum(axis=1)[None] * np.log(panel.scale)  # Jacobian: raw-scale density
    pcoords = {"participant": panel.participants, "time": list(TIMES)}
    extra = {name: (dims, value) for name, dims, value in (
        ("group_shift_on", ("participant", "time"), panel.group_shift_on),
        ("team_index", ("participant",), panel.team_idx),
        ("residual_index", ("participant", "time"), panel.residual_idx)) if value is not None}
    out = {
        "log_likelihood": xr.Dataset(
            {"y": (("chain", "draw", "participant"), engine.chain_draw(ll, posterior))},
            coords={"participant": panel.participants}),
        "observed_data": xr.Dataset({"y": (("participant", "time"), panel.y)}, coords=pcoords),
        "constant_data": xr.Dataset(
            {"treated": ("participant", panel.treated),
             "mask": (("participant", "time"), panel.mask),
             "group_on": (("participant", "time"), panel.group_on),
             "group_index": ("participant", panel.group_idx),
             "X": (("participant", "time", "term"), panel.X),
             "center": ((), panel.center), "scale": ((), panel.scale), **extra},
            coords={**pcoords, "term": list(panel.terms)}),
    }
    if posterior_predictive:
        rng = np.random.default_rng([seed, 1])
        if u is None:
            u = draw_participant_effects(resid, panel.mask, rvar, pvar, rng)
        yrep = mu + u[:, :, None] + np.sqrt(rvar) * rng.standard_normal(mu.shape)
        yrep = panel.center + panel.scale * yrep
        out["posterior_predictive"] = xr.Dataset(
            {"y": (("chain", "draw", "participant", "time"),
                   engine.chain_draw(yrep, posterior))},
            coords=pcoords)
        p_idx, t_idx = np.nonzero(panel.mask > 0)
        cells = {"cell_participant": ("cell", panel.participants[p_idx]),
                 "cell_time": ("cell", t_idx)}
        v = rvar[:, p_idx, t_idx]
        r = (resid - u[:, :, None])[:, p_idx, t_idx]
        ll_cell = -0.5 * (np.log(2 * np.pi * v) + r**2 / v) - np.log(panel.scale)
        for group, dims, values in (
                ("log_likelihood", ("chain", "draw", "cell"), engine.chain_draw(ll_cell,
                                                                                posterior)),
                ("posterior_predictive", ("chain", "draw", "cell"),
                 engine.chain_draw(yrep[:, p_idx, t_idx], posterior)),
                ("observed_data", ("cell",), panel.y[p_idx, t_idx])):
            out[group] = out[group].assign(y_cell=(dims, values)).assign_coords(cells)
    return out


def fit_design(data: pd.DataFrame, request, design: Design, *,
               quantities: bool = True):
    """Sample an LMM design and assemble the fit (the body of :func:`fit_lmm`)."""
    spec = request.spec
    panel = design.panel
    draws, post_raw, stats = sample_lmm(panel, spec, design.priors, request.seed)
    variables = lmm_variables(draws, panel, spec)
    extra_q: list = []
    if design.derived is not None:
        extra_v, extra_q = design.derived(variables, panel)
        variables.update(extra_v)
    from imr_bayes.bayes.itt import RESIDUAL_CELLS

    posterior = engine.dataset(variables, post_raw, {
        "term": list(panel.terms), "group": list(panel.groups), "arm": list(ARMS),
        "time": list(TIMES), "team": list(panel.teams), "residual": list(RESIDUAL_CELLS)})
    groups = lmm_groups(panel, draws, post_raw, seed=request.seed,
                        posterior_predictive=request.posterior_predictive)
    icc: list = []
    if spec.model == "pn_lmm" and spec.has_group_effect and quantities:
        icc, groups["prior"] = icc_quantities(draws, spec, design.priors, seed=request.seed,
                                              prior_set=request.prior_set.name)
    if design.constant_data:
        import xarray as xr

        groups["constant_data"] = groups["constant_data"].assign({
            k: xr.DataArray(v, dims=d, coords={"group": list(panel.groups)} if "group" in d
                            else None) for k, (d, v) in design.constant_data.items()})
    q = (term_quantities(variables, panel, spec) + extra_q + sd_quantities(variables) + icc
         if quantities else [])
    var_names = [v for v in ("beta", "sigma_participant", "sigma_group", "sigma_group_shift",
                             "sigma_team", "sigma_residual", "group_effect",
                             "group_shift_effect", "team_effect") if v in posterior]
    return engine.assemble(
        data, request, posterior=posterior, sample_stats=stats, groups=groups, quantities=q,
        var_names=var_names, priors=design.priors, n_rows=panel.n_rows,
        n_participants=int((panel.mask.sum(axis=1) > 0).sum()),
        extra_attrs={"sample": SAMPLE_LABELS[spec.sample], **design.attrs})


#: How each ``sample`` of an LMM spec is described in a fit's attrs.
SAMPLE_LABELS: dict[str, str] = {
    "itt": "all randomized (ITT)",
    "completers": "IMR completers + all controls (per protocol)",
    "fidelity": "controls + IMR with >= the minimum sessions in a scored group",
}


def fit_lmm(data: pd.DataFrame, request):
    """Fit an ``lmm`` analysis (any sample, time coding and design) to one outcome.

    Parameters
    ----------
    data : pandas.DataFrame
        Contract long data (validated by :func:`imr_bayes.fit`).
    request : imr_bayes.registry.FitRequest

    Returns
    -------
    imr_bayes.bayes.api.BayesianFit
    """
    from imr_bayes.bayes.itt import make_panel

    spec = request.spec
    rows = sample_rows(data, spec.sample)
    panel = make_panel(rows, request.outcome, spec)
    design = _designs()[spec.design](panel, rows, request)
    return fit_design(data, request, design)
