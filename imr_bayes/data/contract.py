"""The participant-data contract: columns, types and the rules every data set must meet.

Long format, one row per participant x measurement moment (``time`` 0 = baseline, 1 = 12
months, 2 = 18 months). :func:`validate` checks every rule and reports **every** problem at
once, each leading with the column and the reason and ending with its rows (1 = first data
row, in the order given; long lists compressed). ``validate(df, required=...)`` checks only
the columns a caller needs plus whichever other contract columns are present. The rules and
the column list are documented in ``docs/data_contract.md``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache

import numpy as np
import pandas as pd

from imr_bayes.constants import ARMS, N_TEAMS, TIME_LABELS, TIMES
from imr_bayes.errors import DataValidationError, ImrBayesError
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

#: Default pattern of the time suffix of a wide column name (``IMRS_client_T1``); its one
#: group captures the time label (mapped to a time code by ``time_codes``).
DEFAULT_TIME_PATTERN: str = r"_[Tt](\d+)$"
#: Numbers SPSS exports commonly use as missing-value codes: a value outside its range that is
#: one of them gets the hint to declare it in ``na_values``.
MISSING_CODES: tuple[float, ...] = (-9999.0, -999.0, -99.0, -9.0, 9.0, 99.0, 999.0, 9999.0)
#: Missing-value codes refused even in a column without a known upper bound (SFS, sessions):
#: no score or session count takes these values.
IMPLAUSIBLE_CODES: tuple[float, ...] = (-9999.0, -999.0, -99.0, 999.0, 9999.0)

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}
_MAX_VALUES_SHOWN = 4
_MAX_VALUE_CHARS = 20
_MAX_ROW_ITEMS = 5
_MAX_NAMES_SHOWN = 12


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


def format_rows(numbers: np.ndarray | list[int], *, all_rows: bool = False) -> str:
    """Compress row numbers for a message, e.g. ``rows 3, 7, 10–25 and 40 more``.

    Parameters
    ----------
    numbers : array-like of int
        Row numbers (1 = first data row), at least one; order and repeats do not matter.
    all_rows : bool, default False
        The rows are all rows of the data: ``(all)`` is appended.

    Returns
    -------
    str
        ``row N`` for one row; otherwise ``rows`` and at most five items, each a row number
        or a run ``a–b`` of three or more consecutive rows, then ``and K more`` (rows).
    """
    nums = np.unique(np.asarray(numbers, dtype=np.int64))
    if nums.size == 1:
        return f"row {nums[0]}"
    items: list[tuple[str, int]] = []
    for run in np.split(nums, np.flatnonzero(np.diff(nums) != 1) + 1):
        if run.size >= 3:
            items.append((f"{run[0]}–{run[-1]}", run.size))
        else:
            items.extend((str(r), 1) for r in run)
    shown = items[:_MAX_ROW_ITEMS]
    rest = int(nums.size - sum(n for _, n in shown))
    text = "rows " + ", ".join(t for t, _ in shown)
    if rest:
        text += f" and {rest} more"
    return f"{text} (all)" if all_rows else text


def _cut(text: str) -> str:
    """Shorten a long value in the middle, so that its start and its end both show."""
    if len(text) <= _MAX_VALUE_CHARS:
        return text
    head = (_MAX_VALUE_CHARS - 1) // 2
    return text[:head] + "…" + text[head + 1 - _MAX_VALUE_CHARS:]


def _shown(values: pd.Series) -> str:
    uniq = list(dict.fromkeys(str(v) for v in values))
    cut = [_cut(v) for v in uniq[:_MAX_VALUES_SHOWN]]
    more = f" (and {len(uniq) - _MAX_VALUES_SHOWN} more)" if len(uniq) > _MAX_VALUES_SHOWN else ""
    return ", ".join(repr(v) for v in cut) + more


def _names(names: list[str]) -> str:
    more = len(names) - _MAX_NAMES_SHOWN
    return ", ".join(names[:_MAX_NAMES_SHOWN]) + (f" and {more} more" if more > 0 else "")


@dataclass
class _Report:
    """Collects problems; rows are named by their number in the source (1 = first data row)."""

    rows: np.ndarray
    sources: Mapping[str, str]
    problems: list[str] = field(default_factory=list)

    def add(self, mask: pd.Series | np.ndarray, columns: str | tuple[str, ...],
            reason: str) -> None:
        """Record ``reason`` for the rows where ``mask`` is true (NA counts as false)."""
        flags = pd.Series(mask, dtype="boolean").fillna(False).to_numpy(dtype=bool)
        if not flags.any():
            return
        cols = (columns,) if isinstance(columns, str) else columns
        where = ("column " if len(cols) == 1 else "columns ") + ", ".join(map(repr, cols))
        origin = [self.sources[c] for c in cols if c in self.sources]
        if origin:
            where += f" (file: {', '.join(origin)})"
        rows = format_rows(self.rows[flags], all_rows=bool(flags.all()))
        self.problems.append(f"{where}: {reason}; {rows}")


def _blank(series: pd.Series) -> pd.Series:
    """Flag raw values that count as missing (NA or an empty / whitespace string)."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return series.isna()
    text = series.astype("str")
    return series.isna() | text.str.strip().eq("")


