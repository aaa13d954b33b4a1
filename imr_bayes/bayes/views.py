"""What a :class:`~imr_bayes.bayes.api.BayesianFit` shows: summary table, HTML and plots.

The methods of ``BayesianFit`` that follow brms and bambi (``summary``, ``plot``,
``pp_check``, the notebook repr) are thin calls of these functions. Computing and drawing
stay apart: :func:`summary_table` and :func:`pp_check_data` return data; :func:`plot_fit` and
:func:`pp_check` return an arviz-plots ``PlotCollection`` (matplotlib backend; ``.savefig``,
``.show``, the figure in ``.viz``). Intervals are equal-tailed at 95 % by default, whatever
ArviZ's own default (89 % HDI) is.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes.constants import CI_LEVEL, TIMES
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import unknown_choice_message

#: Kinds of :func:`plot_fit`: ArviZ's trace-and-density plot, or its rank plot.
PLOT_KINDS: tuple[str, ...] = ("trace", "rank")
#: Kinds of :func:`pp_check`: brms' ``dens_overlay``, ``ecdf_overlay`` and ``loo_pit``.
PP_CHECK_KINDS: tuple[str, ...] = ("dist", "ecdf", "loo_pit")
#: Rows of the HTML summary of a fit without treatment estimands (formula fits).
_HTML_ROWS = 12


def treatment_rows(fit: Any) -> pd.DataFrame:
    """Rows of the fit's estimates that are treatment effects in its spec (none without one)."""
    names = [e.name for e in getattr(fit.spec, "estimands", ()) if e.treatment]
    table = fit.estimates.table
    return table[table["estimand"].isin(names).fillna(False)].reset_index(drop=True)


def row_label(row: pd.Series) -> str:
    """ArviZ-style label of an estimates row: ``difference[2]``, ``arm_time_mean[imr, 1]``."""
    parts = [str(v) for v in (row["arm"], row["time"]) if not pd.isna(v)]
    return f"{row['estimand']}[{', '.join(parts)}]" if parts else str(row["estimand"])


def _check_level(level: float) -> None:
    if not (isinstance(level, float | int) and 0 < level < 1):
        raise ImrBayesError(f"level must be a probability in (0, 1); got {level!r}")


def summary_table(fit: Any, *, level: float = CI_LEVEL) -> pd.DataFrame:
    """Summary of the treatment estimands and the sampled parameters, as brms' ``summary()``.

    Parameters
    ----------
    fit : BayesianFit
    level : float
        Probability of the equal-tailed interval (default 0.95).

    Returns
    -------
    pandas.DataFrame
        Indexed by ArviZ-style labels (``condition_x_time``, ``difference[2]``,
        ``beta[time]``, ``sigma_residual``); column ``kind`` (``estimand`` or ``parameter``)
        and the columns of :func:`arviz_stats.summary` (``mean, sd, eti95_lb, eti95_ub,
        ess_bulk, ess_tail, r_hat, mcse_mean, mcse_sd`` at 95 %), unrounded. Estimands first
        (the spec's treatment effects, from their posterior draws), then every parameter the
        diagnostics check.
    """
    import arviz_stats as azs
    import xarray as xr

    _check_level(level)
    post = fit.idata["posterior"]
    shape = (post.sizes["chain"], post.sizes["draw"])
    rows = treatment_rows(fit)
    estimands = {row_label(r): (("chain", "draw"), fit.estimates.draws_of(r).reshape(shape))
                 for _, r in rows.iterrows()}
    options = {"ci_prob": level, "ci_kind": "eti", "round_to": "none"}
    parts = []
    if estimands:
        ds = xr.Dataset(estimands, coords={"chain": post["chain"].values,
                                           "draw": post["draw"].values})
        parts.append(pd.DataFrame(azs.summary(ds, **options)).assign(kind="estimand"))
    parts.append(pd.DataFrame(azs.summary(fit.idata, var_names=list(fit.diagnostics.var_names),
                                          **options)).assign(kind="parameter"))
    table = pd.concat(parts)
    return table[["kind", *[c for c in table.columns if c != "kind"]]]


def _sampler_text(fit: Any) -> str:
    post = fit.idata["posterior"]
    attrs = fit.idata.attrs
    text = (f"{attrs.get('sampler', 'nutpie')}, {post.sizes['chain']} chains x "
            f"{post.sizes['draw']} draws")
    sampler = getattr(fit.spec, "sampler", None)
    if sampler is not None:
        text += f" after {sampler.tune} tuning, target_accept {sampler.target_accept:g}"
    if "seed" in attrs:
        text += f", seed {attrs['seed']}"
    return text


def html_summary(fit: Any) -> str:
    """Compact HTML of a fit: analysis, outcome, sampler, diagnostics, treatment estimands.

    Each treatment estimand with its posterior mean, 95 % ETI and P(benefit); a fit without
    treatment estimands (formula fits) shows its first estimates rows.
    """
    e = html.escape
    d = fit.diagnostics
    verdict = ("<span style='color:#1b7837'>passed</span>" if d.passed else
               "<span style='color:#b2182b'><b>FAILED</b></span>: " + "; ".join(
                   e(p) for p in d.problems))
    label = fit.idata.attrs.get("label", "")
    rows = treatment_rows(fit)
    caption = "treatment estimands"
    if rows.empty:
        rows, caption = fit.estimates.table, "estimates"
    more = len(rows) - _HTML_ROWS
    body = []
    for _, r in rows.head(_HTML_ROWS).iterrows():
        pb = "" if pd.isna(r["p_benefit"]) else f"{r['p_benefit']:.3f}"
        body.append(
            f"<tr><td>{e(row_label(r))}</td><td>{r['estimate']:.4g}</td>"
            f"<td>{r['ci_low']:.4g} to {r['ci_high']:.4g}</td><td>{pb}</td></tr>")
    if more > 0:
        body.append(f"<tr><td colspan='4'>... {more} more rows in .estimates.table</td></tr>")
    level = f"{100 * CI_LEVEL:g} %"
    return (
        "<div class='imr-bayes-fit'>"
        f"<b>BayesianFit</b> {e(fit.analysis)} &middot; {e(fit.outcome)}"
        + (f" &middot; <b>{e(label)}</b>" if label else "")
        + f"<br>sampler: {e(_sampler_text(fit))}<br>diagnostics: {verdict}"
        f"<table><caption style='text-align:left'>{caption}</caption>"
        f"<tr><th>estimand</th><th>mean</th><th>{level} ETI</th><th>P(benefit)</th></tr>"
        + "".join(body) + "</table></div>")


