"""Summary-level Bayesian reanalysis of published estimates under a grid of priors.

A printed estimate with its confidence interval is read as a normal likelihood (on the log
scale for ratios) and combined in closed form with each normal prior of the grid in
``models/priors/summary_level.yaml`` (reference, sceptical, neutral, enthusiastic,
pessimistic; Spiegelhalter, Abrams & Myles 2004). The priors are scaled to the trial's
planned effect d = 0.40 converted to the estimate's scale; an estimate without a planned
effect (the hospitalization odds ratio) gets the grid's generic priors instead (sceptical:
95 % of its mass on OR 0.5-2). Baseline (t = 0) differences are balance checks, not effects:
they get the standardized difference with its interval and P(|d| > 0.2), never a P(benefit)
(:func:`balance`). Every row reports BF10 under the test prior N(0, planned effect^2) beside
the estimation prior's. Definitions, the conversion of d per kind of estimate and the
rationale are in ``docs/summary_level.md``.

Compute and draw are separate: :func:`sensitivity_grid` returns P(benefit) over a grid of
prior means x prior SDs, :func:`plot_sensitivity` draws it (same arguments).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml
from scipy import special

from imr_bayes.constants import CI_LEVEL, PLANNED_EFFECT_D
from imr_bayes.errors import ImrBayesError, SpecError
from imr_bayes.indices import (
    CLINICALLY_IMPORTANT_D,
    ROPE_D,
    agreement_class,
    direction_sign,
    scaled_threshold,
)
from imr_bayes.paths import models_dir

#: Factor converting a standardized mean difference d to a log odds ratio (Chinn 2000:
#: ln OR = d * pi / sqrt(3), the logistic distribution's SD).
D_TO_LOG_OR: float = math.pi / math.sqrt(3)
#: Columns of :func:`reanalyze` and :func:`balance`, in order.
REANALYSIS_COLUMNS: tuple[str, ...] = (
    "prior", "prior_mean", "prior_sd", "post_mean", "post_sd", "eti95_low", "eti95_high",
    "p_gt_0", "p_benefit", "p_clinically_important", "p_rope", "bf10", "scale",
    "lik_mean", "lik_se", "planned_effect", "clinically_important", "rope_low", "rope_high",
    "ratio_median", "ratio_eti95_low", "ratio_eti95_high",
    "d_mean", "d_eti95_low", "d_eti95_high", "p_abs_d_gt_0_2", "bf10_test", "test_prior",
    "prior_unit",
)
#: Time step (in the paper's time coding 0, 1, 2) at which a condition x time slope is
#: judged: the 18-month follow-up, so the planned effect on the slope is d * SD / 2.
SLOPE_HORIZON: float = 2.0


def prior_grid_path() -> Path:
    """Return the path of the default prior grid, ``models/priors/summary_level.yaml``."""
    return models_dir() / "priors" / "summary_level.yaml"


@cache
def _read_file(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            doc = yaml.safe_load(fh)
    except OSError as exc:
        raise SpecError(f"cannot read prior grid {path}: {exc}") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("priors"), Mapping):
        raise SpecError(f"prior grid {path} must be a mapping with a 'priors' mapping")
    return dict(doc)


def _read_grid(path: str) -> dict[str, Any]:
    return dict(_read_file(path)["priors"])


def load_prior_grid(prior_grid: Mapping[str, Any] | str | Path | None = None) -> dict[str, Any]:
    """Load and validate a prior grid.

    Parameters
    ----------
    prior_grid : mapping, path or None
        ``None`` for ``models/priors/summary_level.yaml``; a path to a YAML file of that
        form; or the ``priors`` mapping itself: name -> ``{flat: true}`` or
        ``{mean: m, anchor: {at: a, prob: p}}`` in units of the planned effect.

    Returns
    -------
    dict
        The validated ``priors`` mapping.

    Raises
    ------
    SpecError
        For unknown keys, missing fields or out-of-range values.
    """
    if prior_grid is None:
        grid = _read_grid(str(prior_grid_path()))
    elif isinstance(prior_grid, str | Path):
        grid = _read_grid(str(prior_grid))
    elif isinstance(prior_grid, Mapping):
        grid = dict(prior_grid)
    else:
        raise SpecError(f"prior_grid must be a mapping or a path; got {type(prior_grid).__name__}")
    if not grid:
        raise SpecError("prior grid is empty")
    for name, spec in grid.items():
        if not isinstance(spec, Mapping):
            raise SpecError(f"prior {name!r} must be a mapping; got {spec!r}")
        unknown = set(spec) - {"flat", "mean", "anchor", "description"}
        if unknown:
            raise SpecError(
                f"prior {name!r} has unknown key(s) {sorted(unknown)}; "
                "valid keys: flat, mean, anchor, description"
            )
        if spec.get("flat"):
            continue
        anchor = spec.get("anchor")
        if "mean" not in spec or not isinstance(anchor, Mapping) or set(anchor) != {"at", "prob"}:
            raise SpecError(
                f"prior {name!r} needs 'mean' and 'anchor: {{at, prob}}' (or 'flat: true')"
            )
        if not 0 < float(anchor["prob"]) < 0.5:
            raise SpecError(
                f"prior {name!r}: anchor prob must be in (0, 0.5); got {anchor['prob']}"
            )
        if float(anchor["at"]) == float(spec["mean"]):
            raise SpecError(f"prior {name!r}: anchor 'at' must differ from 'mean'")
    return grid


def generic_prior_grid(prior_grid: str | Path | None = None) -> tuple[float, dict[str, Any]]:
    """Priors of estimates without a planned effect: the grid file's ``no_planned_effect``.

    The hospitalization odds ratio had no planned effect, so its priors are not scaled to
    d = 0.40. They are given in units of a generic effect, ``unit_ratio`` (2: a doubling or
    halving of the odds), whose log is the unit on the analysis scale; the sceptical prior
    N(0, (ln 2 / 1.96)^2) puts 95 % of its mass on OR 0.5-2 (``docs/summary_level.md``).

    Parameters
    ----------
    prior_grid : path or None
        A prior grid file with a ``no_planned_effect`` section (default
        ``models/priors/summary_level.yaml``).

    Returns
    -------
    (unit, priors)
        The unit on the log scale, ``ln(unit_ratio)``, and the validated priors mapping (as
        :func:`load_prior_grid`).
    """
    path = str(prior_grid_path() if prior_grid is None else prior_grid)
    section = _read_file(path).get("no_planned_effect")
    if not isinstance(section, Mapping) or set(section) != {"unit_ratio", "priors"}:
        raise SpecError(f"prior grid {path} needs a 'no_planned_effect' mapping with "
                        "'unit_ratio' and 'priors'")
    ratio = float(section["unit_ratio"])
    if not (math.isfinite(ratio) and ratio > 1):
        raise SpecError(f"no_planned_effect.unit_ratio must be a ratio > 1; got {ratio!r}")
    if not isinstance(section["priors"], Mapping):
        raise SpecError(f"no_planned_effect.priors of {path} must be a mapping")
    return math.log(ratio), load_prior_grid(dict(section["priors"]))


def normal_priors(planned_effect: float, prior_grid: Mapping[str, Any] | str | Path | None = None
                  ) -> list[tuple[str, float, float]]:
    """Turn the prior grid into normal priors on the estimate's scale.

    Parameters
    ----------
    planned_effect : float
        The planned effect delta on the estimate's scale, signed: positive if a benefit is a
        positive estimate (see :func:`planned_effect`).
    prior_grid : mapping, path or None
        See :func:`load_prior_grid`.

    Returns
    -------
    list of (name, mean, sd)
        ``mean = m * delta`` and ``sd = |a - m| * |delta| / z_{1 - p}``; a flat prior has
        mean 0 and sd ``inf``.
    """
    if not math.isfinite(planned_effect) or planned_effect == 0:
        raise ImrBayesError(f"planned effect must be finite and nonzero; got {planned_effect!r}")
    out = []
    for name, spec in load_prior_grid(prior_grid).items():
        if spec.get("flat"):
            out.append((name, 0.0, math.inf))
            continue
        m, a, p = float(spec["mean"]), float(spec["anchor"]["at"]), float(spec["anchor"]["prob"])
        sd = abs(a - m) * abs(planned_effect) / float(special.ndtri(1 - p))
        out.append((name, m * planned_effect + 0.0, float(sd)))  # + 0.0: no -0.0
    return out


def likelihood_from_ci(
    estimate: float, ci_low: float, ci_high: float, *, ratio: bool = False, level: float = CI_LEVEL
) -> tuple[float, float]:
    """Return the normal likelihood (centre, SE) implied by an estimate and its CI.

    ``SE = (high - low) / (2 z_{(1 + level)/2})``, on the log scale for ratios, where the
    centre is ``log(estimate)``. The centre is the printed estimate, not the interval's
    midpoint (printed intervals are rounded and sometimes asymmetric).

    Raises
    ------
    ImrBayesError
        If the interval is not ordered around the estimate, or a ratio is not positive.
    """
    values = {"estimate": estimate, "ci_low": ci_low, "ci_high": ci_high}
    for key, value in values.items():
        if value is None or not math.isfinite(float(value)):
            raise ImrBayesError(f"{key} must be a finite number; got {value!r}")
    if not 0 < level < 1:
        raise ImrBayesError(f"level should be in (0, 1) but got {level!r}")
    if not ci_low <= estimate <= ci_high or ci_low == ci_high:
        raise ImrBayesError(
            f"need ci_low <= estimate <= ci_high with ci_low < ci_high; got "
            f"estimate={estimate}, ci=({ci_low}, {ci_high})"
        )
    if ratio:
        if ci_low <= 0:
            raise ImrBayesError(f"a ratio and its CI must be > 0; got ci_low={ci_low}")
        centre, low, high = math.log(estimate), math.log(ci_low), math.log(ci_high)
    else:
        centre, low, high = float(estimate), float(ci_low), float(ci_high)
    z = float(special.ndtri((1 + level) / 2))
    return centre, (high - low) / (2 * z)


def normal_update(prior_mean: float, prior_sd: float, lik_mean: float, lik_se: float
                  ) -> tuple[float, float]:
    """Conjugate normal-normal update; a prior SD of ``inf`` is the flat prior.

    ``1/post_sd^2 = 1/prior_sd^2 + 1/lik_se^2`` and
    ``post_mean = post_sd^2 * (prior_mean/prior_sd^2 + lik_mean/lik_se^2)``.
    """
    if not lik_se > 0 or not prior_sd > 0:
        raise ImrBayesError(f"SDs must be > 0; got prior_sd={prior_sd}, lik_se={lik_se}")
    prior_prec = 0.0 if math.isinf(prior_sd) else prior_sd**-2
    prec = prior_prec + lik_se**-2
    mean = (prior_prec * prior_mean + lik_mean * lik_se**-2) / prec
    return float(mean), float(prec**-0.5)


def planned_effect(
    *, ratio: bool = False, sd_scale: float | None = None, horizon: float = 1.0,
    benefit: int | str = "higher", d: float = PLANNED_EFFECT_D,
) -> float:
    """Convert a standardized effect ``d`` to the estimate's scale, signed toward benefit.

    * differences: ``d * sd_scale / horizon`` (``sd_scale=None`` means the estimate is
      already in SD units; ``horizon=2`` for a per-time-step condition x time slope judged
      at 18 months);
    * ratios (log scale): ``d * pi / sqrt(3)`` (Chinn 2000), independent of ``sd_scale``.

    The result is positive if ``benefit`` is ``"higher"`` (+1), negative otherwise.
    """
    sign = direction_sign(benefit)
    if ratio:
        return sign * d * D_TO_LOG_OR
    return sign * scaled_threshold(d, sd_scale=sd_scale, horizon=horizon)


def _phi(x: float) -> float:
    """Return the standard normal CDF at ``x`` (scipy.special, fast for scalars)."""
    return float(special.ndtr(x))


def _normal_pdf(x: float, mean: float, sd: float) -> float:
    return math.exp(-0.5 * ((x - mean) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))


def d_factor(*, ratio: bool = False, sd_scale: float | None = None, horizon: float = 1.0
             ) -> float:
    """Factor turning an estimate into the package's d (``docs/indices.md``).

    ``d = horizon * estimate / sd_scale``: the effect at 18 months over the outcome's pooled
    Table 1 baseline SD (``horizon = 2`` for a per-step slope). For a ratio, the log ratio
    times sqrt(3) / pi (Chinn 2000), the inverse of the conversion of the thresholds.
    """
    if ratio:
        return 1 / D_TO_LOG_OR
    return 1 / scaled_threshold(1.0, sd_scale=sd_scale, horizon=horizon)


def bf10_normal(lik_mean: float, lik_se: float, prior_sd: float) -> float:
    """BF10 of a normal likelihood N(lik_mean, lik_se^2) when H1 is N(0, prior_sd^2).

    ``N(lik_mean; 0, sqrt(prior_sd^2 + lik_se^2)) / N(lik_mean; 0, lik_se)``: the marginal
    density of the estimate under H1 over its density under the point null 0 (the
    Savage-Dickey ratio of that prior, in closed form). With the test prior's SD it gives
    ``bf10_test``, which does not depend on the estimation prior.
    """
    if not (prior_sd > 0 and lik_se > 0):
        raise ImrBayesError(f"SDs must be > 0; got prior_sd={prior_sd}, lik_se={lik_se}")
    return (_normal_pdf(lik_mean, 0.0, math.hypot(prior_sd, lik_se))
            / _normal_pdf(lik_mean, 0.0, lik_se))


def _thresholds(ratio: bool, sd_scale: float | None, horizon: float) -> tuple[float, float]:
    """Clinically important d = 0.2 and the ROPE d = 0.1 on the estimate's scale."""
    convert = dict(ratio=ratio, sd_scale=sd_scale, horizon=horizon)
    return (abs(planned_effect(**convert, d=CLINICALLY_IMPORTANT_D)),
            abs(planned_effect(**convert, d=ROPE_D)))