def _coerce_numeric(raw: pd.Series, col: str, integer: bool, report: _Report) -> pd.Series:
    blank = _blank(raw)
    values = pd.to_numeric(raw.where(~blank), errors="coerce")
    bad = values.isna() & ~blank
    report.add(bad, col, f"not a number ({_shown(raw[bad])})")
    values = values.astype("float64")
    if integer:
        frac = values.notna() & (values != np.round(values))
        report.add(frac, col, f"not a whole number ({_shown(raw[frac])})")
        return values.where(~frac).astype("Int64")
    return values


def _coerce_bool(raw: pd.Series, col: str, report: _Report) -> pd.Series:
    blank = _blank(raw)
    text = raw.astype("str").str.strip().str.lower()
    # floats read from CSV ("1.0") count as their integer text
    text = text.str.replace(r"^([01])\.0+$", r"\1", regex=True)
    out = pd.Series(pd.NA, index=raw.index, dtype="boolean")
    out[text.isin(_TRUE) & ~blank] = True
    out[text.isin(_FALSE) & ~blank] = False
    bad = out.isna() & ~blank
    report.add(bad, col, f"not a boolean ({_shown(raw[bad])}); use True/False (or 1/0, yes/no)")
    return out


def _coerce_str(raw: pd.Series) -> pd.Series:
    blank = _blank(raw)
    text = raw.astype("str").str.strip()
    # integer-valued numbers read as floats ("3.0") keep their integer text
    text = text.str.replace(r"^(-?\d+)\.0+$", r"\1", regex=True)
    return text.where(~blank).astype("str")


def _coerce(df: pd.DataFrame, report: _Report) -> pd.DataFrame:
    out = {}
    for col in df.columns:
        dtype = CONTRACT_COLUMNS[col]
        raw = df[col].reset_index(drop=True)
        if dtype == "str":
            out[col] = _coerce_str(raw)
        elif dtype == "boolean":
            out[col] = _coerce_bool(raw, col, report)
        else:
            out[col] = _coerce_numeric(raw, col, dtype in ("int64", "Int64"), report)
    return pd.DataFrame(out)


def _code_hint(values: pd.Series) -> str:
    """Say which of ``values`` look like missing-value codes ("" if none does)."""
    codes = sorted({float(v) for v in values.dropna()} & set(MISSING_CODES))
    if not codes:
        return ""
    if len(codes) == 1:
        return f"{codes[0]:g} looks like a missing-value code: declare it in na_values"
    listed = ", ".join(f"{c:g}" for c in codes)
    return f"{listed} look like missing-value codes: declare them in na_values"


