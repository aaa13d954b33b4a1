"""Shared figure helpers of the studies, and writing a study's summary table and figure."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from imr_bayes.atomic import atomic_path
from imr_bayes.studies.runner import Study, get_study


def new_figure(ncols: int = 1, *, width: float = 5.0, height: float = 3.6) -> tuple[Any, Any]:
    """Return ``(figure, axes)`` from a non-interactive backend (no display needed)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * ncols, height), layout="constrained")
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, axes


def binomial_band(p: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """Central ``level`` range of a Binomial(n, p) share: where a calibrated share falls."""
    from scipy import stats

    lo, hi = stats.binom.interval(level, n, p)
    return float(lo / n), float(hi / n)


def mc_se(share: float | np.ndarray, n: int | np.ndarray) -> Any:
    """Monte Carlo standard error of a share estimated from ``n`` replicates."""
    return np.sqrt(np.asarray(share) * (1 - np.asarray(share)) / np.asarray(n))


def save_figure(fig: Any, target: str | Path) -> Path:
    """Save ``fig`` as PNG atomically; return the path."""
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=120)
    return Path(target)


def write_outputs(study: str | Study, store_dir: str | Path) -> tuple[Path, Path]:
    """Write ``summary.csv`` and ``<study>.png`` into the store; return both paths."""
    spec = get_study(study)
    store_dir = Path(store_dir)
    summary = spec.summarize(store_dir)
    summary_path = store_dir / "summary.csv"
    with atomic_path(summary_path) as tmp:
        summary.to_csv(tmp, index=False)
    figure_path = save_figure(spec.plot(store_dir), store_dir / f"{spec.name}.png")
    return summary_path, figure_path
