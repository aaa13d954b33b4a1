"""Internal-consistency audit of the published tables, in the spirit of statcheck and GRIM.

Every check is a general rule applied to every cell it concerns; no cell is named in the
code. A number printed with ``k`` decimals stands for any value within half a unit of its
last place, so each rule compares *intervals*: a flag is raised only when no choice of the
unrounded values inside their rounding boxes satisfies the rule. The rules, their
tolerances, and the evidence for the standard deviation behind Cohen's d are documented in
``docs/audit.md``.

Severity: ``error`` is a definite inconsistency (the discrepancy exceeds the rounding
allowance by more than the allowance itself, or a qualitative contradiction such as a CI
that excludes 0 with p >= 0.05); ``warning`` is a discrepancy beyond rounding but small
enough that a rounding convention or an unprinted model detail could explain it.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from imr_bayes import published
from imr_bayes.constants import CI_LEVEL, N_RANDOMIZED, TIME_LABELS
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import CODES, OUTCOMES, SECONDARY, unknown_choice_message
from imr_bayes.trial import facts

#: Columns of the audit table, one row per flagged cell.
AUDIT_COLUMNS: tuple[str, ...] = (
    "table", "outcome", "location", "check", "printed", "expected", "severity",
)
SEVERITIES: tuple[str, ...] = ("error", "warning")

#: Normal quantile of the two-sided interval level (1.96 for 95 %).
Z_CRIT: float = float(stats.norm.ppf(0.5 + CI_LEVEL / 2))
#: Smallest residual degrees of freedom allowed for t-based statistics (SPSS Satterthwaite
#: df are not printed; the fidelity F tests print 237-271 denominator df).
DF_MIN: int = 60
#: Relative tolerance for the width of a difference CI against the arm CIs.
WIDTH_TOL: float = 0.06
#: Relative tolerance for a Table 1 SD against the SD implied by Table 3's baseline CI.
SD_TOL: float = 0.10
#: Significance level behind the paper's significance statements.
ALPHA: float = 0.05

_EPS = 1e-9
_T_DIST = stats.t(DF_MIN)
_TABLE_LABEL = {
    ("fixed", "itt"): "Table 2", ("fixed", "completers"): "Table 6",
    ("means", "itt"): "Table 3", ("means", "completers"): "Table 7",
    **{("fidelity", outcome): label for outcome, label in facts().fidelity.outcomes.items()},
}


# --------------------------------------------------------------------------- numbers
@dataclass(frozen=True)
class Num:
    """A printed number: its value, half a unit of its last printed place, and its text.

    ``bound`` marks a printed upper bound such as ``<0.001`` (any value in [0, 0.001]).
    """

    value: float
    half: float
    text: str
    bound: bool = False

    @property
    def lo(self) -> float:
        """Smallest unrounded value this print stands for."""
        return 0.0 if self.bound else self.value - self.half

    @property
    def hi(self) -> float:
        """Largest unrounded value this print stands for."""
        return self.value if self.bound else self.value + self.half


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def parse_number(cell: Any) -> Num | None:
    """Turn a table cell into a :class:`Num`, or None if the cell is empty.

    Strings keep their printed precision (``"3.30"`` has two decimals). Floats (e.g. a
    perturbed copy of a table) get the fewest decimals that represent them, which can only
    widen the rounding allowance.
    """
    if cell is None or (isinstance(cell, float) and math.isnan(cell)) or cell is pd.NA:
        return None
    if isinstance(cell, str):
        text = cell.strip()
        if not text:
            return None
        bound = text.startswith("<")
        body = text.lstrip("<").strip()
        return Num(float(body), 0.5 * 10.0 ** -_decimals(body), text, bound)
    value = float(cell)
    if math.isnan(value):
        return None
    text = np.format_float_positional(round(value, 10), trim="-")
    return Num(value, 0.5 * 10.0 ** -_decimals(text), text)


def _fmt(x: float, digits: int = 4) -> str:
    return f"{x:.{digits}g}" if abs(x) < 1e4 else f"{x:.1f}"


def _fmt_like(x: float, like: Num, extra: int = 1) -> str:
    """Format ``x`` with the printed decimals of ``like`` plus ``extra``."""
    decimals = max(round(-math.log10(2 * like.half)), 0) + extra
    return f"{x:.{decimals}f}"


def _severity(excess: float, allowance: float) -> str:
    """``error`` when a discrepancy exceeds its allowance by more than the allowance."""
    return "error" if excess > allowance + _EPS else "warning"


def _row(table: str, outcome: str | None, location: str, check: str, printed: str,
         expected: str, severity: str) -> dict[str, Any]:
    return dict(table=table, outcome=outcome or "", location=location, check=check,
                printed=printed, expected=expected, severity=severity)


# --------------------------------------------------------------------- generic rules
def _interval_rules(table: str, outcome: str | None, where: str, est: Num, lo: Num,
                    hi: Num) -> list[dict[str, Any]]:
    """CI order, estimate inside its CI, estimate at the centre of a symmetric CI."""
    printed = f"{est.text} ({lo.text}, {hi.text})"
    if lo.value > hi.value:
        return [_row(table, outcome, where, "CI lower <= upper", printed,
                     "lower bound not above upper bound", "error")]
    if est.lo > hi.hi + _EPS or est.hi < lo.lo - _EPS:
        return [_row(table, outcome, where, "estimate inside its CI", printed,
                     f"estimate within [{lo.text}, {hi.text}]", "error")]
    mid = (lo.value + hi.value) / 2
    allowance = est.half + (lo.half + hi.half) / 2
    dev = abs(est.value - mid)
    if dev > allowance + _EPS:
        return [_row(table, outcome, where, "estimate at centre of symmetric CI", printed,
                     f"{_fmt_like(mid, est)} ± {_fmt(allowance, 2)} (rounding)",
                     _severity(dev - allowance, allowance))]
    return []


def _z_p_range(est: Num, lo: Num, hi: Num) -> tuple[float, float]:
    """Range of the two-sided p implied by an estimate and its 95 % CI over rounding.

    The SE is the CI half-width over the critical value; both a normal (z) and a
    t(:data:`DF_MIN`) reading of the CI are allowed, each with its own p.
    """
    width_min = max((hi.lo - lo.hi), 1e-300)
    width_max = hi.hi - lo.lo
    b_min = 0.0 if est.lo <= 0 <= est.hi else min(abs(est.lo), abs(est.hi))
    b_max = max(abs(est.lo), abs(est.hi))
    ps = []
    for dist in (stats.norm, _T_DIST):
        crit = dist.ppf(0.5 + CI_LEVEL / 2)
        z_min = b_min / (width_max / (2 * crit))
        z_max = b_max / (width_min / (2 * crit))
        ps += [2 * dist.sf(z_max), 2 * dist.sf(z_min)]
    return min(ps), max(ps)


def _p_gap_rule(table: str, outcome: str | None, where: str, printed: str, p: Num,
                p_min: float, p_max: float, how: str) -> list[dict[str, Any]]:
    if p.hi >= p_min - _EPS and p.lo <= p_max + _EPS:
        return []
    gap = math.log10(p.lo / p_max) if p.lo > p_max else math.log10(p_min / p.hi)
    severity = "error" if gap > math.log10(2) else "warning"
    return [_row(table, outcome, where, f"p consistent with {how}", printed,
                 f"p in [{_fmt(p_min, 2)}, {_fmt(p_max, 2)}]", severity)]


def _p_rules(table: str, outcome: str | None, where: str, est: Num, lo: Num, hi: Num,
             p: Num) -> list[dict[str, Any]]:
    """Check p against the CI: significance at 5 % both ways, and the size of p (z approx.)."""
    out = []
    printed = f"{est.text} ({lo.text}, {hi.text}), p {p.text}"
    excludes = lo.lo > 0 or hi.hi < 0
    includes = lo.hi < 0 < hi.lo
    if excludes and p.lo >= ALPHA - _EPS:
        out.append(_row(table, outcome, where, "p < 0.05 iff CI excludes 0", printed,
                        "CI excludes 0, so p < 0.05", "error"))
    elif includes and p.hi < ALPHA - _EPS:
        out.append(_row(table, outcome, where, "p < 0.05 iff CI excludes 0", printed,
                        "CI includes 0, so p >= 0.05", "error"))
    if lo.value <= hi.value:
        p_min, p_max = _z_p_range(est, lo, hi)
        out += _p_gap_rule(table, outcome, where, printed, p, p_min, p_max,
                           "estimate and CI (z approximation)")
    return out


def _nums(row: Mapping[str, Any], *cols: str) -> list[Num | None]:
    return [parse_number(row[c]) if c in row else None for c in cols]


def _where(row: Mapping[str, Any], fallback: str, what: str) -> str:
    src = row.get("source")
    src = src if isinstance(src, str) and src else fallback
    return f"{src}: {what}"


# ------------------------------------------------------------ Tables 2 and 6 (fixed)
def _audit_fixed(sample: str, df: pd.DataFrame) -> list[dict[str, Any]]:
    table = _TABLE_LABEL[("fixed", sample)]
    out = []
    for row in df.to_dict("records"):
        est, lo, hi = _nums(row, "b", "ci_low", "ci_high")
        if est is None or lo is None or hi is None:
            continue
        p = parse_number(row.get("p_text")) or parse_number(row.get("p"))
        fallback = f"{table}, {row['outcome']}, {row['term']}"
        where = _where(row, fallback, "B (95% CI)")
        found = _interval_rules(table, row["outcome"], where, est, lo, hi)
        if p is not None:
            found += _p_rules(table, row["outcome"], _where(row, fallback, "B, 95% CI, p"),
                              est, lo, hi, p)
        out += found
    return out


# ------------------------------------------------------------ Tables 3 and 7 (means)
def _ci_sd(n: float, lo: Num, hi: Num) -> tuple[float, float]:
    """SD range implied by a 95 % CI of a mean with n observations (SD = hw * sqrt(n) / z)."""
    hw_min = max((hi.lo - lo.hi) / 2, 0.0)
    hw_max = (hi.hi - lo.lo) / 2
    return hw_min * math.sqrt(n) / Z_CRIT, hw_max * math.sqrt(n) / Z_CRIT


def _pooled(sd_a: float, n_a: float, sd_b: float, n_b: float) -> float:
    return math.sqrt(((n_a - 1) * sd_a**2 + (n_b - 1) * sd_b**2) / (n_a + n_b - 2))


def _table1_pooled_sds(baseline: pd.DataFrame | None) -> dict[str, tuple[float, float]]:
    """Pooled Table 1 baseline SD range per outcome (n - 1 weights, arm N as randomized)."""
    if baseline is None:
        return {}
    sds: dict[str, dict[str, Num | None]] = {}
    for r in baseline[baseline["variable"] == "outcome"].to_dict("records"):
        sds.setdefault(str(r["outcome"]), {})[str(r["arm"])] = parse_number(r["sd"])
    n_i, n_c = N_RANDOMIZED["imr"], N_RANDOMIZED["cau"]
    out = {}
    for outcome, arms in sds.items():
        imr, cau = arms.get("imr"), arms.get("cau")
        if imr is not None and cau is not None:
            out[outcome] = (_pooled(imr.lo, n_i, cau.lo, n_c), _pooled(imr.hi, n_i, cau.hi, n_c))
    return out


def _audit_means(sample: str, df: pd.DataFrame,
                 baseline: pd.DataFrame | None) -> list[dict[str, Any]]:
    table = _TABLE_LABEL[("means", sample)]
    out = []
    for row in df.to_dict("records"):
        fallback = f"{table}, {row['outcome']}, {row['arm']}, {TIME_LABELS[int(row['time'])]}"
        mean, lo, hi = _nums(row, "mean", "ci_low", "ci_high")
        if mean is not None and lo is not None and hi is not None:
            out += _interval_rules(table, row["outcome"], _where(row, fallback, "mean (95% CI)"),
                                   mean, lo, hi)
        diff, dlo, dhi = _nums(row, "diff", "diff_ci_low", "diff_ci_high")
        if diff is not None and dlo is not None and dhi is not None:
            out += _interval_rules(table, row["outcome"],
                                   _where(row, fallback, "mean difference (95% CI)"),
                                   diff, dlo, dhi)
        n = parse_number(row.get("n"))
        limit = N_RANDOMIZED.get(str(row["arm"]))
        if n is not None and limit is not None and n.value > limit:
            out.append(_row(table, row["outcome"], _where(row, fallback, "N"),
                            "N not above the number randomized", n.text,
                            f"<= {limit} randomized to {row['arm']}", "error"))
    cells = {(str(r["outcome"]), str(r["time"]), str(r["arm"])): r
             for r in df.to_dict("records")}
    t1_sds = _table1_pooled_sds(baseline)
    for outcome, time, arm in cells:
        if arm == "imr" and (outcome, time, "cau") in cells:
            out += _pair_rules(table, outcome, cells[(outcome, time, "imr")],
                               cells[(outcome, time, "cau")], t1_sds.get(outcome))
    return out


def _pair_rules(table: str, outcome: str, imr: dict[str, Any], cau: dict[str, Any],
                t1_sd: tuple[float, float] | None) -> list[dict[str, Any]]:
    """Difference = IMR - CAU, its CI width, and Cohen's d for one outcome x time."""
    out = []
    fallback = f"{table}, {outcome}, IMR vs CAU"
    m_i, lo_i, hi_i = _nums(imr, "mean", "ci_low", "ci_high")
    m_c, lo_c, hi_c = _nums(cau, "mean", "ci_low", "ci_high")
    diff, dlo, dhi, d = _nums(imr, "diff", "diff_ci_low", "diff_ci_high", "d")
    if None in (m_i, m_c, diff):
        return out
    expected = m_i.value - m_c.value
    allowance = diff.half + m_i.half + m_c.half
    dev = abs(diff.value - expected)
    if dev > allowance + _EPS:
        out.append(_row(table, outcome, _where(imr, fallback, "mean difference"),
                        "difference = IMR mean - CAU mean",
                        f"{diff.text} (IMR {m_i.text}, CAU {m_c.text})",
                        f"{_fmt_like(expected, diff)} ± {_fmt(allowance, 2)}",
                        _severity(dev - allowance, allowance)))
    arm_cis = None not in (lo_i, hi_i, lo_c, hi_c)
    if arm_cis and dlo is not None and dhi is not None:
        hw_min = math.hypot(max((hi_i.lo - lo_i.hi) / 2, 0), max((hi_c.lo - lo_c.hi) / 2, 0))
        hw_max = math.hypot((hi_i.hi - lo_i.lo) / 2, (hi_c.hi - lo_c.lo) / 2)
        d_hw_min = (dhi.lo - dlo.hi) / 2
        d_hw_max = (dhi.hi - dlo.lo) / 2
        low, high = hw_min * (1 - WIDTH_TOL), hw_max * (1 + WIDTH_TOL)
        if d_hw_max < low - _EPS or d_hw_min > high + _EPS:
            excess = (low - d_hw_max) if d_hw_max < low else (d_hw_min - high)
            out.append(_row(
                table, outcome, _where(imr, fallback, "95% CI of the mean difference"),
                "difference CI width from arm CIs",
                f"half-width {_fmt((dhi.value - dlo.value) / 2)}",
                f"sqrt(hw_IMR² + hw_CAU²) = {_fmt(hw_min)}-{_fmt(hw_max)} (±{WIDTH_TOL:.0%})",
                _severity(excess, WIDTH_TOL * hw_max)))
    if d is not None and arm_cis:
        out += _d_rule(table, outcome, imr, cau, diff, d, t1_sd, fallback)
    return out