def _row(mean: float, sd: float, *, lik: tuple[float, float], important: float, rope: float,
         ratio: bool, factor: float) -> dict[str, Any]:
    """Columns every row has: posterior, ETI, d, P(|d| > 0.2), ROPE."""
    half = float(special.ndtri((1 + CI_LEVEL) / 2)) * sd
    low, high = mean - half, mean + half
    return {
        "post_mean": mean, "post_sd": sd, "eti95_low": low, "eti95_high": high,
        "p_rope": _phi((rope - mean) / sd) - _phi((-rope - mean) / sd),
        "scale": "log" if ratio else "raw", "lik_mean": lik[0], "lik_se": lik[1],
        "clinically_important": important, "rope_low": -rope, "rope_high": rope,
        "ratio_median": math.exp(mean) if ratio else math.nan,
        "ratio_eti95_low": math.exp(low) if ratio else math.nan,
        "ratio_eti95_high": math.exp(high) if ratio else math.nan,
        "d_mean": factor * mean, "d_eti95_low": factor * low, "d_eti95_high": factor * high,
        "p_abs_d_gt_0_2": _phi((-important - mean) / sd) + _phi((mean - important) / sd),
    }


def _normal_row(name: str, prior_mean: float, prior_sd: float, lik: tuple[float, float],
                sign: int, important: float, rope: float, ratio: bool, factor: float
                ) -> dict[str, Any]:
    mean, sd = normal_update(prior_mean, prior_sd, *lik)
    p_gt_0 = _phi(mean / sd)
    # Savage-Dickey: a proper normal prior against the point null 0, exact for the normal model.
    bf10 = (math.nan if math.isinf(prior_sd)
            else _normal_pdf(0.0, prior_mean, prior_sd) / _normal_pdf(0.0, mean, sd))
    return {
        "prior": name, "prior_mean": prior_mean, "prior_sd": prior_sd,
        **_row(mean, sd, lik=lik, important=important, rope=rope, ratio=ratio, factor=factor),
        "p_gt_0": p_gt_0,
        "p_benefit": p_gt_0 if sign > 0 else 1 - p_gt_0,
        "p_clinically_important": _phi((sign * mean - important) / sd),
        "bf10": bf10,
    }