def _check_range(df: pd.DataFrame, report: _Report, col: str, lo: float | None,
                 hi: float | None, what: str) -> None:
    """Flag values outside [lo, hi]; where there is no upper bound, implausible codes too."""
    if col not in df.columns:
        return
    v = df[col].astype("Float64")
    bad = pd.Series(False, index=df.index, dtype="boolean")
    if lo is not None:
        bad |= v < lo
    if hi is not None:
        bad |= v > hi
    bad = bad.fillna(False)
    hint = _code_hint(v[bad])
    report.add(bad, col, f"value(s) {_shown(df[col][bad])} outside {what}"
                         + (f"; {hint}" if hint else ""))
    if hi is None:
        code = v.isin(IMPLAUSIBLE_CODES).fillna(False) & ~bad
        report.add(code, col, _code_hint(v[code]))


def _check_values(df: pd.DataFrame, report: _Report) -> None:
    has = set(df.columns)
    for col in REQUIRED_VALUES:
        report.add(df[col].isna(), col, "missing value (required)")

    bad = df["arm"].notna() & ~df["arm"].isin(ARMS)
    report.add(bad, "arm", f"unknown arm label(s) {_shown(df['arm'][bad])}; valid: "
                           f"{', '.join(ARMS)} (map other labels with arm_codes)")
    bad = df["time"].notna() & ~df["time"].isin(TIMES)
    labels = ", ".join(f"{t} = {label}" for t, label in TIME_LABELS.items())
    report.add(bad, "time", f"value(s) {_shown(df['time'][bad])} outside "
                            f"{{{', '.join(str(t) for t in TIMES)}}} ({labels}; map other "
                            "codes with time_codes)")

    _check_range(df, report, "team", 1, N_TEAMS, f"the team numbers 1..{N_TEAMS}")
    for code in CODES:
        o = OUTCOMES[code]
        what = (f"the {o.abbreviation} scale range {o.scale_min:g} to {o.scale_max:g}"
                if o.scale_min is not None and o.scale_max is not None else "")
        _check_range(df, report, code, o.scale_min, o.scale_max, what)
    _check_range(df, report, "sessions_attended", 0, None, "the valid range (>= 0)")
    _check_range(df, report, "sessions_scheduled", 1, None, "the valid range (>= 1)")
    lo, hi = FIDELITY_RANGE
    _check_range(df, report, "fidelity", lo, hi, f"the IMR Fidelity Scale range {lo:g} to {hi:g}")
    for col in ("hosp_before", "hosp_after"):
        _check_range(df, report, col, 0, 1, "{0, 1}")
    for col in ("los_before", "los_after"):
        _check_range(df, report, col, *LOS_RANGE, f"{LOS_RANGE[0]:g} to {LOS_RANGE[1]:g} days")
    _check_range(df, report, "age", *AGE_RANGE,
                 f"the plausible age range {AGE_RANGE[0]:g} to {AGE_RANGE[1]:g} years")

    sessions = ("sessions_attended", "sessions_scheduled")
    if set(sessions) <= has:
        report.add(df["sessions_attended"] > df["sessions_scheduled"], sessions,
                   "more sessions attended than scheduled")

    codes = category_codes()
    for col in has.intersection(CATEGORICAL_COLUMNS):
        bad = df[col].notna() & ~df[col].isin(codes[col])
        report.add(bad, col, f"unknown category {_shown(df[col][bad])}; valid: "
                             f"{', '.join(codes[col])}")

    cau = df["arm"].eq("cau").fillna(False)
    for col in has.intersection(IMR_ONLY_COLUMNS):
        bad = cau & df[col].notna()
        report.add(bad, col, f"a CAU participant has a value ({_shown(df[col][bad])}); "
                             "IMR-only columns must be empty for CAU")

    if {"completer", *sessions} <= has:
        derived = completer_flag(df["sessions_attended"], df["sessions_scheduled"])
        clash = df["completer"].notna() & derived.notna() & (df["completer"] != derived)
        report.add(clash, "completer", "inconsistent with sessions (a completer attended "
                                       f">= {COMPLETER_SHARE:.0%} of the scheduled sessions)")