def plot_fit(fit: Any, kind: str = "trace", var_names: Sequence[str] | None = None) -> Any:
    """Trace or rank plot of the sampled parameters (arviz-plots, matplotlib backend).

    Parameters
    ----------
    fit : BayesianFit
    kind : {"trace", "rank"}
        ``trace``: ArviZ's ``plot_trace_dist`` (density and trace per chain, as brms'
        ``plot()``); ``rank``: ``plot_rank``.
    var_names : sequence of str, optional
        Posterior variables (default: the sampled parameters the diagnostics check, on the
        outcome's scale, not their standardized copies).

    Returns
    -------
    arviz_plots.PlotCollection
    """
    import arviz_plots as azp

    if kind not in PLOT_KINDS:
        raise ImrBayesError(unknown_choice_message("plot kind", kind, PLOT_KINDS))
    post = fit.idata["posterior"]
    names = list(fit.diagnostics.var_names if var_names is None else
                 ([var_names] if isinstance(var_names, str) else var_names))
    for name in names:
        if name not in post.data_vars:
            raise ImrBayesError(unknown_choice_message("posterior variable", name,
                                                       tuple(post.data_vars)))
    draw = azp.plot_trace_dist if kind == "trace" else azp.plot_rank
    return draw(fit.idata, var_names=names, backend="matplotlib")


def pp_check_data(fit: Any, *, num_samples: int = 50, participants: str = "conditional",
                  seed: int | None = None) -> Any:
    """Replicated data of the observed cells beside the observed values, per arm x time.

    The replicates follow the observed missingness: a participant x time cell is replicated
    only if it was observed (:func:`imr_bayes.ppc.replicate`), so each panel compares as many
    replicated as observed values.

    Parameters
    ----------
    fit : BayesianFit
        A fit of a linear mixed model (``model: lmm`` or ``pn_lmm``: ``itt``,
        ``completers``, ...).
    num_samples : int
        Replicated data sets, from evenly spaced posterior draws.
    participants : {"conditional", "new"}
        ``conditional`` (default, as brms' ``posterior_predict``): the participants' own
        intercepts, drawn from their posterior; ``new``: new participants in the same cells.
    seed : int, optional
        Default: the fit's seed.

    Returns
    -------
    xarray.DataTree
        ``posterior_predictive`` and ``observed_data``, one variable per arm x time
        (:func:`imr_bayes.ppc.predictive_tree`).
    """
    from imr_bayes.ppc import predictive_tree
    from imr_bayes.spec import LMM_KINDS

    model = getattr(fit.spec, "model", None)
    if model not in LMM_KINDS:
        raise ImrBayesError(
            f"pp_check replicates the linear mixed models (model: {' or '.join(LMM_KINDS)}, "
            f"e.g. itt, completers); analysis {fit.analysis!r} is model: "
            f"{model or 'a formula fit'}")
    return predictive_tree(fit, draws=num_samples, participants=participants, seed=seed)


def pp_check(fit: Any, *, kind: str = "dist", num_samples: int = 50,
             participants: str = "conditional", seed: int | None = None) -> Any:
    """Posterior predictive check as brms' ``pp_check()`` (arviz-plots, matplotlib backend).

    Parameters
    ----------
    fit : BayesianFit
    kind : {"dist", "ecdf", "loo_pit"}
        ``dist``: densities of ``num_samples`` replicated data sets over the observed one,
        per arm x time (brms ``dens_overlay``); ``ecdf``: the same as ECDFs;
        ``loo_pit``: ArviZ's LOO-PIT of every observed cell (``plot_loo_pit`` on ``y_cell``;
        needs a fit with ``posterior_predictive=True``).
    num_samples, participants, seed
        See :func:`pp_check_data` (not used by ``loo_pit``, which reads the fit's own
        ``posterior_predictive`` group).

    Returns
    -------
    arviz_plots.PlotCollection
    """
    import arviz_plots as azp

    if kind not in PP_CHECK_KINDS:
        raise ImrBayesError(unknown_choice_message("pp_check kind", kind, PP_CHECK_KINDS))
    if kind == "loo_pit":
        if "y_cell" not in fit.idata.get("posterior_predictive", {}):
            raise ImrBayesError(
                f"LOO-PIT needs the per-observation groups of a linear mixed model fitted "
                f"with posterior_predictive=True; fit {fit.analysis}/{fit.outcome} has none")
        return azp.plot_loo_pit(fit.idata, var_names=["y_cell"], backend="matplotlib")
    tree = pp_check_data(fit, num_samples=num_samples, participants=participants, seed=seed)
    n = int(np.prod([tree["posterior_predictive"].sizes[d] for d in ("chain", "draw")]))
    return azp.plot_ppc_dist(tree, kind="kde" if kind == "dist" else "ecdf", num_samples=n,
                             backend="matplotlib", col_wrap=len(TIMES))