def _d_rule(table: str, outcome: str, imr: dict[str, Any], cau: dict[str, Any], diff: Num,
            d: Num, t1: tuple[float, float] | None, fallback: str) -> list[dict[str, Any]]:
    """Cohen's d = difference / SD, SD between the CI-implied and Table 1 pooled SDs.

    The SD the paper divides by is not printed. The pooled SD recovered from the two arms'
    95 % CIs at the same time point fits most cells (``docs/audit.md``); the remaining cells
    lie between it and the pooled Table 1 baseline SD, so a d is accepted when it is
    diff / SD for some SD in that band, after rounding of diff and d.
    """
    n_i, n_c = parse_number(imr.get("n")), parse_number(cau.get("n"))
    if n_i is None or n_c is None:
        return []
    lo_i, hi_i, lo_c, hi_c = (*_nums(imr, "ci_low", "ci_high"), *_nums(cau, "ci_low", "ci_high"))
    sd_i, sd_c = _ci_sd(n_i.value, lo_i, hi_i), _ci_sd(n_c.value, lo_c, hi_c)
    sd_lo = _pooled(sd_i[0], n_i.value, sd_c[0], n_c.value)
    sd_hi = _pooled(sd_i[1], n_i.value, sd_c[1], n_c.value)
    if t1 is not None:
        sd_lo, sd_hi = min(sd_lo, t1[0]), max(sd_hi, t1[1])
    if sd_lo <= 0:
        return []
    cands = [diff.lo / sd_lo, diff.lo / sd_hi, diff.hi / sd_lo, diff.hi / sd_hi]
    d_min, d_max = min(cands), max(cands)
    if d.hi >= d_min - _EPS and d.lo <= d_max + _EPS:
        return []
    excess = (d.lo - d_max) if d.lo > d_max else (d_min - d.hi)
    return [_row(table, outcome, _where(imr, fallback, "Cohen's d"),
                 "d = difference / SD", f"d {d.text} (difference {diff.text})",
                 f"d in [{_fmt(d_min, 3)}, {_fmt(d_max, 3)}] (SD {_fmt(sd_lo)}-{_fmt(sd_hi)})",
                 _severity(excess, 2 * d.half))]