def reanalyze(
    estimate: float,
    ci_low: float,
    ci_high: float,
    *,
    ratio: bool = False,
    level: float = CI_LEVEL,
    sd_scale: float | None = None,
    horizon: float = 1.0,
    benefit: int | str = "higher",
    prior_grid: Mapping[str, Any] | str | Path | None = None,
    unit: float | None = None,
) -> pd.DataFrame:
    """Reanalyse one published estimate under every prior of the grid.

    Parameters
    ----------
    estimate, ci_low, ci_high : float
        The printed estimate and confidence interval (the ratio itself for ratios).
    ratio : bool, default False
        True for odds/risk ratios: the analysis is on the log scale.
    level : float, default ``CI_LEVEL``
        Level of the printed interval.
    sd_scale : float, optional
        Baseline SD that converts standardized thresholds (planned effect d = 0.40,
        clinically important d = 0.2, ROPE +/- 0.1 SD) to the raw scale; ``None`` means the
        estimate is already in SD units. Ignored for ratios.
    horizon : float, default 1
        Multiple of the estimate that is compared with those thresholds: 2 for a
        per-time-step condition x time slope judged at 18 months (time = 2), 1 otherwise.
    benefit : {"higher", "lower", 1, -1}, default "higher"
        Direction of benefit of the estimate ("lower" for a hospitalization odds ratio).
    prior_grid : mapping, path or None
        Prior grid (default ``models/priors/summary_level.yaml``).
    unit : float, optional
        For an estimate without a planned effect: the unit the priors are scaled to instead
        of the planned effect, on the analysis scale (``ln 2`` for an odds ratio, with the
        priors of :func:`generic_prior_grid`); it is also the SD of the test prior.

    Returns
    -------
    pandas.DataFrame
        One row per prior with :data:`REANALYSIS_COLUMNS`. ``post_*``, ``eti95_*``,
        ``prior_*`` and thresholds are on the analysis scale (log for ratios; the
        ``ratio_*`` columns give the back-transformed posterior median and 95 % ETI).
        ``p_gt_0`` is P(effect > 0) on that scale (for a ratio: P(log ratio > 0)).
        ``p_benefit`` is P(effect in the beneficial direction), ``p_clinically_important``
        P(benefit beyond d = 0.2), ``p_rope`` P(|d| <= 0.1), ``p_abs_d_gt_0_2``
        P(|d| > 0.2); ``d_*`` the posterior of d (:func:`d_factor`); ``bf10`` the exact
        Savage-Dickey Bayes factor against 0 under the row's prior (NaN under the improper
        reference prior), ``bf10_test`` the one under the test prior named in
        ``test_prior`` (N(0, planned effect^2), or N(0, unit^2); the same on every row of
        the estimate). ``planned_effect`` is the signed planned effect on the analysis scale
        (NaN where ``unit`` is given), ``prior_unit`` the (unsigned) unit of the priors.
    """
    lik = likelihood_from_ci(estimate, ci_low, ci_high, ratio=ratio, level=level)
    sign = direction_sign(benefit)
    if unit is None:
        delta = planned_effect(ratio=ratio, sd_scale=sd_scale, horizon=horizon, benefit=sign)
        what = f"planned d = {PLANNED_EFFECT_D:g} at 18 months"
    else:
        if not (math.isfinite(unit) and unit > 0):
            raise ImrBayesError(f"unit must be a finite value > 0; got {unit!r}")
        delta = sign * float(unit)
        what = (f"generic, no planned effect: OR {math.exp(unit):.3g}" if ratio
                else "generic, no planned effect")
    important, rope = _thresholds(ratio, sd_scale, horizon)
    factor = d_factor(ratio=ratio, sd_scale=sd_scale, horizon=horizon)
    bf_test = bf10_normal(*lik, abs(delta))
    test_prior = f"N(0, {abs(delta):.4g}^2) on the {'log' if ratio else 'raw'} scale ({what})"
    rows = []
    for name, mean, sd in normal_priors(delta, prior_grid):
        row = _normal_row(name, mean, sd, lik, sign, important, rope, ratio, factor)
        row.update(planned_effect=delta if unit is None else math.nan, prior_unit=abs(delta),
                   bf10_test=bf_test, test_prior=test_prior)
        rows.append(row)
    return pd.DataFrame(rows, columns=list(REANALYSIS_COLUMNS))


