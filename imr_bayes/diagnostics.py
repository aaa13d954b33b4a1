"""MCMC diagnostics with thresholds from the spec: R-hat, bulk/tail ESS, divergences, E-BFMI.

Every fit carries a :class:`Diagnostics`; a fit that misses a threshold has ``passed = False``
and a ``problems`` list naming each failure, so a failing fit is flagged, never silent.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from imr_bayes.spec import DiagnosticsSpec


@dataclass(frozen=True)
class Diagnostics:
    """Convergence diagnostics of one fit.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per scalar parameter (``parameter`` like ``beta[time]``), columns
        ``r_hat, ess_bulk, ess_tail, mcse_mean``.
    divergences : int
        Divergent transitions after warm-up, all chains.
    bfmi : list of float
        E-BFMI per chain.
    thresholds : DiagnosticsSpec
    problems : list of str
        Every threshold missed, in words; empty when the fit passes.
    var_names : tuple of str
        The posterior variables diagnosed (the sampled parameters).
    """

    table: pd.DataFrame
    divergences: int
    bfmi: list[float]
    thresholds: DiagnosticsSpec
    problems: list[str] = field(default_factory=list)
    var_names: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """True when every threshold is met."""
        return not self.problems

    def summary(self) -> dict[str, float | int | bool]:
        """Worst values over parameters, for one-line reports."""
        t = self.table
        return {
            "passed": self.passed,
            "max_r_hat": float(t["r_hat"].max()),
            "min_ess_bulk": float(t["ess_bulk"].min()),
            "min_ess_tail": float(t["ess_tail"].min()),
            "divergences": self.divergences,
            "min_bfmi": float(min(self.bfmi)) if self.bfmi else float("nan"),
        }


def _flat_table(tree, var_names: list[str]) -> pd.DataFrame:
    import arviz as az

    rows = {}
    for kind, name in (("rhat", "r_hat"), ("ess_bulk", "ess_bulk"), ("ess_tail", "ess_tail"),
                       ("mcse_mean", "mcse_mean")):
        if kind == "rhat":
            ds = az.rhat(tree, var_names=var_names)
        elif kind == "mcse_mean":
            ds = az.mcse(tree, var_names=var_names, method="mean")
        else:
            ds = az.ess(tree, var_names=var_names, method=kind.split("_")[1])
        ds = getattr(ds, "dataset", ds)
        for var in var_names:
            da = ds[var]
            if da.ndim == 0:
                rows.setdefault(var, {})[name] = float(da)
                continue
            stacked = da.stack(_k=da.dims)
            for k in range(stacked.size):
                label = ",".join(str(stacked[d].values[k]) for d in da.dims)
                rows.setdefault(f"{var}[{label}]", {})[name] = float(stacked.values[k])
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "parameter"
    return table.reset_index()


def diagnose(tree, var_names: list[str], thresholds: DiagnosticsSpec) -> Diagnostics:
    """Compute the diagnostics of ``var_names`` in ``tree`` and check them.

    Parameters
    ----------
    tree : xarray.DataTree
        With ``posterior`` and ``sample_stats`` (``diverging``, ``energy``) groups.
    var_names : list of str
        Posterior variables to check (sampled parameters).
    thresholds : DiagnosticsSpec
        From the analysis spec.
    """
    import arviz as az

    table = _flat_table(tree, var_names)
    stats = tree["sample_stats"]
    divergences = int(np.asarray(stats["diverging"]).sum()) if "diverging" in stats else 0
    if "energy" in stats:
        bfmi_da = az.bfmi(tree)
        bfmi_da = getattr(bfmi_da, "dataset", bfmi_da)
        if hasattr(bfmi_da, "data_vars"):
            bfmi_da = bfmi_da[next(iter(bfmi_da.data_vars))]
        bfmi = [float(b) for b in np.ravel(np.asarray(bfmi_da))]
    else:
        bfmi = []
    th = thresholds
    problems = []
    # NaN (e.g. R-hat of a single chain) fails the check: it is never silently passed.
    bad = table[~(table["r_hat"] <= th.r_hat_max)]
    if len(bad):
        worst = bad.loc[bad["r_hat"].fillna(np.inf).idxmax()]
        problems.append(f"R-hat > {th.r_hat_max} or not computable for {len(bad)} "
                        f"parameter(s), worst {worst['r_hat']:.3f} ({worst['parameter']})")
    for col, lim in (("ess_bulk", th.ess_bulk_min), ("ess_tail", th.ess_tail_min)):
        bad = table[~(table[col] >= lim)]
        if len(bad):
            worst = bad.loc[bad[col].fillna(-np.inf).idxmin()]
            problems.append(f"{col.replace('_', ' ')} < {lim:g} for {len(bad)} parameter(s), "
                            f"worst {worst[col]:.0f} ({worst['parameter']})")
    if divergences > th.divergences_max:
        problems.append(f"{divergences} divergent transition(s) (allowed {th.divergences_max})")
    low = [b for b in bfmi if not b >= th.bfmi_min]
    if low:
        problems.append(f"E-BFMI < {th.bfmi_min} in {len(low)} chain(s), lowest {min(low):.2f}")
    return Diagnostics(table=table, divergences=divergences, bfmi=bfmi, thresholds=thresholds,
                       problems=problems, var_names=tuple(var_names))
