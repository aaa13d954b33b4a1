"""The participant-data contract: columns, types and the rules every data set must meet.

Long format, one row per participant x measurement moment (``time`` 0 = baseline, 1 = 12
months, 2 = 18 months). :func:`validate` checks every rule and reports **every** problem at
once, naming the row (1 = first data row, in the order given) and the column. The rules and
the column list are documented in ``docs/data_contract.md``.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pandas as pd

from imr_bayes.constants import ARMS, N_TEAMS, TIMES
from imr_bayes.errors import DataValidationError
from imr_bayes.outcomes import CODES, OUTCOMES
from imr_bayes.paths import published_dir
from imr_bayes.trial import facts as trial_facts

#: Baseline characteristics coded as category strings (codes of ``table1_baseline.csv``).
CATEGORICAL_COLUMNS: tuple[str, ...] = (
    "sex", "living_situation", "education", "native_country", "income", "onset",
    "admissions", "hospitalization_length",
)
#: Diagnosis indicators (one person can have more than one diagnosis).
DIAGNOSIS_COLUMNS: tuple[str, ...] = (
    "diagnosis_psychotic", "diagnosis_mood", "diagnosis_personality",
)

#: Column name -> pandas dtype after validation, in the contract's column order.
CONTRACT_COLUMNS: dict[str, str] = {
    "participant_id": "str",
    "arm": "str",
    "time": "int64",
    "team": "Int64",
    "imr_group": "str",
    "sessions_attended": "Int64",
    "sessions_scheduled": "Int64",
    "completer": "boolean",
    "fidelity": "float64",
    **{code: "float64" for code in CODES},
    "hosp_before": "Int64",
    "hosp_after": "Int64",
    "los_before": "float64",
    "los_after": "float64",
    "age": "float64",
    **{col: "str" for col in CATEGORICAL_COLUMNS},
    **{col: "boolean" for col in DIAGNOSIS_COLUMNS},
}

#: Columns whose value describes the participant, so must be equal on all of their rows.
PARTICIPANT_COLUMNS: tuple[str, ...] = tuple(
    c for c in CONTRACT_COLUMNS if c not in ("participant_id", "time", *CODES)
)
#: Columns that may never be missing.
REQUIRED_VALUES: tuple[str, ...] = ("participant_id", "arm", "time")
#: IMR-only columns: must be missing for a CAU participant.
IMR_ONLY_COLUMNS: tuple[str, ...] = (
    "imr_group", "sessions_attended", "sessions_scheduled", "completer", "fidelity",
)
#: Share of scheduled sessions a completer attended at least (Methods, "completer").
COMPLETER_SHARE: float = trial_facts().completion.completer_share
#: Range of the IMR Fidelity Scale (13 items scored 1-5, group mean).
FIDELITY_RANGE: tuple[float, float] = trial_facts().fidelity.scale
#: Plausible age range in years (inclusion criteria: 18-65 at baseline; margin for data entry).
AGE_RANGE: tuple[float, float] = (16.0, 100.0)
#: Length of stay in days within one year.
LOS_RANGE: tuple[float, float] = (0.0, 366.0)

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}
_MAX_VALUES_SHOWN = 5


@cache
def category_codes() -> dict[str, tuple[str, ...]]:
    """Return the valid category codes of each categorical baseline column (from Table 1)."""
    t1 = pd.read_csv(published_dir() / "table1_baseline.csv", dtype=str, keep_default_na=False)
    return {
        col: tuple(dict.fromkeys(t1.loc[t1["variable"] == col, "category"]))
        for col in CATEGORICAL_COLUMNS
    }


def completer_flag(attended: pd.Series, scheduled: pd.Series) -> pd.Series:
    """Return the completer flag: attended >= 50 % of scheduled sessions (NA if unknown)."""
    att = attended.astype("Float64")
    sch = scheduled.astype("Float64")
    return (att >= COMPLETER_SHARE * sch).astype("boolean")


def _rows(mask: np.ndarray | pd.Series) -> str:
    idx = np.flatnonzero(np.asarray(mask, dtype=bool)) + 1
    text = ", ".join(str(i) for i in idx)
    return f"row {text}" if len(idx) == 1 else f"rows {text}"


def _shown(values: pd.Series) -> str:
    uniq = list(dict.fromkeys(str(v) for v in values))
    more = f" (and {len(uniq) - _MAX_VALUES_SHOWN} more)" if len(uniq) > _MAX_VALUES_SHOWN else ""
    return ", ".join(repr(v) for v in uniq[:_MAX_VALUES_SHOWN]) + more


def _blank(series: pd.Series) -> pd.Series:
    """Flag raw values that count as missing (NA or an empty / whitespace string)."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return series.isna()
    text = series.astype("str")
    return series.isna() | text.str.strip().eq("")