def _table1_sd(baseline: pd.DataFrame, outcome: str, arm: str) -> tuple[float, float]:
    row = baseline[(baseline["variable"] == "outcome") & (baseline["outcome"] == outcome)
                   & (baseline["arm"] == arm)].iloc[0]
    sd = parse_number(row["sd"])
    return sd.lo, sd.hi


def cohens_d_fit(means: Mapping[str, pd.DataFrame] | None = None,
                 baseline: pd.DataFrame | None = None) -> pd.DataFrame:
    """Measure how well each candidate SD reproduces the printed Cohen's d.

    For every IMR row of Tables 3 and 7, d is recomputed as difference / SD for each
    candidate SD, and counted as consistent when the printed d (within its rounding) is
    reachable from the difference and the SD within theirs.

    Parameters
    ----------
    means : mapping, optional
        ``{"itt": frame, "completers": frame}``; defaults to the printed Tables 3 and 7.
    baseline : DataFrame, optional
        Table 1; defaults to the printed Table 1.

    Returns
    -------
    pandas.DataFrame
        One row per candidate and sample: ``candidate, sample, cells, consistent,
        median_abs_error`` (the median of |printed d - difference / SD|).
    """
    if means is None:
        means = {s: published.printed(published.MARGINAL_MEANS_TABLE[s])
                 for s in published.SAMPLES}
    baseline = published.printed("table1") if baseline is None else baseline
    n_i, n_c = N_RANDOMIZED["imr"], N_RANDOMIZED["cau"]
    records = []
    for sample, df in means.items():
        keyed = df.set_index(["outcome", "time", "arm"])
        for outcome, time in keyed.index.droplevel("arm").unique():
            rows = {a: keyed.loc[(outcome, time, a)].to_dict() for a in ("imr", "cau")}
            base = {a: keyed.loc[(outcome, keyed.index.levels[1][0], a)].to_dict()
                    for a in ("imr", "cau")}
            diff, d = _nums(rows["imr"], "diff", "d")

            def ci(row: dict[str, Any]) -> tuple[float, float]:
                return _ci_sd(parse_number(row["n"]).value, *_nums(row, "ci_low", "ci_high"))

            def pooled(a: tuple[float, float], b: tuple[float, float], na: float,
                       nb: float) -> tuple[float, float]:
                return _pooled(a[0], na, b[0], nb), _pooled(a[1], na, b[1], nb)

            n_ti, n_tc = (parse_number(rows[a]["n"]).value for a in ("imr", "cau"))
            n_bi, n_bc = (parse_number(base[a]["n"]).value for a in ("imr", "cau"))
            t1_i, t1_c = (_table1_sd(baseline, outcome, a) for a in ("imr", "cau"))
            t1_pool = pooled(t1_i, t1_c, n_i, n_c)
            same = pooled(ci(rows["imr"]), ci(rows["cau"]), n_ti, n_tc)
            t_scale = Z_CRIT / float(stats.t.ppf(0.5 + CI_LEVEL / 2, n_ti + n_tc - 2))
            cands = {
                "Table 1 SD, CAU": t1_c,
                "Table 1 SD, IMR": t1_i,
                "Table 1 SD, pooled": t1_pool,
                "CI-implied SD, CAU, same time": ci(rows["cau"]),
                "CI-implied SD, IMR, same time": ci(rows["imr"]),
                "CI-implied SD, pooled, baseline": pooled(ci(base["imr"]), ci(base["cau"]),
                                                          n_bi, n_bc),
                "CI-implied SD, pooled, same time": same,
                "CI-implied SD, pooled, same time, t quantile": (same[0] * t_scale,
                                                                 same[1] * t_scale),
                "band: CI-implied pooled (same time) to Table 1 pooled (audit rule)": (
                    min(same[0], t1_pool[0]), max(same[1], t1_pool[1])),
            }
            for name, (sd_lo, sd_hi) in cands.items():
                ends = [diff.lo / sd_lo, diff.lo / sd_hi, diff.hi / sd_lo, diff.hi / sd_hi]
                ok = d.hi >= min(ends) - _EPS and d.lo <= max(ends) + _EPS
                err = abs(d.value - diff.value / ((sd_lo + sd_hi) / 2))
                records.append(dict(candidate=name, sample=sample, ok=ok, err=err))
    tab = pd.DataFrame(records)
    out = tab.groupby(["candidate", "sample"], sort=False).agg(
        cells=("ok", "size"), consistent=("ok", "sum"), median_abs_error=("err", "median"))
    return out.reset_index()