def balance(
    estimate: float,
    ci_low: float,
    ci_high: float,
    *,
    level: float = CI_LEVEL,
    sd_scale: float | None = None,
) -> pd.DataFrame:
    """Reanalyse a baseline (t = 0) difference between the arms as a balance check.

    Measured before treatment, a baseline difference is chance imbalance (or a broken
    randomization), never a benefit: no P(benefit), BF10 or prior of the grid applies. The
    row gives the standardized difference d = difference / pooled Table 1 SD with its
    interval (flat prior: the printed CI over the SD), P(|d| > 0.2) and P(|d| <= 0.1).

    Parameters
    ----------
    estimate, ci_low, ci_high, level, sd_scale
        As in :func:`reanalyze`.

    Returns
    -------
    pandas.DataFrame
        One row with :data:`REANALYSIS_COLUMNS` (``prior`` "reference"); the
        benefit-type columns (``p_gt_0``, ``p_benefit``, ``p_clinically_important``,
        ``bf10``, ``bf10_test``, ``planned_effect``, ``prior_unit``) are NaN and
        ``test_prior`` is empty.
    """
    lik = likelihood_from_ci(estimate, ci_low, ci_high, level=level)
    important, rope = _thresholds(False, sd_scale, 1.0)
    row = {"prior": "reference", "prior_mean": 0.0, "prior_sd": math.inf,
           **_row(*lik, lik=lik, important=important, rope=rope, ratio=False,
                  factor=d_factor(sd_scale=sd_scale)),
           "test_prior": ""}
    return pd.DataFrame([row], columns=list(REANALYSIS_COLUMNS))


