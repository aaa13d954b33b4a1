"""Bring data as trial teams keep them into the contract: wide layout, codes, missing codes.

One set of import options, given as keyword arguments or as an *import spec* (a small YAML
file, validated with pydantic), turns an SPSS or spreadsheet export into contract long data:

1. **layout**: a wide table (one row per participant, time-varying columns such as
   ``IMRS_client_T1`` .. ``_T3``) is reshaped to one row per participant x time;
   participant-level columns are repeated on every row;
2. **columns**: file column (in a wide table: the name without its time suffix) -> contract
   column;
3. **na_values**: missing-value codes such as -99 or 999 become missing;
4. **value labels** (SPSS ``.sav``): applied to text columns and to every recoded column;
5. **arm_codes**, **time_codes**, **recode**: code maps, matched case-insensitively against
   the value label and then the value (``1.0`` matches ``"1"``); arm labels and Table 1
   categories that differ from the contract only in case are recognised without a map;
6. validation (:func:`imr_bayes.data.contract.check`) of the columns the caller needs, naming
   rows and columns as they are in the file.

See ``docs/data_contract.md`` for a walk-through of an SPSS export.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from imr_bayes.constants import ARMS, TIMES
from imr_bayes.data.contract import (
    CATEGORICAL_COLUMNS,
    CONTRACT_COLUMNS,
    DEFAULT_TIME_PATTERN,
    category_codes,
    check,
    not_a_column,
)
from imr_bayes.errors import DataValidationError, SpecError
from imr_bayes.outcomes import unknown_choice_message

#: Values a code map cannot target through ``recode`` (they have their own maps or none).
_NOT_RECODED: dict[str, str] = {
    "arm": "use arm_codes", "time": "use time_codes", "participant_id": "identifiers are kept",
}

Code = float | str


def _contract_column(name: str, what: str) -> str:
    if name not in CONTRACT_COLUMNS:
        raise ValueError(f"{what}: {not_a_column(name)}")
    return name


class ImportSpec(BaseModel):
    """Options that bring a file into the contract (the keys of an import-spec YAML file).

    Attributes
    ----------
    columns : dict
        File column -> contract column. In a wide table, name the part before the time
        suffix (``IMRS_client`` for ``IMRS_client_T1`` .. ``_T3``).
    layout : {"auto", "long", "wide"}
        ``auto``: wide when there is no ``time`` column and some column name ends in a time
        suffix (``time_pattern``), else long.
    time_pattern : str
        Regular expression matching the time suffix of a wide column name, with one group
        capturing the time label (default :data:`DEFAULT_TIME_PATTERN`).
    time_codes : dict
        Time label (wide suffix, or a value of a long ``time`` column or its value label) ->
        contract time code 0, 1, 2 (e.g. ``{"1": 0, "2": 1, "3": 2}`` for T1..T3). Labels
        not in the map are read as the time code itself.
    arm_codes : dict
        Arm label or code -> ``imr`` or ``cau`` (e.g. ``{"Interventie": "imr", "1": "imr"}``).
        There is no default for numeric codes: which of 1/0 is IMR is yours to say.
    recode : dict
        Contract column -> {file value or label: contract value}, e.g.
        ``{"sex": {"M": "male", "V": "female"}}``.
    na_values : list or dict
        Missing-value codes (numbers match numerically, text case-insensitively). A list
        applies to every column except ``participant_id``; a dict maps a contract column to
        its own codes.
    value_labels : bool
        Apply the value labels of an SPSS file (default True).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)

    columns: dict[str, str] = Field(default_factory=dict)
    layout: Literal["auto", "long", "wide"] = "auto"
    time_pattern: str = DEFAULT_TIME_PATTERN
    time_codes: dict[str, int] = Field(default_factory=dict)
    arm_codes: dict[str, str] = Field(default_factory=dict)
    recode: dict[str, dict[str, str]] = Field(default_factory=dict)
    na_values: tuple[Code, ...] | dict[str, tuple[Code, ...]] = ()
    value_labels: bool = True

    @field_validator("columns")
    @classmethod
    def _known_targets(cls, value: dict[str, str]) -> dict[str, str]:
        for src, dst in value.items():
            _contract_column(dst, f"target of {src!r}")
        seen: dict[str, str] = {}
        for src, dst in value.items():
            if dst in seen:
                raise ValueError(f"{seen[dst]!r} and {src!r} both map to {dst!r}")
            seen[dst] = src
        return value

    @field_validator("time_pattern")
    @classmethod
    def _one_group(cls, value: str) -> str:
        try:
            groups = re.compile(value).groups
        except re.error as exc:
            raise ValueError(f"not a regular expression ({exc})") from None
        if groups != 1:
            raise ValueError(f"needs exactly one group capturing the time label, has {groups}")
        return value

    @field_validator("time_codes")
    @classmethod
    def _known_times(cls, value: dict[str, int]) -> dict[str, int]:
        for label, code in value.items():
            if code not in TIMES:
                raise ValueError(f"{label!r} -> {code}: time codes are "
                                 f"{', '.join(map(str, TIMES))}")
        return value

    @field_validator("arm_codes")
    @classmethod
    def _known_arms(cls, value: dict[str, str]) -> dict[str, str]:
        for label, arm in value.items():
            if arm not in ARMS:
                raise ValueError(f"{label!r} -> " + unknown_choice_message("arm", arm, ARMS))
        return value

    @field_validator("recode")
    @classmethod
    def _recodable(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for col in value:
            _contract_column(col, "recode")
            if col in _NOT_RECODED:
                raise ValueError(f"recode of {col!r}: {_NOT_RECODED[col]}")
        return value

    @field_validator("na_values")
    @classmethod
    def _na_columns(cls, value: tuple[Code, ...] | dict[str, tuple[Code, ...]]
                    ) -> tuple[Code, ...] | dict[str, tuple[Code, ...]]:
        if isinstance(value, dict):
            for col in value:
                _contract_column(col, "na_values")
        return value


def _format_errors(source: str, exc: ValidationError) -> str:
    fields = tuple(ImportSpec.model_fields)
    lines = [f"invalid import spec {source}:"]
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<top level>"
        if err["type"] == "extra_forbidden":
            key = str(err["loc"][-1])
            msg = unknown_choice_message("key", key, fields)
            if not difflib.get_close_matches(key, fields, n=1):
                msg += " Column renames go under 'columns:'."
            lines.append(f"  - {msg}")
            continue
        if err["type"] == "literal_error":
            expected = re.findall(r"'([^']*)'", err.get("ctx", {}).get("expected", ""))
            msg = unknown_choice_message(loc, err["input"], expected)
        else:
            msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"  - {loc}: {msg}")
    return "\n".join(lines)


