"""Fits without MCMC for the PPC and comparison tests.

``synthetic_fit`` builds an object with the fields of :class:`imr_bayes.BayesianFit` that
``imr_bayes.ppc`` reads (``analysis``, ``outcome``, ``spec`` (which printed tables the fit
reproduces), ``idata`` with ``posterior``, ``observed_data``, ``constant_data`` and the
``priors``/``seed`` attrs) and an empty ``estimates``.
Its posterior is a normal approximation centred at the frequentist REML fit of the data
(fixed effects from their model-based covariance, variance components fixed), i.e. a known
data-generating model, so the structure of the checks is tested without sampling.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import xarray as xr

from imr_bayes.bayes.itt import make_panel
from imr_bayes.constants import ARMS, TIMES
from imr_bayes.estimates import Estimates
from imr_bayes.frequentist import fit_lmm
from imr_bayes.spec import load_analysis

PRIORS = {"condition_x_time": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": 0.5}}}
_FREQ_NAMES = {"intercept": "intercept", "time": "time", "condition": "condition",
               "condition_x_time": "condition_x_time"}


def tree(panel, beta_std: np.ndarray, sigma_participant: np.ndarray,
         sigma_residual: np.ndarray, *, seed: int = 1, priors: dict | None = None,
         chains: int = 2) -> xr.DataTree:
    """Assemble an ITT-shaped DataTree from flat standardized draws (S, K)."""
    s, c = panel.scale, panel.center
    n = beta_std.shape[0] // chains
    beta = beta_std * s
    beta[:, panel.terms.index("intercept")] += c

    def cd(a):
        return a.reshape((chains, n) + a.shape[1:])

    cells = np.empty((beta_std.shape[0], len(ARMS), len(TIMES)))
    for a, arm in enumerate(ARMS):
        cond = 1.0 if arm == "imr" else 0.0
        for t in TIMES:
            x = {"intercept": 1.0, "time": t, "condition": cond, "condition_x_time": cond * t}
            cells[:, a, t] = beta @ np.array([x[k] for k in panel.terms])
    post = xr.Dataset(
        {"beta": (("chain", "draw", "term"), cd(beta)),
         "beta_std": (("chain", "draw", "term"), cd(beta_std)),
         "cell_mean": (("chain", "draw", "arm", "time"), cd(cells)),
         "sigma_participant": (("chain", "draw"), cd(sigma_participant * s)),
         "sigma_residual": (("chain", "draw"), cd(sigma_residual * s))},
        coords={"term": list(panel.terms), "arm": list(ARMS), "time": list(TIMES)})
    pcoords = {"participant": panel.participants, "time": list(TIMES)}
    const = xr.Dataset(
        {"treated": ("participant", panel.treated),
         "mask": (("participant", "time"), panel.mask),
         "group_on": (("participant", "time"), panel.group_on),
         "group_index": ("participant", panel.group_idx),
         "X": (("participant", "time", "term"), panel.X),
         "center": ((), c), "scale": ((), s)},
        coords={**pcoords, "term": list(panel.terms)})
    obs = xr.Dataset({"y": (("participant", "time"), panel.y)}, coords=pcoords)
    t = xr.DataTree.from_dict({"posterior": post, "constant_data": const,
                               "observed_data": obs})
    t.attrs.update({"seed": seed, "priors": json.dumps(priors or PRIORS)})
    return t


def synthetic_fit(data: pd.DataFrame, outcome: str, *, analysis: str = "itt_parity",
                  draws: int = 400, seed: int = 1) -> SimpleNamespace:
    """A fit-like object whose posterior is the normal approximation at the REML fit."""
    spec = load_analysis(analysis)
    rows = data
    if analysis == "completers":
        from imr_bayes.frequentist import select_sample

        rows = select_sample(data, "completers")
    panel = make_panel(rows, outcome, spec)
    freq = fit_lmm(rows, outcome, terms=("time", "condition", "condition_x_time"))
    coefs = freq.coefficients.set_index("term")
    order = [_FREQ_NAMES[t] for t in panel.terms]
    b = coefs.loc[order, "b"].to_numpy()
    cov = freq.cov_fe.loc[order, order].to_numpy()
    s, c = panel.scale, panel.center
    b_std = b / s
    b_std[panel.terms.index("intercept")] -= c / s
    rng = np.random.default_rng(seed)
    beta_std = rng.multivariate_normal(b_std, cov / s**2, size=draws)
    vc = freq.variance_components.set_index("component")["variance"]
    tau = np.full(draws, np.sqrt(vc.drop("residual").sum()) / s)
    sig = np.full(draws, np.sqrt(vc["residual"]) / s)
    idata = tree(panel, beta_std, tau, sig, seed=seed)
    return SimpleNamespace(analysis=analysis, outcome=outcome, idata=idata, spec=spec,
                           estimates=Estimates.empty(), freq=freq)


def synthetic_fidelity_fit(data: pd.DataFrame, outcome: str, *, draws: int = 400,
                           seed: int = 1) -> SimpleNamespace:
    """A ``fidelity`` fit-like object (subgroup design) at the frequentist REML fit."""
    from imr_bayes.bayes.fidelity import SUBGROUP_TERMS, _per_participant, subgroup_design
    from imr_bayes.bayes.lmm import with_design
    from imr_bayes.frequentist import fidelity_sample, fit_mixed

    spec = load_analysis("fidelity")
    rows = fidelity_sample(data)
    panel = make_panel(rows, outcome, spec)
    sub = _per_participant(rows, "subgroup", panel.participants).astype(str)
    terms = tuple(SUBGROUP_TERMS)
    panel = with_design(panel, subgroup_design(sub), terms)
    p, t = np.nonzero(panel.mask > 0)
    z = (panel.y[p, t] - panel.center) / panel.scale
    ref = fit_mixed(z, pd.DataFrame(panel.X[p, t], columns=list(terms)), p)
    b = ref.coefficients.set_index("term").loc[list(terms), "b"].to_numpy()
    cov = ref.cov_fe.loc[list(terms), list(terms)].to_numpy()
    vc = ref.variance_components.set_index("component")["variance"]
    rng = np.random.default_rng(seed)
    beta_std = rng.multivariate_normal(b, cov, size=draws)
    post = xr.Dataset(
        {"beta_std": (("chain", "draw", "term"), beta_std.reshape(2, draws // 2, -1)),
         "sigma_participant": (("chain", "draw"),
                               np.full((2, draws // 2), np.sqrt(vc.drop("residual").sum())
                                       * panel.scale)),
         "sigma_residual": (("chain", "draw"),
                            np.full((2, draws // 2), np.sqrt(vc["residual"]) * panel.scale))},
        coords={"term": list(terms)})
    pcoords = {"participant": panel.participants, "time": list(TIMES)}
    const = xr.Dataset(
        {"treated": ("participant", panel.treated),
         "mask": (("participant", "time"), panel.mask),
         "group_on": (("participant", "time"), panel.group_on),
         "group_index": ("participant", panel.group_idx),
         "X": (("participant", "time", "term"), panel.X),
         "center": ((), panel.center), "scale": ((), panel.scale)},
        coords={**pcoords, "term": list(terms)})
    obs = xr.Dataset({"y": (("participant", "time"), panel.y)}, coords=pcoords)
    idata = xr.DataTree.from_dict({"posterior": post, "constant_data": const,
                                   "observed_data": obs})
    idata.attrs.update({"seed": seed})
    return SimpleNamespace(analysis="fidelity", outcome=outcome, idata=idata, spec=spec,
                           estimates=Estimates.empty())