def sensitivity_grid(
    estimate: float,
    ci_low: float,
    ci_high: float,
    *,
    prior_means: Sequence[float],
    prior_sds: Sequence[float],
    ratio: bool = False,
    level: float = CI_LEVEL,
    benefit: int | str = "higher",
    threshold: float = 0.0,
) -> pd.DataFrame:
    """Posterior probability of benefit over a grid of normal priors (mean x SD).

    Parameters
    ----------
    estimate, ci_low, ci_high, ratio, level, benefit
        As in :func:`reanalyze`.
    prior_means, prior_sds : sequence of float
        Prior means and SDs on the analysis scale (log scale for ratios); SDs > 0
        (``inf`` allowed for the flat prior).
    threshold : float, default 0
        Benefit magnitude to exceed (0: any benefit).

    Returns
    -------
    pandas.DataFrame
        Tidy: ``prior_mean, prior_sd, post_mean, post_sd, p_benefit``, one row per pair.
    """
    lik = likelihood_from_ci(estimate, ci_low, ci_high, ratio=ratio, level=level)
    sign = direction_sign(benefit)
    means, sds = np.asarray(prior_means, dtype=float), np.asarray(prior_sds, dtype=float)
    if means.size == 0 or sds.size == 0:
        raise ImrBayesError("prior_means and prior_sds must not be empty")
    if not np.all(np.isfinite(means)) or np.any(np.isnan(sds)) or np.any(sds <= 0):
        raise ImrBayesError("prior means must be finite and prior SDs > 0")
    if not (math.isfinite(threshold) and threshold >= 0):
        raise ImrBayesError(f"threshold must be a finite value >= 0; got {threshold!r}")
    rows = []
    for m in means:
        for s in sds:
            mean, sd = normal_update(float(m), float(s), *lik)
            rows.append((float(m), float(s), mean, sd, _phi((sign * mean - threshold) / sd)))
    columns = ["prior_mean", "prior_sd", "post_mean", "post_sd", "p_benefit"]
    return pd.DataFrame(rows, columns=columns)