def parse_import_spec(raw: Mapping[str, Any] | None, *, source: str = "") -> ImportSpec:
    """Validate import options given as a mapping (e.g. parsed YAML).

    Parameters
    ----------
    raw : mapping or None
        The options (keys of :class:`ImportSpec`); None or empty gives the defaults.
    source : str
        Where the options came from, for messages.

    Returns
    -------
    ImportSpec

    Raises
    ------
    SpecError
        Listing every bad key or value: unknown keys with "did you mean", targets that are
        not contract columns, arms other than imr/cau, time codes other than 0/1/2, a time
        pattern without exactly one group.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise SpecError(f"import spec {source} must be a mapping of options, "
                        f"got {type(raw).__name__}")
    try:
        return ImportSpec.model_validate(dict(raw))
    except ValidationError as exc:
        raise SpecError(_format_errors(source or "(options)", exc)) from None


def read_import_spec(path: str | os.PathLike[str]) -> ImportSpec:
    """Read and validate an import-spec YAML file.

    Parameters
    ----------
    path : path-like
        A YAML file with any of the keys ``columns``, ``layout``, ``time_pattern``,
        ``time_codes``, ``arm_codes``, ``recode``, ``na_values``, ``value_labels``.

    Returns
    -------
    ImportSpec

    Raises
    ------
    SpecError
        If the file is missing, not YAML, or breaks the schema (see
        :func:`parse_import_spec`).
    """
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(f"import spec file not found: {str(path)!r}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise SpecError(f"import spec {str(path)!r} is not valid YAML: {exc}") from None
    return parse_import_spec(raw, source=repr(str(path)))


def import_spec(
    column_map: Mapping[str, str] | ImportSpec | str | os.PathLike[str] | None = None,
    **options: Any,
) -> ImportSpec:
    """Combine a column map (dict, import spec or YAML path) with keyword options.

    Parameters
    ----------
    column_map : mapping, ImportSpec, path-like or None
        A dict of column renames, a validated spec, or the path of an import-spec YAML file.
    **options
        Keys of :class:`ImportSpec`; a value of None leaves the spec's value.

    Returns
    -------
    ImportSpec

    Raises
    ------
    SpecError
        If the file or an option is invalid.
    """
    if isinstance(column_map, ImportSpec):
        spec = column_map
    elif isinstance(column_map, str | os.PathLike):
        spec = read_import_spec(column_map)
    else:
        spec = parse_import_spec({"columns": dict(column_map or {})}, source="column_map")
    given = {k: v for k, v in options.items() if v is not None}
    if not given:
        return spec
    return parse_import_spec({**spec.model_dump(exclude_unset=True), **given},
                             source="options")


def _key(value: Any) -> str:
    """Normalise a code for matching: stripped, lower case, ``1.0`` -> ``1``."""
    text = str(value).strip().lower()
    return re.sub(r"^(-?\d+)\.0+$", r"\1", text)


def _recode(series: pd.Series, mapping: Mapping[str, str],
            labels: Mapping[Any, str] | None) -> pd.Series:
    """Map values by their label first, then by the value; keep the label where unmapped."""
    keyed = {_key(k): v for k, v in mapping.items()}
    shown = series.astype(object)
    hit = series.map(_key, na_action="ignore").map(keyed)
    if labels:
        label = series.map(labels)
        hit = label.map(_key, na_action="ignore").map(keyed).fillna(hit)
        shown = label.where(label.notna(), shown)
    return hit.where(hit.notna(), shown)


def _na_mask(series: pd.Series, codes: Iterable[Code]) -> pd.Series:
    numbers, texts = set(), set()
    for code in codes:
        try:
            numbers.add(float(code))
        except ValueError:
            texts.add(_key(code))
    mask = pd.to_numeric(series, errors="coerce").isin(numbers)
    if texts:
        mask |= series.map(_key, na_action="ignore").isin(texts)
    return mask.fillna(False).astype(bool)


def _apply_na(frame: pd.DataFrame, na_values: tuple[Code, ...] | dict[str, tuple[Code, ...]]
              ) -> pd.DataFrame:
    if isinstance(na_values, dict):
        targets = {c: v for c, v in na_values.items() if c in frame.columns}
    else:
        targets = {c: na_values for c in frame.columns if na_values and c != "participant_id"}
    for col, codes in targets.items():
        mask = _na_mask(frame[col], codes)
        if mask.any():
            frame[col] = frame[col].mask(mask)
    return frame


def _layout(frame: pd.DataFrame, spec: ImportSpec) -> str:
    if spec.layout != "auto":
        return spec.layout
    has_time = "time" in frame.columns or "time" in spec.columns.values()
    timed = any(re.search(spec.time_pattern, c) for c in frame.columns)
    return "wide" if timed and not has_time else "long"


def _to_long(frame: pd.DataFrame, spec: ImportSpec
             ) -> tuple[pd.DataFrame, np.ndarray, dict[str, list[str]]]:
    """Reshape wide to long: rows, the file row of each, and each stem's file columns."""
    pattern = re.compile(spec.time_pattern)
    timed = {c: m for c in frame.columns if (m := pattern.search(c))}
    if not timed:
        raise DataValidationError([
            f"layout 'wide': no column name ends in a time suffix matching "
            f"{spec.time_pattern!r}; set time_pattern (e.g. '_T(\\d)$' or '_t(\\d+)$')"])
    codes = {_key(k): v for k, v in spec.time_codes.items()}
    by: dict[tuple[str, Any], str] = {}
    problems = []
    for col, m in timed.items():
        stem, label = col[: m.start()], m.group(1)
        key = (stem, codes.get(_key(label), label))
        if key in by:
            problems.append(f"columns {by[key]!r} and {col!r}: both are {stem!r} at time "
                            f"{key[1]!r}")
        by[key] = col
    stems: dict[str, list[str]] = {}
    for (stem, _), col in by.items():
        stems.setdefault(stem, []).append(col)
    plain = [c for c in frame.columns if c not in timed]
    problems += [f"column {c!r} is participant-level and also the start of wide column(s) "
                 f"such as {stems[c][0]!r}" for c in plain if c in stems]
    if "time" in plain:
        problems.append("layout 'wide' but the data have a 'time' column; use layout='long'")
    if problems:
        raise DataValidationError(problems)
    times = list(dict.fromkeys(t for _, t in by))
    n = len(frame)
    parts = []
    for t in times:
        part = {c: frame[c].reset_index(drop=True) for c in plain}
        for stem in stems:
            col = by.get((stem, t))
            part[stem] = (frame[col].reset_index(drop=True) if col is not None
                          else pd.Series(np.nan, index=range(n)))
        part["time"] = pd.Series([t] * n, dtype=object)
        parts.append(pd.DataFrame(part))
    long = pd.concat(parts, ignore_index=True)
    return long, np.tile(np.arange(1, n + 1), len(times)), stems