# ---------------------------------------------------------- Tables 4 and 5 (fidelity)
def _audit_fidelity(outcome: str, df: pd.DataFrame) -> list[dict[str, Any]]:
    table = _TABLE_LABEL[("fidelity", outcome)]
    t_hi = float(stats.t.ppf(0.5 + CI_LEVEL / 2, DF_MIN))
    out = []
    for row in df.to_dict("records"):
        fallback = f"{table}, {row['term']}"
        b, se, t, lo, hi = _nums(row, "b", "se", "t", "ci_low", "ci_high")
        p = parse_number(row.get("p_text")) or parse_number(row.get("p"))
        if None in (b, se, lo, hi):
            continue
        out += _interval_rules(table, outcome, _where(row, fallback, "B (95% CI)"), b, lo, hi)
        if se.lo > 0 and t is not None:
            cands = [b.lo / se.lo, b.lo / se.hi, b.hi / se.lo, b.hi / se.hi]
            if t.hi < min(cands) - _EPS or t.lo > max(cands) + _EPS:
                excess = min(abs(t.value - c) for c in cands)
                out.append(_row(table, outcome, _where(row, fallback, "t"), "t = B / SE",
                                f"B {b.text}, SE {se.text}, t {t.text}",
                                f"t in [{_fmt(min(cands), 3)}, {_fmt(max(cands), 3)}]",
                                _severity(excess, t.half + abs(t.value) * 0.05)))
        if se.lo > 0:
            crit_min, crit_max = (hi.lo - lo.hi) / (2 * se.hi), (hi.hi - lo.lo) / (2 * se.lo)
            if crit_max < Z_CRIT - _EPS or crit_min > t_hi + _EPS:
                out.append(_row(table, outcome, _where(row, fallback, "95% CI and SE"),
                                "CI = B ± t_crit · SE",
                                f"SE {se.text}, CI ({lo.text}, {hi.text})",
                                f"CI half-width / SE in [{Z_CRIT:.2f}, {t_hi:.2f}]; "
                                f"printed gives {_fmt(crit_min, 3)}-{_fmt(crit_max, 3)}",
                                "error" if crit_max < 0.8 * Z_CRIT or crit_min > 1.2 * t_hi
                                else "warning"))
        if p is not None:
            printed = f"B {b.text}, CI ({lo.text}, {hi.text}), p {p.text}"
            excludes, includes = lo.lo > 0 or hi.hi < 0, lo.hi < 0 < hi.lo
            if (excludes and p.lo >= ALPHA - _EPS) or (includes and p.hi < ALPHA - _EPS):
                out.append(_row(table, outcome, _where(row, fallback, "95% CI and p"),
                                "p < 0.05 iff CI excludes 0", printed,
                                "CI and p agree on significance at 5 %", "error"))
            if t is not None:
                t_abs = (max(abs(t.value) - t.half, 0.0), abs(t.value) + t.half)
                ps = [2 * dist.sf(x) for dist in (stats.norm, _T_DIST) for x in t_abs]
                out += _p_gap_rule(table, outcome, _where(row, fallback, "t and p"),
                                   f"t {t.text}, p {p.text}", p, min(ps), max(ps),
                                   f"t (df >= {DF_MIN})")
    return out