def _check_structure(df: pd.DataFrame, report: _Report) -> None:
    keyed = df["participant_id"].notna() & df["time"].notna()
    dup = keyed & df.duplicated(["participant_id", "time"], keep=False)
    pairs = df.loc[dup, ["participant_id", "time"]].drop_duplicates()
    report.add(dup, ("participant_id", "time"), "duplicate participant x time ("
               f"{_shown(pairs['participant_id'] + ' @ time ' + pairs['time'].astype(str))})")

    has_id = df["participant_id"].notna()
    baseline_ids = set(df.loc[has_id & df["time"].eq(0).fillna(False), "participant_id"])
    no_base = has_id & ~df["participant_id"].isin(baseline_ids)
    report.add(no_base, "time", f"participant(s) {_shown(df.loc[no_base, 'participant_id'])} "
                                "without a baseline row (time 0)")

    columns = [c for c in PARTICIPANT_COLUMNS if c in df.columns]
    keys = pd.DataFrame({col: df[col].astype("str").fillna("<NA>") for col in columns})
    n_distinct = keys.groupby(df["participant_id"].where(has_id, "").to_numpy()).nunique()
    for col in columns:
        changing = set(n_distinct.index[n_distinct[col] > 1]) - {""}
        bad = has_id & df["participant_id"].isin(changing)
        report.add(bad, col, "participant-level value changes across the rows of "
                             f"participant(s) {_shown(df.loc[bad, 'participant_id'])}")


def not_a_column(name: str) -> str:
    """Say that ``name`` is not a contract column, with the closest column names."""
    close = difflib.get_close_matches(name, list(CONTRACT_COLUMNS), n=2)
    hint = f"did you mean {' or '.join(map(repr, close))}? " if close else ""
    return f"{name!r} is not a contract column ({hint}see docs/data_contract.md)"


def _needed(required: Iterable[str] | None) -> tuple[str, ...]:
    """Contract columns that must be present: all of them, or the keys plus ``required``."""
    if required is None:
        return tuple(CONTRACT_COLUMNS)
    asked = [required] if isinstance(required, str) else list(required)
    for col in asked:
        if col not in CONTRACT_COLUMNS:
            raise ImrBayesError(f"required: {not_a_column(col)}")
    wanted = {*REQUIRED_VALUES, *asked}
    return tuple(c for c in CONTRACT_COLUMNS if c in wanted)


def _renames(missing: list[str], unknown: list[str]) -> list[str]:
    """Pair missing contract columns with similarly named columns of the data."""
    lower = {u.lower(): u for u in unknown}
    out = []
    for col in missing:
        close = difflib.get_close_matches(col, list(lower), n=1, cutoff=0.8)
        if close:
            out.append(f"{lower[close[0]]!r} -> {col!r}")
    return out


def _column_problems(names: list[str], needed: tuple[str, ...], *, full: bool,
                     time_pattern: str) -> list[str]:
    problems = []
    dupcols = sorted({c for c in names if names.count(c) > 1})
    if dupcols:
        problems.append(f"duplicate column name(s): {_names(dupcols)}")
    unknown = [c for c in names if c not in CONTRACT_COLUMNS]
    timed = [c for c in unknown if re.search(time_pattern, c)]
    if "time" not in names and timed:
        examples = ", ".join(repr(c) for c in timed[:2])
        problems.append(
            f"the data look wide (one row per participant): {len(timed)} column(s) such as "
            f"{examples} end in a time suffix ({time_pattern!r}); load them with "
            "layout='wide' (command line: --layout wide)"
        )
    derivable = {"sessions_attended", "sessions_scheduled"} <= set(names)
    missing = [c for c in needed if c not in names and not (c == "completer" and derivable)]
    if missing:
        what = "missing column(s)" if full else "missing column(s) needed here"
        problems.append(f"{what}: {_names(missing)}")
        renames = _renames(missing, unknown)
        if renames:
            problems.append(f"did you mean: {_names(renames)} (rename with column_map)")
    if unknown and full:
        problems.append(f"unknown column(s): {_names(unknown)} (rename them with column_map, "
                        "or drop them; see docs/data_contract.md)")
    return problems