def plot_sensitivity(
    estimate: float,
    ci_low: float,
    ci_high: float,
    *,
    prior_means: Sequence[float],
    prior_sds: Sequence[float],
    ratio: bool = False,
    level: float = CI_LEVEL,
    benefit: int | str = "higher",
    threshold: float = 0.0,
    title: str | None = None,
    ax: Any = None,
) -> Any:
    """Draw :func:`sensitivity_grid` as a heat map of P(benefit); return the figure.

    Same arguments as :func:`sensitivity_grid`, plus ``title`` and an optional matplotlib
    ``ax``. Prior means run along x, prior SDs along y; contours mark P = 0.5, 0.9, 0.975.
    The figure is returned, never shown.
    """
    import matplotlib.pyplot as plt

    grid = sensitivity_grid(
        estimate, ci_low, ci_high, prior_means=prior_means, prior_sds=prior_sds, ratio=ratio,
        level=level, benefit=benefit, threshold=threshold,
    )
    table = grid.pivot(index="prior_sd", columns="prior_mean", values="p_benefit")
    if ax is None:
        fig, ax = plt.subplots(figsize=(6.4, 4.8))
    else:
        fig = ax.figure
    x, y = table.columns.to_numpy(), table.index.to_numpy()
    mesh = ax.pcolormesh(x, y, table.to_numpy(), shading="nearest", cmap="RdBu", vmin=0, vmax=1)
    if x.size > 1 and y.size > 1:
        lines = ax.contour(x, y, table.to_numpy(), levels=[0.5, 0.9, 0.975], colors="k",
                           linewidths=0.8)
        ax.clabel(lines, fmt="%.3g", fontsize=8)
    if np.all(y > 0) and y.size > 1 and y.max() / y.min() > 10:
        ax.set_yscale("log")
    scale = "log ratio" if ratio else "estimate scale"
    ax.set_xlabel(f"prior mean ({scale})")
    ax.set_ylabel(f"prior SD ({scale})")
    what = "any benefit" if threshold == 0 else f"benefit > {threshold:.3g}"
    fig.colorbar(mesh, ax=ax, label=f"P({what})")
    ax.set_title(title or f"Posterior P({what}) by prior")
    return fig