def _coerce_numeric(raw: pd.Series, col: str, integer: bool, problems: list[str]) -> pd.Series:
    blank = _blank(raw)
    values = pd.to_numeric(raw.where(~blank), errors="coerce")
    bad = values.isna() & ~blank
    if bad.any():
        problems.append(f"{_rows(bad)}, column {col!r}: not a number ({_shown(raw[bad])})")
    values = values.astype("float64")
    if integer:
        frac = values.notna() & (values != np.round(values))
        if frac.any():
            problems.append(
                f"{_rows(frac)}, column {col!r}: not a whole number ({_shown(raw[frac])})"
            )
            values = values.where(~frac)
        return values.astype("Int64")
    return values


def _coerce_bool(raw: pd.Series, col: str, problems: list[str]) -> pd.Series:
    blank = _blank(raw)
    text = raw.astype("str").str.strip().str.lower()
    # floats read from CSV ("1.0") count as their integer text
    text = text.str.replace(r"^([01])\.0+$", r"\1", regex=True)
    out = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    out[text.isin(_TRUE) & ~blank] = True
    out[text.isin(_FALSE) & ~blank] = False
    bad = out.isna() & ~blank
    if bad.any():
        problems.append(
            f"{_rows(bad)}, column {col!r}: not a boolean ({_shown(raw[bad])}); "
            "use True/False (or 1/0, yes/no)"
        )
    return out


def _coerce_str(raw: pd.Series) -> pd.Series:
    blank = _blank(raw)
    text = raw.astype("str").str.strip()
    # integer-valued numbers read as floats ("3.0") keep their integer text
    text = text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
    return text.where(~blank).astype("str")


def _coerce(df: pd.DataFrame, problems: list[str]) -> pd.DataFrame:
    out = {}
    for col, dtype in CONTRACT_COLUMNS.items():
        raw = df[col].reset_index(drop=True)
        if dtype == "str":
            out[col] = _coerce_str(raw)
        elif dtype == "boolean":
            out[col] = _coerce_bool(raw, col, problems)
        else:
            integer = dtype in ("int64", "Int64")
            out[col] = _coerce_numeric(raw, col, integer, problems)
    return pd.DataFrame(out)


def _check_values(df: pd.DataFrame, problems: list[str]) -> None:
    for col in REQUIRED_VALUES:
        miss = df[col].isna()
        if miss.any():
            problems.append(f"{_rows(miss)}, column {col!r}: missing value (required)")

    bad_arm = df["arm"].notna() & ~df["arm"].isin(ARMS)
    if bad_arm.any():
        problems.append(
            f"{_rows(bad_arm)}, column 'arm': unknown arm label(s) {_shown(df['arm'][bad_arm])}; "
            f"valid labels: {', '.join(ARMS)}"
        )
    bad_time = df["time"].notna() & ~df["time"].isin(TIMES)
    if bad_time.any():
        problems.append(
            f"{_rows(bad_time)}, column 'time': value(s) {_shown(df['time'][bad_time])} outside "
            f"{{{', '.join(str(t) for t in TIMES)}}} (0 = baseline, 1 = 12 months, 2 = 18 months)"
        )

    def out_of(col: str, lo: float | None, hi: float | None, what: str) -> None:
        v = df[col].astype("Float64")
        bad = pd.Series(False, index=df.index)
        if lo is not None:
            bad |= (v < lo).fillna(False)
        if hi is not None:
            bad |= (v > hi).fillna(False)
        if bad.any():
            problems.append(
                f"{_rows(bad)}, column {col!r}: value(s) {_shown(df[col][bad])} outside {what}"
            )

    out_of("team", 1, N_TEAMS, f"the team numbers 1..{N_TEAMS}")
    for code in CODES:
        o = OUTCOMES[code]
        if o.scale_min is not None or o.scale_max is not None:
            out_of(code, o.scale_min, o.scale_max,
                   f"the {o.abbreviation} scale range {o.scale_min:g} to {o.scale_max:g}")
    out_of("sessions_attended", 0, None, "the valid range (>= 0)")
    out_of("sessions_scheduled", 1, None, "the valid range (>= 1)")
    out_of("fidelity", *FIDELITY_RANGE, "the IMR Fidelity Scale range 1 to 5")
    for col in ("hosp_before", "hosp_after"):
        out_of(col, 0, 1, "{0, 1}")
    for col in ("los_before", "los_after"):
        out_of(col, *LOS_RANGE, "0 to 366 days")
    out_of("age", *AGE_RANGE, "the plausible age range 16 to 100 years")

    att, sch = df["sessions_attended"], df["sessions_scheduled"]
    over = (att > sch).fillna(False)
    if over.any():
        problems.append(
            f"{_rows(over)}, columns 'sessions_attended', 'sessions_scheduled': more sessions "
            "attended than scheduled"
        )

    codes = category_codes()
    for col in CATEGORICAL_COLUMNS:
        bad = df[col].notna() & ~df[col].isin(codes[col])
        if bad.any():
            problems.append(
                f"{_rows(bad)}, column {col!r}: unknown category {_shown(df[col][bad])}; "
                f"valid: {', '.join(codes[col])}"
            )

    cau = df["arm"].eq("cau").fillna(False)
    for col in IMR_ONLY_COLUMNS:
        bad = cau & df[col].notna()
        if bad.any():
            problems.append(
                f"{_rows(bad)}, column {col!r}: a CAU participant has a value "
                f"({_shown(df[col][bad])}); IMR-only columns must be empty for CAU"
            )

    derived = completer_flag(att, sch)
    clash = (df["completer"].notna() & derived.notna() & (df["completer"] != derived)).fillna(
        False
    )
    if clash.any():
        problems.append(
            f"{_rows(clash)}, column 'completer': inconsistent with sessions (a completer attended "
            f">= {COMPLETER_SHARE:.0%} of the scheduled sessions)"
        )


