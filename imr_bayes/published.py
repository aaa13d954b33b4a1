"""The published numbers of the IMR trial paper as tidy data frames.

Every number of Tables 1-7 and of the running text lives in a human-readable CSV file under
``models/published/`` with a ``source`` provenance field (table, row, column) and a ``note``
column. Values are recorded **as printed**; evident extraction artifacts (``022`` for
``0.22``, a doubled minus sign) are corrected and the correction is said in ``note``
(``docs/published.md`` lists them all). Real inconsistencies stay as printed:
:mod:`imr_bayes.audit` finds them.

Conventions
-----------
- ``p`` is numeric where the paper prints a number; where it prints only a bound
  (``<0.001``) ``p`` is NaN and ``p_text`` keeps the printed text. ``p_text`` never carries
  the paper's significance star.
- Cells the paper leaves empty because of its stepwise model selection (footnote b of
  Tables 2 and 6) are rows with ``in_final_model=False`` and NaN numbers.
- :func:`printed` returns a table exactly as stored (every cell a string), so that the
  printed precision of each number (``3.30`` vs ``3.3``) is available, e.g. to the audit.
"""

from __future__ import annotations

from functools import cache

import pandas as pd

from imr_bayes.errors import ImrBayesError, PublishedDataError
from imr_bayes.outcomes import unknown_choice_message
from imr_bayes.paths import published_dir
from imr_bayes.trial import facts

#: Table key -> file name under ``models/published``.
FILES: dict[str, str] = {
    "table1": "table1_baseline.csv",
    "table2": "table2_itt_fixed_effects.csv",
    "table3": "table3_itt_marginal_means.csv",
    "table4": "table4_fidelity_imrs_client.csv",
    "table5": "table5_fidelity_sers_sf.csv",
    "table6": "table6_completers_fixed_effects.csv",
    "table7": "table7_completers_marginal_means.csv",
    "text": "text_results.csv",
}

SAMPLES: tuple[str, ...] = ("itt", "completers")
FIXED_EFFECT_TABLE: dict[str, str] = {"itt": "table2", "completers": "table6"}
MARGINAL_MEANS_TABLE: dict[str, str] = {"itt": "table3", "completers": "table7"}
#: Fidelity outcome -> its table key (trial facts ``fidelity.outcomes``: "Table 4" -> "table4").
FIDELITY_TABLE: dict[str, str] = {
    outcome: label.lower().replace(" ", "") for outcome, label in facts().fidelity.outcomes.items()
}

#: Fixed-effect terms of Tables 2 and 6, in the paper's order.
TERMS: tuple[str, ...] = ("intercept", "time", "condition", "condition_x_time")
#: Fidelity-model terms of Tables 4 and 5, in the paper's order.
FIDELITY_TERMS: tuple[str, ...] = (
    "intercept", "high", "moderate", "followup", "post",
    "high_x_followup", "high_x_post", "moderate_x_followup", "moderate_x_post",
)

FIXED_EFFECT_COLUMNS: tuple[str, ...] = (
    "outcome", "term", "b", "ci_low", "ci_high", "p", "p_text", "in_final_model", "source", "note",
)
MARGINAL_MEAN_COLUMNS: tuple[str, ...] = (
    "outcome", "arm", "time", "n", "mean", "ci_low", "ci_high", "diff", "diff_ci_low",
    "diff_ci_high", "d", "d_marked", "source", "note",
)
FIDELITY_COLUMNS: tuple[str, ...] = (
    "term", "b", "se", "t", "p", "p_text", "ci_low", "ci_high", "source", "note",
)
BASELINE_COLUMNS: tuple[str, ...] = (
    "variable", "category", "outcome", "arm", "mean", "sd", "n", "pct", "source", "note",
)
TEXT_COLUMNS: tuple[str, ...] = (
    "key", "value", "source", "sentence", "refers_to", "relation", "note",
)

_NUMERIC: dict[str, tuple[str, ...]] = {
    "fixed": ("b", "ci_low", "ci_high", "p"),
    "means": ("mean", "ci_low", "ci_high", "diff", "diff_ci_low", "diff_ci_high", "d"),
    "fidelity": ("b", "se", "t", "p", "ci_low", "ci_high"),
    "baseline": ("mean", "sd", "pct"),
    "text": ("value",),
}


