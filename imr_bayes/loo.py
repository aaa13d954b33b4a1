"""PSIS-LOO comparison of the ITT model with and without condition x time.

The Bayesian analogue of the paper's AIC step (Tables 2 and 6, footnote b): the expected log
predictive density of the ITT linear mixed model is estimated by Pareto-smoothed importance
sampling leave-one-out cross-validation (Vehtari, Gelman & Gabry 2017; ``arviz_stats.loo``)
with and without the condition x time term, and the difference is reported with its SE and
the Pareto-k diagnostics.

The pointwise log-likelihood of the fast path is one value per **participant block** (the
participant intercept is integrated out), so this is leave-one-participant-out, the natural
unit for predicting a new participant's trajectory.

The reduced model is the analysis' own ``lmm`` design with the interaction column dropped
(:func:`imr_bayes.bayes.lmm.with_design`), fitted through the same path as every model
(:func:`imr_bayes.bayes.lmm.fit_design`): the same panel, priors, random effects and sampler.
Details: ``docs/ppc.md`` (section LOO).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes.constants import DEFAULT_SEED
from imr_bayes.errors import ImrBayesError

#: Pareto-k above which the PSIS estimate of a point is unreliable (Vehtari et al. 2024
#: give 0.7 for S >= 2000 draws; the sample-size-dependent threshold is also reported).
K_THRESHOLD: float = 0.7
#: Columns of :attr:`LooComparison.table`.
TABLE_COLUMNS: tuple[str, ...] = (
    "model", "elpd_loo", "se", "p_loo", "elpd_diff", "diff_se", "weight", "n_points",
    "n_k_gt_0_7", "share_k_gt_0_7", "max_k", "k_threshold",
)


@dataclass(frozen=True)
class LooComparison:
    """Result of :func:`compare_interaction`.

    Attributes
    ----------
    outcome : str
    table : pandas.DataFrame
        One row per model (:data:`TABLE_COLUMNS`), best ELPD first; ``elpd_diff`` and
        ``diff_se`` are relative to the best model (arviz-stats ``compare``).
    elpd_diff : float
        ELPD(with interaction) - ELPD(without); > 0 favours the interaction.
    diff_se : float
        SE of that difference, ``sqrt(n * var(d_i))`` over the pointwise differences
        ``d_i`` (population variance, as arviz-stats ``compare``).
    pointwise : pandas.DataFrame
        ``participant, elpd_with, elpd_without, k_with, k_without``: pointwise ELPD and
        Pareto k per participant block (no outcome values; not written to reports).
    """

    outcome: str
    table: pd.DataFrame
    elpd_diff: float
    diff_se: float
    pointwise: pd.DataFrame

    def summary(self) -> dict[str, Any]:
        """Return the headline numbers as a plain dict (for reports and the CLI)."""
        t = self.table.set_index("model")
        return {"outcome": self.outcome, "elpd_diff": self.elpd_diff,
                "diff_se": self.diff_se,
                "share_k_gt_0_7_with": float(t.loc["with_interaction", "share_k_gt_0_7"]),
                "share_k_gt_0_7_without": float(
                    t.loc["without_interaction", "share_k_gt_0_7"])}


def _drop_interaction(terms: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(t for t in terms if not t.startswith("condition_x_time"))


def fit_without_interaction(data: pd.DataFrame, *, outcome: str = "imrs_client",
                            analysis: str = "itt", prior_set: str | None = None,
                            seed: int = DEFAULT_SEED, draws: int | None = None,
                            tune: int | None = None, chains: int | None = None,
                            cores: int | None = None) -> Any:
    """Fit an ITT-type analysis with the condition x time term(s) removed.

    Parameters
    ----------
    data : pandas.DataFrame
        Contract long data.
    outcome : str
    analysis : str
        The analysis whose model is reduced (same sample, random effects, priors, sampler):
        either LMM kind with the standard design (``itt``, ``itt_parity``,
        ``itt_categorical``, ``completers``, ...).
    prior_set : str, optional
        Default: the spec's.
    seed, draws, tune, chains, cores : int, optional
        Sampler settings (default: the spec's).

    Returns
    -------
    imr_bayes.bayes.api.BayesianFit
        Analysis name ``<analysis>_no_interaction``; same groups as an ITT fit
        (``posterior`` has ``beta``/``beta_std`` without the interaction).
    """
    from imr_bayes import outcomes, registry
    from imr_bayes.bayes.api import validate_for
    from imr_bayes.bayes.itt import make_panel
    from imr_bayes.bayes.lmm import Design, fit_design, sample_rows, shared_priors, with_design
    from imr_bayes.spec import LMM_KINDS, load_prior_set

    valid = tuple(n for n, s in registry.analyses().items()
                  if s.model in LMM_KINDS and s.design == "standard")
    if analysis not in valid:
        raise ImrBayesError(outcomes.unknown_choice_message(
            "analysis with a condition x time term to drop", analysis, valid))
    outcomes.get(outcome)
    sampler = {k: v for k, v in (("draws", draws), ("tune", tune), ("chains", chains),
                                 ("cores", cores)) if v is not None}
    spec = registry.get(analysis).with_overrides(estimands=(), **sampler)
    request = registry.FitRequest(analysis=f"{analysis}_no_interaction", outcome=outcome,
                                  spec=spec,
                                  prior_set=load_prior_set(prior_set or spec.prior_set),
                                  seed=int(seed))
    data = validate_for(data, spec, outcome)
    panel = make_panel(sample_rows(data, spec.sample), outcome, spec)
    terms = _drop_interaction(panel.terms)
    keep = [panel.terms.index(t) for t in terms]
    panel = with_design(panel, panel.X[:, :, keep], terms)
    design = Design(panel=panel, priors=shared_priors(request, panel),
                    attrs={"reduced": "condition x time removed for PSIS-LOO"})
    return fit_design(data, request, design)


def _elpd(fit: Any) -> Any:
    import arviz_stats

    tree = fit.idata
    if "log_likelihood" not in tree.children:
        raise ImrBayesError(f"fit {fit.analysis}/{fit.outcome} has no log_likelihood group")
    return arviz_stats.loo(tree, var_name="y", pointwise=True)


def _k(elpd: Any) -> np.ndarray:
    return np.asarray(elpd.pareto_k, dtype=float).ravel()


def compare_interaction(with_fit: Any, without_fit: Any) -> LooComparison:
    """Compare two fits of one outcome by PSIS-LOO (per participant block).

    Parameters
    ----------
    with_fit, without_fit : BayesianFit
        The model with condition x time and the model without it, on the same data.

    Returns
    -------
    LooComparison
    """
    import arviz_stats

    if with_fit.outcome != without_fit.outcome:
        raise ImrBayesError(f"fits are of different outcomes: {with_fit.outcome!r} and "
                            f"{without_fit.outcome!r}")
    ll_w = with_fit.idata["log_likelihood"]["y"]
    ll_o = without_fit.idata["log_likelihood"]["y"]
    if list(ll_w["participant"].values) != list(ll_o["participant"].values):
        raise ImrBayesError("the two fits have different participants; LOO needs the same data")
    loo_w, loo_o = _elpd(with_fit), _elpd(without_fit)
    names = {"with_interaction": loo_w, "without_interaction": loo_o}
    cmp = arviz_stats.compare(names, round_to="none")
    diff = np.asarray(loo_w.elpd_i, dtype=float).ravel() - np.asarray(loo_o.elpd_i,
                                                                      dtype=float).ravel()
    n = diff.size
    diff_se = float(np.sqrt(n * np.var(diff))) if n > 1 else float("nan")  # as arviz-stats
    rows = []
    for model, res in names.items():
        k = _k(res)
        rows.append({
            "model": model, "elpd_loo": float(res.elpd), "se": float(res.se),
            "p_loo": float(res.p), "elpd_diff": float(cmp.loc[model, "elpd_diff"]),
            "diff_se": float(cmp.loc[model, "dse"]), "weight": float(cmp.loc[model, "weight"]),
            "n_points": int(k.size), "n_k_gt_0_7": int(np.sum(k > K_THRESHOLD)),
            "share_k_gt_0_7": float(np.mean(k > K_THRESHOLD)), "max_k": float(np.max(k)),
            "k_threshold": float(getattr(res, "good_k", K_THRESHOLD)),
        })
    table = pd.DataFrame(rows, columns=list(TABLE_COLUMNS)).sort_values(
        "elpd_loo", ascending=False, ignore_index=True)
    pointwise = pd.DataFrame({
        "participant": ll_w["participant"].values.astype(str),
        "elpd_with": np.asarray(loo_w.elpd_i, dtype=float).ravel(),
        "elpd_without": np.asarray(loo_o.elpd_i, dtype=float).ravel(),
        "k_with": _k(loo_w), "k_without": _k(loo_o)})
    return LooComparison(outcome=str(with_fit.outcome), table=table,
                         elpd_diff=float(diff.sum()), diff_se=diff_se, pointwise=pointwise)


def loo_interaction(data: pd.DataFrame, *, outcome: str = "imrs_client",
                    analysis: str = "itt", with_fit: Any = None, seed: int = DEFAULT_SEED,
                    draws: int | None = None, tune: int | None = None,
                    chains: int | None = None, cores: int | None = None) -> LooComparison:
    """Fit (or reuse) the model with condition x time, fit it without, compare by PSIS-LOO.

    Parameters
    ----------
    data : pandas.DataFrame
    outcome, analysis : str
    with_fit : BayesianFit, optional
        An existing fit of ``analysis`` and ``outcome`` on ``data`` (reused).
    seed, draws, tune, chains, cores : int, optional

    Returns
    -------
    LooComparison
    """
    import imr_bayes

    kw = {k: v for k, v in (("draws", draws), ("tune", tune), ("chains", chains))
          if v is not None}
    if with_fit is None:
        opts = {"cores": cores} if cores is not None else {}
        with_fit = imr_bayes.fit(data, outcome=outcome, analysis=analysis, seed=seed,
                                 **kw, **opts)
    without = fit_without_interaction(data, outcome=outcome, analysis=analysis, seed=seed,
                                      cores=cores, **kw)
    return compare_interaction(with_fit, without)