# ------------------------------------------------------------------ Table 1 (baseline)
def _audit_baseline(df: pd.DataFrame) -> list[dict[str, Any]]:
    table = "Table 1"
    out = []
    counted = df[df["n"].astype(str).str.strip().replace({"<NA>": "", "nan": ""}) != ""]
    for row in counted.to_dict("records"):
        n, pct = parse_number(row["n"]), parse_number(row["pct"])
        arm_n = N_RANDOMIZED.get(str(row["arm"]))
        if n is None or pct is None or arm_n is None:
            continue
        exact = 100 * n.value / arm_n
        dev = abs(pct.value - exact)
        if dev > pct.half + _EPS:
            arm_label = "control" if row["arm"] == "cau" else "IMR"
            out.append(_row(table, None, _where(row, table, f"n (%), {arm_label} group"),
                            "percentage = n / N",
                            f"{n.text} ({pct.text}%)", f"{exact:.1f}% of N = {arm_n}",
                            "error" if dev > 1.5 else "warning"))
    for (variable, arm), grp in counted.groupby(["variable", "arm"], sort=False):
        if grp["category"].nunique() < 2:
            continue  # yes/no diagnoses: one person can have several
        total = sum(parse_number(v).value for v in grp["n"])
        arm_n = N_RANDOMIZED.get(str(arm))
        if arm_n is not None and total != arm_n:
            out.append(_row(table, None, f"Table 1, {variable}, {arm}",
                            "category counts sum to N", f"sum {total:g}", f"N = {arm_n}",
                            "error"))
    for row in df[df["variable"] == "outcome"].to_dict("records"):
        out += _range_rules(row)
    return out


def _range_rules(row: dict[str, Any]) -> list[dict[str, Any]]:
    """Mean inside the scale range; SD within the Bhatia-Davis bound (max-m)(m-min)."""
    outcome = OUTCOMES.get(str(row["outcome"]))
    mean, sd = parse_number(row["mean"]), parse_number(row["sd"])
    if outcome is None or outcome.scale_min is None or mean is None or sd is None:
        return []
    where = _where(row, "Table 1", "mean (SD)")
    lo, hi = outcome.scale_min, outcome.scale_max
    if mean.hi < lo or mean.lo > hi:
        return [_row("Table 1", outcome.code, where, "mean inside the scale range",
                     mean.text, f"[{lo:g}, {hi:g}]", "error")]
    m_best = min(max((lo + hi) / 2, mean.lo), mean.hi)
    bound = math.sqrt(max((hi - m_best) * (m_best - lo), 0.0))
    if sd.lo > bound + _EPS:
        return [_row("Table 1", outcome.code, where, "SD within the Bhatia-Davis bound",
                     f"{mean.text} ({sd.text})", f"SD <= {bound:.2f} on [{lo:g}, {hi:g}]",
                     "error")]
    return []


# ------------------------------------------------------------------- cross-table rules
def _significant(fixed: pd.DataFrame) -> dict[str, bool]:
    rows = fixed[fixed["term"] == "condition_x_time"]
    out = {}
    for row in rows.to_dict("records"):
        p = parse_number(row.get("p_text")) or parse_number(row.get("p"))
        out[str(row["outcome"])] = p is not None and p.hi < ALPHA
    return out


def _audit_cross(fixed: Mapping[str, pd.DataFrame], means: Mapping[str, pd.DataFrame],
                 baseline: pd.DataFrame | None) -> list[dict[str, Any]]:
    out = []
    for sample, mm in means.items():
        if sample not in fixed or "d_marked" not in mm:
            continue
        table = _TABLE_LABEL[("means", sample)]
        sig = _significant(fixed[sample])
        marked = mm[mm["arm"] == "imr"].groupby("outcome")["d_marked"].agg(
            lambda s: s.astype(str).isin(["True", "true", "1"]).any())
        for outcome, is_marked in marked.items():
            if outcome in sig and bool(is_marked) != sig[outcome]:
                out.append(_row(table, str(outcome), f"{table}, {outcome}: asterisk on d",
                                "asterisk iff significant condition x time",
                                "marked" if is_marked else "not marked",
                                f"condition x time {'' if sig[outcome] else 'not '}significant "
                                f"in {_TABLE_LABEL[('fixed', sample)]}", "error"))
    if "itt" in means and "completers" in means:
        out += _control_arm_rules(means["itt"], means["completers"])
    if "itt" in means and baseline is not None:
        out += _table1_vs_means(baseline, means["itt"])
    return out