#: Columns of :func:`published_estimates`, in order.
ESTIMATE_COLUMNS: tuple[str, ...] = (
    "source", "sample", "outcome", "estimand", "term", "time", "estimate", "ci_low", "ci_high",
    "p", "ratio", "sd_scale", "horizon", "benefit", "role",
)
#: Fidelity-model time terms (Tables 4 and 5) -> measurement moment.
_FIDELITY_TIME: dict[str, int] = {"post": 1, "followup": 2}


def published_estimates() -> pd.DataFrame:
    """Every printed effect estimate with a CI, ready for :func:`reanalyze`.

    Covers the condition x time coefficients of Tables 2 (ITT) and 6 (completers), the
    IMR - CAU mean differences of Tables 3 and 7 at 12 and 18 months (``mean_difference``)
    and at baseline (``baseline_difference``, role "balance"), the fidelity-group x time
    coefficients of Tables 4 and 5, and the hospitalization odds ratio from the text.
    Cells left empty by the paper's stepwise selection have no estimate and no row.

    Returns
    -------
    pandas.DataFrame
        :data:`ESTIMATE_COLUMNS`. ``sd_scale`` is the pooled Table 1 baseline SD of the
        outcome (NaN for the odds ratio), ``horizon`` 2 for condition x time slopes and 1
        otherwise, ``benefit`` the outcome's direction of benefit ("higher"/"lower"),
        ``role`` "effect" for treatment effects and "balance" for baseline differences.
    """
    from imr_bayes import published
    from imr_bayes.outcomes import get

    def base(outcome: str) -> dict[str, Any]:
        o = get(outcome)
        return {"ratio": False, "sd_scale": o.pooled_baseline_sd(),
                "benefit": "higher" if o.direction > 0 else "lower", "role": "effect"}

    rows: list[dict[str, Any]] = []
    for sample in published.SAMPLES:
        fe = published.fixed_effects(sample)
        fe = fe[(fe["term"] == "condition_x_time") & fe["in_final_model"] & fe["b"].notna()]
        for r in fe.itertuples():
            rows.append({
                "source": r.source, "sample": sample, "outcome": r.outcome,
                "estimand": "condition_x_time", "term": r.term, "time": math.nan,
                "estimate": r.b, "ci_low": r.ci_low, "ci_high": r.ci_high, "p": r.p,
                **base(r.outcome), "horizon": SLOPE_HORIZON,
            })
        mm = published.marginal_means(sample)
        mm = mm[(mm["arm"] == "imr") & mm["diff"].notna()]
        for r in mm.itertuples():
            baseline = r.time == 0
            rows.append({
                "source": r.source, "sample": sample, "outcome": r.outcome,
                "estimand": "baseline_difference" if baseline else "mean_difference",
                "term": "imr_minus_cau", "time": float(r.time),
                "estimate": r.diff, "ci_low": r.diff_ci_low, "ci_high": r.diff_ci_high,
                "p": math.nan, **base(r.outcome), "horizon": 1.0,
                **({"role": "balance"} if baseline else {}),
            })
    for outcome in published.FIDELITY_TABLE:
        fid = published.fidelity_effects(outcome)
        fid = fid[fid["term"].str.contains("_x_") & fid["b"].notna()]
        for r in fid.itertuples():
            rows.append({
                "source": r.source, "sample": "fidelity", "outcome": outcome,
                "estimand": "fidelity_x_time", "term": r.term,
                "time": float(_FIDELITY_TIME[r.term.split("_x_")[1]]),
                "estimate": r.b, "ci_low": r.ci_low, "ci_high": r.ci_high, "p": r.p,
                **base(outcome), "horizon": 1.0,
            })
    rows.append({
        "source": "Text, Results (hospitalization logistic regression)", "sample": "itt",
        "outcome": "hospitalization", "estimand": "odds_ratio", "term": "condition",
        "time": math.nan, "estimate": published.text_value("hosp_or"),
        "ci_low": published.text_value("hosp_or_ci_low"),
        "ci_high": published.text_value("hosp_or_ci_high"), "p": published.text_value("hosp_p"),
        "ratio": True, "sd_scale": math.nan, "horizon": 1.0, "benefit": "lower",
        "role": "effect",
    })
    return pd.DataFrame(rows, columns=list(ESTIMATE_COLUMNS))