def _check_map_sources(frame: pd.DataFrame, columns: Mapping[str, str], spec: ImportSpec,
                       wide: bool) -> None:
    problems = []
    for src in columns:
        if src in frame.columns:
            continue
        m = re.search(spec.time_pattern, src)
        if wide and m:
            hint = f" (wide layout: map the name without its time suffix, {src[: m.start()]!r})"
        else:
            close = difflib.get_close_matches(src, [str(c) for c in frame.columns], n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
        problems.append(f"column_map: column {src!r} not in the file{hint}")
    if problems:
        raise DataValidationError(problems)


def import_frame(
    data: pd.DataFrame,
    column_map: Mapping[str, str] | ImportSpec | str | os.PathLike[str] | None = None,
    *,
    layout: Literal["auto", "long", "wide"] | None = None,
    time_pattern: str | None = None,
    time_codes: Mapping[str, int] | None = None,
    arm_codes: Mapping[str, str] | None = None,
    recode: Mapping[str, Mapping[str, str]] | None = None,
    na_values: Iterable[Code] | Mapping[str, Iterable[Code]] | None = None,
    required: Iterable[str] | None = None,
    labels: Mapping[str, Mapping[Any, str]] | None = None,
) -> pd.DataFrame:
    """Bring a table as a team keeps it into the contract and validate it.

    Parameters
    ----------
    data : pandas.DataFrame
        The table as read (long or wide).
    column_map : mapping, ImportSpec, path-like or None
        Column renames (file column -> contract column; in a wide table the name without
        its time suffix), or a whole import spec (:class:`ImportSpec` or an import-spec
        YAML file) holding any of the options below.
    layout, time_pattern, time_codes, arm_codes, recode, na_values
        The options of :class:`ImportSpec`; a value given here overrides the spec's, None
        keeps it.
    required : iterable of str, optional
        Contract columns the caller needs (see :func:`imr_bayes.data.validate`); None: the
        full contract.
    labels : mapping, optional
        Value labels per file column ({value: label}), as an SPSS file stores them.

    Returns
    -------
    pandas.DataFrame
        Validated long data (see :func:`imr_bayes.data.validate`).

    Raises
    ------
    SpecError
        If an option is invalid.
    DataValidationError
        If ``column_map`` names columns the table lacks, the wide columns clash, or the data
        break the contract. Rows are the table's rows (1 = first data row; for a wide
        table, the participant's row) and columns name the file columns they came from.
    """
    if not isinstance(data, pd.DataFrame):
        raise DataValidationError([f"expected a pandas DataFrame, got {type(data).__name__}"])
    spec = import_spec(column_map, layout=layout, time_pattern=time_pattern,
                       time_codes=time_codes, arm_codes=arm_codes, recode=recode,
                       na_values=na_values)
    frame = data.set_axis([str(c) for c in data.columns], axis=1)
    file_labels = {str(k): v for k, v in (labels or {}).items()} if spec.value_labels else {}
    wide = _layout(frame, spec) == "wide"
    rows = np.arange(1, len(frame) + 1)
    origin: dict[str, str] = {}
    if wide:
        frame, rows, stems = _to_long(frame, spec)
        for stem, cols in stems.items():
            origin[stem] = cols[0] if len(cols) == 1 else f"{cols[0]} … {cols[-1]}"
            if cols[0] in file_labels:
                file_labels[stem] = file_labels[cols[0]]
        origin["time"] = f"time suffix {spec.time_pattern}"
    _check_map_sources(frame, spec.columns, spec, wide)
    frame = frame.rename(columns=spec.columns)
    sources = {spec.columns.get(c, c): text for c, text in origin.items()}
    sources.update({dst: origin.get(src, src) for src, dst in spec.columns.items()})
    file_labels = {spec.columns.get(c, c): v for c, v in file_labels.items()}
    if frame.columns.duplicated().any():  # e.g. renamed onto an existing column: say so
        return check(frame, required=required, rows=rows, sources=sources,
                     time_pattern=spec.time_pattern)

    frame = _apply_na(frame, spec.na_values)
    maps: dict[str, dict[str, str]] = {col: dict(m) for col, m in spec.recode.items()}
    maps["arm"] = {**{a: a for a in ARMS}, **spec.arm_codes}
    if not wide and spec.time_codes:
        maps["time"] = {k: str(v) for k, v in spec.time_codes.items()}
    valid = category_codes()
    for col in CATEGORICAL_COLUMNS:
        maps[col] = {**{c: c for c in valid[col]}, **maps.get(col, {})}
    for col in frame.columns.intersection(list(CONTRACT_COLUMNS)):
        col_labels = file_labels.get(col)
        if col in maps:
            frame[col] = _recode(frame[col], maps[col], col_labels)
        elif col_labels and CONTRACT_COLUMNS[col] == "str":
            frame[col] = frame[col].map(col_labels).fillna(frame[col])
    return check(frame, required=required, rows=rows, sources=sources,
                 time_pattern=spec.time_pattern)