def _control_arm_rules(itt: pd.DataFrame, comp: pd.DataFrame) -> list[dict[str, Any]]:
    """Compare control-arm N across samples: the same people, so the same N."""
    out = []
    a = itt[itt["arm"] == "cau"].set_index(["outcome", "time"])
    b = comp[comp["arm"] == "cau"].set_index(["outcome", "time"])
    for key in a.index.intersection(b.index):
        n_a, n_b = parse_number(a.loc[key, "n"]), parse_number(b.loc[key, "n"])
        if n_a is not None and n_b is not None and n_a.value != n_b.value:
            out.append(_row("Table 7", str(key[0]),
                            _where(b.loc[key].to_dict(), f"Table 7, {key}", "control N"),
                            "control-arm N equal in ITT and completer tables",
                            f"N {n_b.text}", f"N {n_a.text} as in Table 3", "warning"))
    return out


def _table1_vs_means(baseline: pd.DataFrame, itt: pd.DataFrame) -> list[dict[str, Any]]:
    """Table 1 baseline mean (SD) against Table 3's baseline mean and CI-implied SD."""
    out = []
    t1 = baseline[baseline["variable"] == "outcome"]
    base = itt[itt["time"].astype(int) == 0].set_index(["outcome", "arm"])
    for row in t1.to_dict("records"):
        key = (row["outcome"], row["arm"])
        if key not in base.index:
            continue
        other = base.loc[key].to_dict()
        m1, s1 = parse_number(row["mean"]), parse_number(row["sd"])
        m3, lo, hi = _nums(other, "mean", "ci_low", "ci_high")
        n = parse_number(other.get("n"))
        where = _where(row, "Table 1", "mean (SD)")
        allowance = m1.half + m3.half
        dev = abs(m1.value - m3.value)
        if dev > allowance + _EPS:
            out.append(_row("Table 1", str(row["outcome"]), where,
                            "Table 1 mean = Table 3 baseline mean", m1.text,
                            f"{m3.text} ± {_fmt(allowance, 2)} (Table 3)",
                            _severity(dev - allowance, allowance)))
        if None not in (s1, lo, hi, n):
            sd_lo, sd_hi = _ci_sd(n.value, lo, hi)
            low, high = sd_lo * (1 - SD_TOL), sd_hi * (1 + SD_TOL)
            if s1.hi < low or s1.lo > high:
                out.append(_row("Table 1", str(row["outcome"]), where,
                                "Table 1 SD = SD implied by Table 3 baseline CI", s1.text,
                                f"{_fmt(sd_lo, 3)}-{_fmt(sd_hi, 3)} (±{SD_TOL:.0%})",
                                "warning"))
    return out


# ------------------------------------------------------------------------ text rules
_OPS: dict[type, Callable[[float, float], float]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}


def _interval_eval(expr: str, values: Mapping[str, Num]) -> tuple[float, float]:
    """Evaluate + - * / over printed numbers as intervals (keys are names, numbers exact)."""

    def walk(node: ast.AST) -> tuple[float, float]:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value), float(node.value)
        if isinstance(node, ast.Name):
            if node.id not in values:
                raise ImrBayesError(unknown_choice_message("text key in relation", node.id,
                                                           sorted(values)))
            num = values[node.id]
            whole = num.half == 0.5 and float(num.value).is_integer()
            return (num.value, num.value) if whole else (num.lo, num.hi)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            (a, b), (c, e) = walk(node.left), walk(node.right)
            vals = [_OPS[type(node.op)](x, y) for x in (a, b) for y in (c, e)]
            return min(vals), max(vals)
        raise ImrBayesError(f"unsupported expression in relation {expr!r}")

    return walk(ast.parse(expr, mode="eval"))


def _lookup(ref: str, fixed: Mapping[str, pd.DataFrame],
            fidelity: Mapping[str, pd.DataFrame], values: Mapping[str, Num]) -> Num | None:
    parts = ref.split("|")
    if parts[0] == "text":
        return values.get(parts[1])
    frames = {"table2": fixed.get("itt"), "table6": fixed.get("completers"),
              **{table: fidelity.get(o) for o, table in published.FIDELITY_TABLE.items()}}
    frame = frames.get(parts[0])
    if frame is None:
        return None
    if parts[0] in ("table2", "table6"):
        hit = frame[(frame["outcome"] == parts[1]) & (frame["term"] == parts[2])]
    else:
        hit = frame[frame["term"] == parts[1]]
    if hit.empty:
        raise ImrBayesError(f"text cross-reference {ref!r} names no row of {parts[0]}")
    col = parts[-1]
    cell = hit.iloc[0].get("p_text") if col == "p" and "p_text" in hit else hit.iloc[0][col]
    return parse_number(cell)


def _audit_text(text: pd.DataFrame, fixed: Mapping[str, pd.DataFrame],
                fidelity: Mapping[str, pd.DataFrame],
                means: Mapping[str, pd.DataFrame]) -> list[dict[str, Any]]:
    out = []
    values = {str(r["key"]): parse_number(r["value"]) for r in text.to_dict("records")}
    rows = {str(r["key"]): r for r in text.to_dict("records")}

    def where(key: str) -> str:
        return f"{rows[key].get('source', 'Text')}: {key}"

    for key, row in rows.items():
        ref = str(row.get("refers_to") or "").strip()
        val = values[key]
        if ref:
            other = _lookup(ref, fixed, fidelity, values)
            if other is not None and (val.hi < other.lo - _EPS or val.lo > other.hi + _EPS):
                allowance = val.half + other.half
                out.append(_row("Text", None, where(key), "text restates the same number",
                                val.text, f"{other.text} ({ref.replace('|', ', ')})",
                                _severity(abs(val.value - other.value) - allowance,
                                          allowance)))
        rel = str(row.get("relation") or "").strip()
        if rel:
            lo, hi = _interval_eval(rel, values)
            if val.hi < lo - _EPS or val.lo > hi + _EPS:
                allowance = val.half
                excess = (lo - val.hi) if val.hi < lo else (val.lo - hi)
                out.append(_row("Text", None, where(key), "derived number = its relation",
                                val.text, f"{rel} = {_fmt(lo)}-{_fmt(hi)}",
                                _severity(excess, allowance)))
    out += _text_statistics(values, where)
    out += _text_mixtures(values, where)
    out += _text_counts(values, where, fixed, means)
    return out