def reanalyze_published(
    prior_grid: Mapping[str, Any] | str | Path | None = None,
) -> pd.DataFrame:
    """Reanalyse every printed estimate (:func:`published_estimates`) under the prior grid.

    Effects with a planned effect get the grid's priors scaled to d = 0.40; the
    hospitalization odds ratio, which had none, gets the generic priors of
    :func:`generic_prior_grid`; baseline differences get one balance row each
    (:func:`balance`), with no P(benefit).

    Parameters
    ----------
    prior_grid : mapping, path or None
        The prior grid (see :func:`load_prior_grid`); a path is also read for its
        ``no_planned_effect`` section, a mapping replaces only the planned-effect priors.

    Returns
    -------
    pandas.DataFrame
        One row per effect x prior and one per baseline difference: the
        :data:`ESTIMATE_COLUMNS` (``p`` renamed ``p_published``), then
        :data:`REANALYSIS_COLUMNS`, then ``p_direction`` and ``agreement``
        (:func:`imr_bayes.indices.agreement_class` of the published p and CI against the
        posterior 95 % ETI and probability of direction; a missing printed p, as for mean
        differences, falls back to the CI excluding 0). Both are empty (NaN / NA) on balance
        rows.
    """
    generic = generic_prior_grid(None if isinstance(prior_grid, Mapping) else prior_grid)
    rows: list[dict[str, Any]] = []
    for est in published_estimates().to_dict("records"):
        described = {("p_published" if k == "p" else k): v for k, v in est.items()}
        if est["role"] == "balance":
            res = balance(est["estimate"], est["ci_low"], est["ci_high"],
                          sd_scale=est["sd_scale"])
            rows += [{**described, **r, "p_direction": math.nan, "agreement": pd.NA}
                     for r in res.to_dict("records")]
            continue
        unit, grid = (generic if est["ratio"] else (None, prior_grid))
        res = reanalyze(
            est["estimate"], est["ci_low"], est["ci_high"], ratio=est["ratio"],
            sd_scale=None if est["ratio"] else est["sd_scale"], horizon=est["horizon"],
            benefit=est["benefit"], prior_grid=grid, unit=unit,
        )
        freq_ci = ((math.log(est["ci_low"]), math.log(est["ci_high"])) if est["ratio"]
                   else (est["ci_low"], est["ci_high"]))
        centre = math.log(est["estimate"]) if est["ratio"] else est["estimate"]
        for r in res.to_dict("records"):
            pd_ = max(r["p_gt_0"], 1 - r["p_gt_0"])
            agreement = agreement_class(
                freq_ci, est["p"], (r["eti95_low"], r["eti95_high"]), pd_,
                freq_estimate=centre, posterior_center=r["post_mean"],
            )
            rows.append({**described, **r, "p_direction": pd_, "agreement": agreement})
    return pd.DataFrame(rows)