def check(
    df: pd.DataFrame,
    *,
    required: Iterable[str] | None = None,
    rows: np.ndarray | None = None,
    sources: Mapping[str, str] | None = None,
    time_pattern: str = DEFAULT_TIME_PATTERN,
) -> pd.DataFrame:
    """Validate like :func:`validate`, naming rows and columns as they are in a source file.

    Used by :func:`imr_bayes.data.import_frame` after reshaping and renaming, so that every
    message points at the user's file.

    Parameters
    ----------
    df : pandas.DataFrame
        Long data with contract column names.
    required : iterable of str, optional
        See :func:`validate`.
    rows : numpy.ndarray of int, optional
        The source row of each row of ``df`` (1 = first data row of the file; a wide file's
        participant row for each of its long rows). Default: 1..len(df).
    sources : mapping, optional
        Contract column -> the file column(s) it came from, shown in messages.
    time_pattern : str
        Regular expression of a wide time suffix, for the "looks wide" hint.

    Returns
    -------
    pandas.DataFrame
        As :func:`validate`.

    Raises
    ------
    DataValidationError
        As :func:`validate`.
    """
    if not isinstance(df, pd.DataFrame):
        raise DataValidationError([f"expected a pandas DataFrame, got {type(df).__name__}"])
    needed = _needed(required)
    names = [str(c) for c in df.columns]
    problems = _column_problems(names, needed, full=required is None, time_pattern=time_pattern)
    if problems:
        raise DataValidationError(problems)
    if len(df) == 0:
        raise DataValidationError(["the data have no rows"])

    numbers = np.arange(1, len(df) + 1) if rows is None else np.asarray(rows, dtype=np.int64)
    report = _Report(numbers, dict(sources or {}))
    frame = df.set_axis(names, axis=1)
    typed = _coerce(frame[[c for c in CONTRACT_COLUMNS if c in names]], report)
    _check_values(typed, report)
    _check_structure(typed, report)
    if report.problems:
        raise DataValidationError(report.problems)

    if "sessions_attended" in typed and "sessions_scheduled" in typed and (
            "completer" in typed or "completer" in needed):
        derived = completer_flag(typed["sessions_attended"], typed["sessions_scheduled"])
        typed["completer"] = typed["completer"].fillna(derived) if "completer" in typed \
            else derived
    typed["time"] = typed["time"].astype("int64")
    typed = typed.sort_values(["participant_id", "time"], kind="mergesort")
    columns = [c for c in CONTRACT_COLUMNS if c in typed]
    return typed[columns].reset_index(drop=True).astype({c: CONTRACT_COLUMNS[c] for c in columns})


def validate(df: pd.DataFrame, *, required: Iterable[str] | None = None) -> pd.DataFrame:
    """Check participant data against the contract; return a validated, typed copy.

    Parameters
    ----------
    df : pandas.DataFrame
        Long data, one row per participant x time, with contract column names.
    required : iterable of str, optional
        None (default): the full contract; every column of :data:`CONTRACT_COLUMNS` must be
        there and no other. Otherwise the contract columns this caller needs (e.g.
        ``imr_bayes.data.required_columns(["itt"], ["imrs_client"])``): these and the keys
        ``participant_id``, ``arm``, ``time`` must be there; every other contract column is
        optional (absent is fine; present ones are checked all the same); columns that are not
        contract columns are ignored and dropped. ``completer`` counts as present when both
        session columns are (it is then derived).

    Returns
    -------
    pandas.DataFrame
        The contract columns present (in the contract's order and dtypes), rows sorted by
        participant and time, a fresh index, and ``completer`` derived from the sessions
        where it is missing.

    Raises
    ------
    DataValidationError
        Listing every problem found, each leading with the column and the reason and ending
        with its rows (1 = first data row; long lists compressed, e.g. ``rows 1–561 (all)``):
        missing or (full contract) unknown columns, a wide-looking layout, values of the
        wrong type, unknown arm labels or categories, duplicate participant x time, CAU
        participants with IMR-only values, time outside {0, 1, 2}, values outside their range
        (with a hint when a value looks like a missing-value code such as -99), participant-
        level values that change across rows, participants without a baseline row, and a
        ``completer`` flag inconsistent with the sessions.
    ImrBayesError
        If ``required`` names a column that is not in the contract.
    """
    return check(df, required=required)