def _text_statistics(values: Mapping[str, Num], where: Callable[[str], str]) -> list[dict]:
    """statcheck: F(df1, df2), chi2(df) and ratio CIs against their printed p.

    A statistic ``<key>`` has its p under ``<key>_p`` or, with the key's last word dropped,
    ``<stem>_p`` (``hosp_or`` -> ``hosp_p``); degrees of freedom under ``<key>_df1`` /
    ``<key>_df2`` (F) or ``<key>_df`` (chi-square); a ratio's CI under ``<key>_ci_low`` /
    ``<key>_ci_high``.
    """
    out = []
    for key, val in values.items():
        df1, df2, df = (values.get(f"{key}_{s}") for s in ("df1", "df2", "df"))
        count = values.get(key.replace("chi2", "n_characteristics")) if "chi2" in key else None
        if df is not None and count is not None and df.value != count.value:
            out.append(_row("Text", None, where(key), "chi-square df = number of predictors",
                            f"df {df.text}", f"{count.text} baseline characteristics "
                            "(more df need a multi-category predictor)", "warning"))
        p = values.get(f"{key}_p") or values.get(f"{key.rsplit('_', 1)[0]}_p")
        if p is None or key.endswith("_p"):
            continue
        lo, hi = values.get(f"{key}_ci_low"), values.get(f"{key}_ci_high")
        if df1 is not None and df2 is not None:
            ps = [stats.f.sf(x, df1.value, df2.value) for x in (val.lo, val.hi)]
            out += _p_gap_rule("Text", None, where(key), f"F({df1.text}, {df2.text}) = "
                               f"{val.text}, p {p.text}", p, min(ps), max(ps), "F")
        elif df is not None:
            ps = [stats.chi2.sf(x, df.value) for x in (val.lo, val.hi)]
            out += _p_gap_rule("Text", None, where(key), f"chi2({df.text}) = {val.text}, "
                               f"p {p.text}", p, min(ps), max(ps), "chi-square")
        elif lo is not None and hi is not None and lo.lo > 0:
            est, llo, lhi = (Num(math.log(x.value), max(math.log(x.hi / x.value),
                                                      math.log(x.value / x.lo)), x.text)
                             for x in (val, lo, hi))
            out += _interval_rules("Text", None, where(key) + " (log scale)", est, llo, lhi)
            out += _p_rules("Text", None, where(key) + " (log scale)", est, llo, lhi, p)
    return out


def _text_mixtures(values: Mapping[str, Num], where: Callable[[str], str]) -> list[dict]:
    """Check that a subgroup's mean and SD leave a feasible remainder of the whole group.

    For ``attendance_<x>_mean/sd`` over ``n_randomized_imr`` and ``completers_<x>_mean/sd``
    over ``completers_n`` (and any Discussion restatement of the subgroup SD), the
    non-completers' implied mean must be >= 0 and their implied variance >= 0.
    """
    out = []
    n_all, n_sub = values.get("n_randomized_imr"), values.get("completers_n")
    if n_all is None or n_sub is None:
        return out
    n_rest = n_all.value - n_sub.value
    for key in values:
        if not (key.startswith("attendance_") and key.endswith("_mean")):
            continue
        stem = key[len("attendance_"):-len("_mean")]
        m_all, s_all = values.get(key), values.get(f"attendance_{stem}_sd")
        m_sub = values.get(f"completers_{stem}_mean")
        sd_keys = [k for k in (f"completers_{stem}_sd", f"discussion_completers_{stem}_sd")
                   if k in values]
        if None in (m_all, s_all, m_sub) or n_rest <= 0:
            continue
        m_rest = (n_all.value * m_all.value - n_sub.value * m_sub.value) / n_rest
        if m_rest < 0:
            out.append(_row("Text", None, where(key), "subgroup mean leaves a feasible rest",
                            f"all {m_all.text}, completers {m_sub.text}",
                            f"non-completer mean {m_rest:.2f} >= 0", "error"))
            continue
        for sd_key in sd_keys:
            s_sub = values[sd_key]
            ss_all = (n_all.value - 1) * s_all.hi**2 + n_all.value * m_all.value**2
            ss_sub = (n_sub.value - 1) * s_sub.lo**2 + n_sub.value * m_sub.value**2
            var_rest = (ss_all - ss_sub - n_rest * m_rest**2) / max(n_rest - 1, 1)
            if var_rest < 0:
                out.append(_row("Text", None, where(sd_key),
                                "subgroup SD leaves a feasible rest", s_sub.text,
                                f"non-completer variance {var_rest:.1f} >= 0", "error"))
    return out


def _text_counts(values: Mapping[str, Num], where: Callable[[str], str],
                 fixed: Mapping[str, pd.DataFrame],
                 means: Mapping[str, pd.DataFrame]) -> list[dict]:
    """Check counted claims: significant secondary outcomes, missing data, group ranges."""
    out = []
    for sample, fe in fixed.items():
        key = f"{'itt' if sample == 'itt' else 'completers'}_n_secondary_improved"
        if key not in values:
            continue
        sig = _significant(fe)
        names = [c for c in SECONDARY if sig.get(c)]
        if len(names) != values[key].value:
            out.append(_row("Text", None, where(key),
                            "count of significant secondary outcomes",
                            values[key].text,
                            f"{len(names)} in {_TABLE_LABEL[('fixed', sample)]} "
                            f"({', '.join(names) or 'none'})", "error"))
    if "pct_missing" in values and "itt" in means and "n_randomized" in values:
        mm = means["itt"]
        observed = sum(parse_number(v).value for v in mm["n"])
        cells = values["n_randomized"].value * mm["time"].nunique() * mm["outcome"].nunique()
        pct = 100 * (1 - observed / cells)
        val = values["pct_missing"]
        if abs(pct - val.value) > val.half + _EPS:
            out.append(_row("Text", None, where("pct_missing"),
                            "missing share = 1 - sum of Table 3 N / cells", val.text,
                            f"{pct:.2f}%", _severity(abs(pct - val.value) - val.half,
                                                     val.half)))
    if "completers" in means and "completers_n" in values:
        limit = values["completers_n"]
        for row in means["completers"].to_dict("records"):
            n = parse_number(row.get("n"))
            if row["arm"] == "imr" and n is not None and n.value > limit.value:
                fallback = f"Table 7, {row['outcome']}, IMR, time {row['time']}"
                out.append(_row("Table 7", str(row["outcome"]), _where(row, fallback, "N"),
                                "completer N not above the number of completers", n.text,
                                f"<= {limit.text} completers (text)", "error"))
    out += _group_range_rule(values, where)
    return out