def _check_choice(kind: str, value: str, valid: tuple[str, ...] | list[str]) -> None:
    if value not in valid:
        raise ImrBayesError(unknown_choice_message(kind, value, tuple(valid)))


@cache
def _read_text(table: str) -> pd.DataFrame:
    path = published_dir() / FILES[table]
    if not path.is_file():
        raise PublishedDataError(f"published table {table!r} not found at {path}")
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def printed(table: str) -> pd.DataFrame:
    """Return a published table exactly as stored: every cell a string, empty cells ``""``.

    Parameters
    ----------
    table : str
        One of ``table1`` ... ``table7`` or ``text`` (see :data:`FILES`).

    Returns
    -------
    pandas.DataFrame
        A copy of the file's content; the printed precision of each number is kept
        (``"3.30"`` stays ``"3.30"``).
    """
    _check_choice("published table", table, list(FILES))
    return _read_text(table).copy()


def _require(table: str, df: pd.DataFrame, columns: tuple[str, ...]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise PublishedDataError(
            f"{FILES[table]} lacks column(s) {', '.join(missing)}; expected {', '.join(columns)}"
        )


def _to_float(table: str, df: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    out = df.copy()
    for col in columns:
        text = out[col].str.strip()
        values = pd.to_numeric(text.where(text != "", None), errors="coerce")
        bad = values.isna() & (text != "") & ~text.str.startswith("<")
        if bad.any():
            raise PublishedDataError(
                f"{FILES[table]}: column {col!r} has non-numeric value(s) "
                f"{sorted(set(text[bad]))}"
            )
        out[col] = values.astype(float)
    return out


def _to_bool(table: str, series: pd.Series) -> pd.Series:
    mapping = {"True": True, "False": False, "": False}
    bad = ~series.isin(list(mapping))
    if bad.any():
        raise PublishedDataError(
            f"{FILES[table]}: expected True/False, got {sorted(set(series[bad]))}"
        )
    return series.map(mapping).astype(bool)


def fixed_effects(sample: str = "itt") -> pd.DataFrame:
    """Return the fixed effects of the final linear mixed models (Table 2 or Table 6).

    Parameters
    ----------
    sample : {"itt", "completers"}
        ``"itt"`` for Table 2 (intention to treat), ``"completers"`` for Table 6.

    Returns
    -------
    pandas.DataFrame
        One row per outcome x term (12 x 4 = 48 rows) with columns ``outcome, term, b,
        ci_low, ci_high, p, p_text, in_final_model, source, note``. ``term`` is one of
        ``intercept, time, condition, condition_x_time``; terms dropped by the paper's
        stepwise selection have ``in_final_model=False`` and NaN numbers.

    Raises
    ------
    ImrBayesError
        If ``sample`` is not one of the valid samples.
    """
    _check_choice("sample", sample, SAMPLES)
    table = FIXED_EFFECT_TABLE[sample]
    raw = _read_text(table)
    _require(table, raw, FIXED_EFFECT_COLUMNS)
    df = _to_float(table, raw, _NUMERIC["fixed"])
    df["in_final_model"] = _to_bool(table, raw["in_final_model"])
    return df[list(FIXED_EFFECT_COLUMNS)].reset_index(drop=True)


def marginal_means(sample: str = "itt") -> pd.DataFrame:
    """Return the estimated marginal means, differences and Cohen's d (Table 3 or Table 7).

    Parameters
    ----------
    sample : {"itt", "completers"}
        ``"itt"`` for Table 3, ``"completers"`` for Table 7.

    Returns
    -------
    pandas.DataFrame
        One row per outcome x arm x time (12 x 2 x 3 = 72 rows) with columns ``outcome, arm,
        time, n, mean, ci_low, ci_high, diff, diff_ci_low, diff_ci_high, d, d_marked, source,
        note``. ``arm`` is ``"imr"`` or ``"cau"``; ``time`` is 0 (baseline), 1 (12 months) or
        2 (18 months). The mean difference (IMR - CAU), its CI, ``d`` and ``d_marked`` (the
        paper's asterisk: a treatment effect in Table 2/6) are on the IMR rows, NaN on CAU.
    """
    _check_choice("sample", sample, SAMPLES)
    table = MARGINAL_MEANS_TABLE[sample]
    raw = _read_text(table)
    _require(table, raw, MARGINAL_MEAN_COLUMNS)
    df = _to_float(table, raw, _NUMERIC["means"])
    df["time"] = pd.to_numeric(raw["time"]).astype(int)
    df["n"] = pd.to_numeric(raw["n"]).astype("Int64")
    df["d_marked"] = _to_bool(table, raw["d_marked"])
    return df[list(MARGINAL_MEAN_COLUMNS)].reset_index(drop=True)


def fidelity_effects(outcome: str = "imrs_client") -> pd.DataFrame:
    """Return the fixed coefficients of the fidelity model (Table 4 or Table 5).

    Parameters
    ----------
    outcome : {"imrs_client", "sers_sf"}
        ``"imrs_client"`` for Table 4, ``"sers_sf"`` for Table 5.

    Returns
    -------
    pandas.DataFrame
        Nine rows (:data:`FIDELITY_TERMS`) with columns ``term, b, se, t, p, p_text, ci_low,
        ci_high, source, note``. Reference categories: control (group), baseline (time).
    """
    _check_choice("fidelity outcome", outcome, list(FIDELITY_TABLE))
    table = FIDELITY_TABLE[outcome]
    raw = _read_text(table)
    _require(table, raw, FIDELITY_COLUMNS)
    df = _to_float(table, raw, _NUMERIC["fidelity"])
    return df[list(FIDELITY_COLUMNS)].reset_index(drop=True)


def baseline() -> pd.DataFrame:
    """Return Table 1 (baseline characteristics) as a tidy frame.

    Returns
    -------
    pandas.DataFrame
        Columns ``variable, category, outcome, arm, mean, sd, n, pct, source, note``.
        Categorical characteristics have ``n`` and ``pct`` (percent of the arm, as printed);
        age and the 12 outcomes (``variable == "outcome"``) have ``mean`` and ``sd``.
        Empty text cells are ``<NA>``.
    """
    raw = _read_text("table1")
    _require("table1", raw, BASELINE_COLUMNS)
    df = _to_float("table1", raw, _NUMERIC["baseline"])
    df["n"] = pd.to_numeric(raw["n"].where(raw["n"] != "", None)).astype("Int64")
    for col in ("category", "outcome", "note"):
        df[col] = raw[col].where(raw[col] != "", None)
    return df[list(BASELINE_COLUMNS)].reset_index(drop=True)


def text_results() -> pd.DataFrame:
    """Return the numbers given only in the running text, one row per number.

    Returns
    -------
    pandas.DataFrame
        Columns ``key, value, source, sentence, refers_to, relation, note``: ``key`` is a
        unique snake-case name (e.g. ``hosp_or``, ``completers_sessions_sd``), ``value`` the
        number as a float, ``source`` the section, ``sentence`` the sentence it was printed
        in. ``refers_to`` names the cell a number restates (``table2|imrs_client|
        condition_x_time|p`` or ``text|completers_sessions_sd``); ``relation`` is the
        arithmetic the paper implies for a number (``100 * completers_n /
        n_randomized_imr``). Both are empty where they do not apply; the audit checks them.
    """
    raw = _read_text("text")
    _require("text", raw, TEXT_COLUMNS)
    if raw["key"].duplicated().any():
        dup = sorted(set(raw.loc[raw["key"].duplicated(), "key"]))
        raise PublishedDataError(f"{FILES['text']}: duplicated key(s) {dup}")
    df = _to_float("text", raw, _NUMERIC["text"])
    return df[list(TEXT_COLUMNS)].reset_index(drop=True)


def text_value(key: str) -> float:
    """Return one number from the text by its key (see :func:`text_results`).

    Raises
    ------
    ImrBayesError
        If the key is unknown; the message suggests the closest key.
    """
    text = text_results()
    keys = list(text["key"])
    _check_choice("text result key", key, keys)
    return float(text.loc[text["key"] == key, "value"].iloc[0])