def _check_structure(df: pd.DataFrame, problems: list[str]) -> None:
    keyed = df["participant_id"].notna() & df["time"].notna()
    dup = keyed & df.duplicated(["participant_id", "time"], keep=False)
    if dup.any():
        pairs = df.loc[dup, ["participant_id", "time"]].drop_duplicates()
        problems.append(
            f"{_rows(dup)}, columns 'participant_id', 'time': duplicate participant x time "
            f"({_shown(pairs['participant_id'] + ' @ time ' + pairs['time'].astype(str))})"
        )

    has_id = df["participant_id"].notna()
    baseline_ids = set(df.loc[has_id & df["time"].eq(0).fillna(False), "participant_id"])
    no_base = has_id & ~df["participant_id"].isin(baseline_ids)
    if no_base.any():
        problems.append(
            f"{_rows(no_base)}, column 'time': participant(s) "
            f"{_shown(df.loc[no_base, 'participant_id'])} without a baseline row (time 0)"
        )

    keys = pd.DataFrame({col: df[col].astype("str").fillna("<NA>")
                         for col in PARTICIPANT_COLUMNS})
    keyed_ids = df["participant_id"].where(has_id, "")
    n_distinct = keys.groupby(keyed_ids.to_numpy()).nunique()
    for col in PARTICIPANT_COLUMNS:
        changing = set(n_distinct.index[n_distinct[col] > 1]) - {""}
        bad = has_id & df["participant_id"].isin(changing)
        if bad.any():
            problems.append(
                f"{_rows(bad)}, column {col!r}: participant-level value changes across the "
                f"rows of participant(s) {_shown(df.loc[bad, 'participant_id'])}"
            )


def validate(df: pd.DataFrame) -> pd.DataFrame:
    """Check participant data against the contract; return a validated, typed copy.

    Parameters
    ----------
    df : pandas.DataFrame
        Long data, one row per participant x time, with exactly the columns of
        :data:`CONTRACT_COLUMNS` (any order).

    Returns
    -------
    pandas.DataFrame
        A copy with the contract's column order and dtypes, rows sorted by
        participant and time, a fresh index, and ``completer`` derived from the sessions
        where it was missing.

    Raises
    ------
    DataValidationError
        Listing every problem found, each with its rows (1 = first data row) and column:
        missing or unknown columns, values of the wrong type, unknown arm labels or
        categories, duplicate participant x time, CAU participants with IMR-only values,
        time outside {0, 1, 2}, values outside their range, participant-level values that
        change across rows, participants without a baseline row, and a ``completer`` flag
        inconsistent with the sessions.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataValidationError([f"expected a pandas DataFrame, got {type(df).__name__}"])
    problems: list[str] = []
    names = [str(c) for c in df.columns]
    dupcols = sorted({c for c in names if names.count(c) > 1})
    if dupcols:
        problems.append(f"duplicate column name(s): {', '.join(dupcols)}")
    missing = [c for c in CONTRACT_COLUMNS if c not in names]
    unknown = [c for c in names if c not in CONTRACT_COLUMNS]
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(
            f"unknown column(s): {', '.join(unknown)} (rename them with column_map, or drop them; "
            "see docs/data_contract.md)"
        )
    if problems:
        raise DataValidationError(problems)
    if len(df) == 0:
        raise DataValidationError(["the data have no rows"])

    typed = _coerce(df, problems)
    _check_values(typed, problems)
    _check_structure(typed, problems)
    if problems:
        raise DataValidationError(problems)

    derived = completer_flag(typed["sessions_attended"], typed["sessions_scheduled"])
    typed["completer"] = typed["completer"].fillna(derived)
    typed["time"] = typed["time"].astype("int64")
    typed = typed.sort_values(["participant_id", "time"], kind="mergesort")
    return typed.reset_index(drop=True).astype(CONTRACT_COLUMNS)