def _group_range_rule(values: Mapping[str, Num], where: Callable[[str], str]) -> list[dict]:
    """Check that the mean of all group scores is reachable from the subgroup ranges."""
    subgroups = sorted({k[len("fidelity_"):-len("_groups")] for k in values
                        if k.startswith("fidelity_") and k.endswith("_groups")} - {""})
    parts = []
    for name in subgroups:
        k, lo, hi = (values.get(f"fidelity_{name}_{s}") for s in ("groups", "min", "max"))
        if None not in (k, lo, hi):
            parts.append((k.value, lo.lo, hi.hi))
    mean = values.get("fidelity_mean")
    if not parts or mean is None:
        return []
    total = sum(k for k, _, _ in parts)
    # one group sits at each end of its range; the others can be anywhere inside it
    low = sum((k - 1) * lo + hi for k, lo, hi in parts) / total
    high = sum(lo + (k - 1) * hi for k, lo, hi in parts) / total
    if mean.hi < low or mean.lo > high:
        return [_row("Text", None, where("fidelity_mean"), "mean reachable from group ranges",
                     mean.text, f"[{low:.2f}, {high:.2f}]", "error")]
    return []


# ----------------------------------------------------------------------------- public
def audit_tables(*, fixed: Mapping[str, pd.DataFrame] | None = None,
                 means: Mapping[str, pd.DataFrame] | None = None,
                 baseline: pd.DataFrame | None = None,
                 fidelity: Mapping[str, pd.DataFrame] | None = None,
                 text: pd.DataFrame | None = None) -> pd.DataFrame:
    """Audit the given tables (and only those) for internal consistency.

    Parameters
    ----------
    fixed : mapping, optional
        ``{"itt": frame, "completers": frame}`` shaped like
        :func:`imr_bayes.published.fixed_effects` (Tables 2 and 6).
    means : mapping, optional
        ``{"itt": frame, "completers": frame}`` shaped like
        :func:`imr_bayes.published.marginal_means` (Tables 3 and 7).
    baseline : DataFrame, optional
        Shaped like :func:`imr_bayes.published.baseline` (Table 1).
    fidelity : mapping, optional
        ``{"imrs_client": frame, "sers_sf": frame}`` shaped like
        :func:`imr_bayes.published.fidelity_effects` (Tables 4 and 5).
    text : DataFrame, optional
        Shaped like :func:`imr_bayes.published.text_results`.

    Numeric cells may be strings (printed precision is then known exactly, as in
    :func:`imr_bayes.published.printed`) or floats (precision inferred, which can only
    widen the rounding allowance). Cross-table rules run when both tables are given.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`AUDIT_COLUMNS`, one row per flagged cell and rule, errors first.

    Raises
    ------
    ImrBayesError
        If a mapping has an unknown key.
    """
    fixed, means, fidelity = dict(fixed or {}), dict(means or {}), dict(fidelity or {})
    for kind, mapping, valid in (("sample", fixed, published.SAMPLES),
                                 ("sample", means, published.SAMPLES),
                                 ("fidelity outcome", fidelity, tuple(published.FIDELITY_TABLE))):
        for key in mapping:
            if key not in valid:
                raise ImrBayesError(unknown_choice_message(kind, key, valid))
    rows: list[dict[str, Any]] = []
    for sample, frame in fixed.items():
        rows += _audit_fixed(sample, frame)
    for sample, frame in means.items():
        rows += _audit_means(sample, frame, baseline)
    for outcome, frame in fidelity.items():
        rows += _audit_fidelity(outcome, frame)
    if baseline is not None:
        rows += _audit_baseline(baseline)
    rows += _audit_cross(fixed, means, baseline)
    if text is not None:
        rows += _audit_text(text, fixed, fidelity, means)
    out = pd.DataFrame(rows, columns=list(AUDIT_COLUMNS))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    tables = sorted(set(out["table"]), key=lambda t: (t == "Text", t))
    out["_t"] = out["table"].map({t: i for i, t in enumerate(tables)})
    out["_s"] = out["severity"].map(order)
    out["_o"] = out["outcome"].map({c: i for i, c in enumerate(CODES)}).fillna(len(CODES))
    out = out.sort_values(["_s", "_t", "_o"], kind="mergesort")
    return out.drop(columns=["_t", "_s", "_o"]).reset_index(drop=True)


def audit_published() -> pd.DataFrame:
    """Audit every published table and the text results, as printed.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`AUDIT_COLUMNS` (``table, outcome, location, check, printed,
        expected, severity``), one row per flagged cell and rule.
    """
    return audit_tables(**printed_tables())


def printed_tables() -> dict[str, Any]:
    """Every published table as printed, keyed as :func:`audit_tables` takes them."""
    return dict(
        fixed={s: published.printed(published.FIXED_EFFECT_TABLE[s]) for s in published.SAMPLES},
        means={s: published.printed(published.MARGINAL_MEANS_TABLE[s])
               for s in published.SAMPLES},
        baseline=published.printed("table1"),
        fidelity={o: published.printed(t) for o, t in published.FIDELITY_TABLE.items()},
        text=published.printed("text"),
    )


def summary(findings: pd.DataFrame) -> pd.DataFrame:
    """Count flagged cells per check and severity (rows: checks; columns: severities)."""
    if findings.empty:
        return pd.DataFrame(columns=["check", *SEVERITIES, "total"])
    counts = pd.crosstab(findings["check"], findings["severity"])
    counts = counts.reindex(columns=list(SEVERITIES), fill_value=0)
    counts["total"] = counts.sum(axis=1)
    return counts.sort_values("total", ascending=False).reset_index()
