"""One container for estimates from every source: published, frequentist, posterior.

The paper's printed numbers, the frequentist replication and every Bayesian fit each produce
an :class:`Estimates`: a tidy table with one row per (analysis, outcome, estimand, arm, time)
and the same columns whatever the source, plus, where they exist, the draws behind each row.
A frequentist or published number is a posterior with one atom (CausalPy's convention): its
draws are the point estimate, or, on request, a normal approximation from its interval. So
the comparison of sources is a join on :data:`KEY`, and plots and checks read one layout.

Columns (:data:`COLUMNS`): ``source`` (published, frequentist or posterior), ``analysis``,
``outcome``, ``estimand``, ``arm``, ``time``, ``scale``, ``estimate`` (posterior mean;
the printed or reproduced value otherwise), ``ci_low``, ``ci_high`` (equal-tailed for the
posterior), ``ci_level``, ``p`` (frequentist and published), ``p_direction`` and
``p_benefit`` (posterior), ``sd`` (posterior SD, or the SE where known), ``median``,
``n_rows``, ``n_participants``, ``reference`` (where a number comes from: "Table 2",
"Results text", "reproduced", or the fit's spec hash), ``label`` (e.g. NON-RANDOMIZED) and
``note``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from imr_bayes.constants import CI_LEVEL
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import unknown_choice_message

#: The sources an estimate comes from.
SOURCES: tuple[str, ...] = ("published", "frequentist", "posterior")
#: The key every source shares.
KEY: tuple[str, ...] = ("analysis", "outcome", "estimand", "arm", "time")
#: Columns of :attr:`Estimates.table`, in order.
COLUMNS: tuple[str, ...] = (
    "source", "analysis", "outcome", "estimand", "arm", "time", "scale", "estimate",
    "ci_low", "ci_high", "ci_level", "p", "p_direction", "p_benefit", "sd", "median",
    "n_rows", "n_participants", "reference", "label", "note",
)
_TEXT = ("source", "analysis", "outcome", "estimand", "arm", "scale", "reference", "label",
         "note")

DrawKey = tuple[str, str, str, str | None, int | None]


def key_of(row: Mapping[str, Any]) -> DrawKey:
    """Return the :data:`KEY` tuple of a row (missing arm/time as None)."""
    arm = row.get("arm")
    time = row.get("time")
    return (str(row["analysis"]), str(row["outcome"]), str(row["estimand"]),
            None if arm is None or pd.isna(arm) else str(arm),
            None if time is None or pd.isna(time) else int(time))


def summarize(draws: np.ndarray, *, sign: int = 0, null: float = 0.0,
              level: float = CI_LEVEL) -> dict[str, float]:
    """Summaries of one scalar quantity's posterior draws.

    Parameters
    ----------
    draws : ndarray
        Posterior draws (any shape; flattened).
    sign : int
        +1 if values above ``null`` benefit IMR, -1 if values below do, 0 for no P(benefit).
    null : float
        The value of no effect (1 for ratios).
    level : float
        Interval level.

    Returns
    -------
    dict
        ``estimate`` (mean), ``median``, ``sd``, ``ci_low``, ``ci_high`` (equal-tailed),
        ``ci_level``, ``p_direction`` (share of draws on the median's side of ``null``) and
        ``p_benefit`` (share on the beneficial side; NaN when ``sign`` is 0).
    """
    x = np.ravel(np.asarray(draws, dtype=float))
    alpha = (1 - level) / 2
    lo, hi = np.quantile(x, [alpha, 1 - alpha])
    above = float(np.mean(x > null))
    return {
        "estimate": float(x.mean()), "median": float(np.median(x)), "sd": float(x.std(ddof=1)),
        "ci_low": float(lo), "ci_high": float(hi), "ci_level": float(level),
        "p_direction": max(above, float(np.mean(x < null))),
        "p_benefit": float(np.mean(sign * (x - null) > 0)) if sign else float("nan"),
    }


def frame(rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Rows as an estimates table: :data:`COLUMNS`, missing cells empty, typed."""
    df = pd.DataFrame(list(rows))
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = np.nan
    df = df[list(COLUMNS)]
    for col in _TEXT:
        df[col] = df[col].astype("string")
    for col in ("time", "n_rows", "n_participants"):
        df[col] = pd.to_numeric(df[col]).astype("Int64")
    for col in ("estimate", "ci_low", "ci_high", "ci_level", "p", "p_direction", "p_benefit",
                "sd", "median"):
        df[col] = pd.to_numeric(df[col]).astype("float64")
    return df


@dataclass(frozen=True)
class Estimates:
    """Estimates of one or more sources in one layout, with their draws where known.

    Attributes
    ----------
    table : pandas.DataFrame
        :data:`COLUMNS`, one row per source x :data:`KEY`.
    draws : dict
        ``KEY tuple -> ndarray`` of posterior draws (posterior rows only).
    """

    table: pd.DataFrame
    draws: Mapping[DrawKey, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [c for c in COLUMNS if c not in self.table.columns]
        if missing:
            raise ImrBayesError(f"estimates table lacks column(s) {', '.join(missing)}")
        bad = sorted(set(self.table["source"].dropna()) - set(SOURCES))
        if bad:
            raise ImrBayesError(unknown_choice_message("source", bad[0], SOURCES))

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        sources = ", ".join(dict.fromkeys(self.table["source"].dropna()))
        return (f"Estimates({len(self.table)} rows; sources: {sources or '-'}; "
                f"{len(self.draws)} with draws)")

    @classmethod
    def empty(cls) -> Estimates:
        """Return an empty container."""
        return cls(frame([]))

    @classmethod
    def from_draws(cls, base: Mapping[str, Any], items: Iterable[tuple[Mapping[str, Any],
                                                                         np.ndarray]],
                   ) -> Estimates:
        """Posterior estimates from draws.

        Parameters
        ----------
        base : mapping
            Columns shared by every row (``analysis``, ``outcome``, ``n_rows``, ...).
        items : iterable of (row, draws)
            ``row`` holds ``estimand`` and optionally ``arm``, ``time``, ``scale``,
            ``sign``, ``null``, ``note``; ``draws`` the flat posterior draws.
        """
        rows, draws = [], {}
        for row, values in items:
            row = dict(row)
            sign, null = int(row.pop("sign", 0)), float(row.pop("null", 0.0))
            full = {"source": "posterior", **base, **row,
                    **summarize(values, sign=sign, null=null)}
            rows.append(full)
            draws[key_of(full)] = np.ravel(np.asarray(values, dtype=float))
        return cls(frame(rows), draws)

    @classmethod
    def concat(cls, items: Iterable[Estimates]) -> Estimates:
        """Stack several containers (keys must stay unique per source)."""
        items = [e for e in items if e is not None]
        if not items:
            return cls.empty()
        table = pd.concat([e.table for e in items if len(e.table)] or [frame([])],
                          ignore_index=True)
        draws: dict[DrawKey, np.ndarray] = {}
        for e in items:
            draws.update(e.draws)
        return cls(table, draws)

    def select(self, **filters: Any) -> Estimates:
        """Rows whose columns equal the given values (a value may be a list of values)."""
        mask = pd.Series(True, index=self.table.index)
        for col, value in filters.items():
            if col not in COLUMNS:
                raise ImrBayesError(unknown_choice_message("column", col, COLUMNS))
            values = value if isinstance(value, list | tuple | set) else [value]
            mask &= self.table[col].isin(list(values)).fillna(False)
        table = self.table[mask].reset_index(drop=True)
        keys = {key_of(r) for r in table.to_dict("records")}
        return Estimates(table, {k: v for k, v in self.draws.items() if k in keys})

    def row(self, estimand: str, *, time: int | None = None, arm: str | None = None
            ) -> pd.Series:
        """Return the one row of ``estimand`` (at ``time``/``arm``); raise if not exactly one."""
        t = self.table
        mask = t["estimand"].eq(estimand).fillna(False)
        mask &= t["time"].isna() if time is None else t["time"].eq(time).fillna(False)
        mask &= t["arm"].isna() if arm is None else t["arm"].eq(arm).fillna(False)
        hit = t[mask]
        if len(hit) != 1:
            raise ImrBayesError(f"{len(hit)} rows of estimand {estimand!r} (time {time}, arm "
                                f"{arm}); estimands: {', '.join(dict.fromkeys(t['estimand']))}")
        return hit.iloc[0]

    def draws_of(self, row: Mapping[str, Any], *, approximate: str = "atom", n: int = 4000,
                 seed: int = 0) -> np.ndarray:
        """Return the draws behind one row.

        Parameters
        ----------
        row : mapping
            A row of :attr:`table` (its :data:`KEY` columns are used).
        approximate : {"atom", "normal"}
            For rows without draws (frequentist, published): the point estimate as one atom,
            or ``n`` draws of the normal approximation from the estimate and its interval
            (on the log scale for ratios).
        n, seed : int
            Size and seed of the normal approximation.
        """
        key = key_of(row)
        if row.get("source") == "posterior" and key in self.draws:
            return self.draws[key]
        est = float(row["estimate"])
        if approximate == "atom":
            return np.array([est])
        if approximate != "normal":
            raise ImrBayesError(unknown_choice_message("approximation", approximate,
                                                       ("atom", "normal")))
        from scipy import stats

        lo, hi, level = float(row["ci_low"]), float(row["ci_high"]), float(row["ci_level"])
        z = float(stats.norm.ppf(0.5 + level / 2))
        ratio = row.get("scale") == "ratio"
        centre, lo_, hi_ = (np.log([est, lo, hi]) if ratio else (est, lo, hi))
        se = (hi_ - lo_) / (2 * z)
        x = np.random.default_rng(seed).normal(centre, se, n)
        return np.exp(x) if ratio else x
