"""Read and write participant data files (CSV, Parquet, SPSS ``.sav``) in the data contract."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from imr_bayes.atomic import atomic_path
from imr_bayes.data.contract import validate
from imr_bayes.data.imports import Code, ImportSpec, import_frame
from imr_bayes.errors import ImrBayesError

#: File extensions :func:`save` writes (and :func:`load` reads).
FORMATS: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
#: File extensions :func:`load` reads: :data:`FORMATS` and SPSS system files.
READ_FORMATS: dict[str, str] = {**FORMATS, ".sav": "sav", ".zsav": "sav"}


def _format(path: Path, formats: Mapping[str, str]) -> str:
    fmt = formats.get(path.suffix.lower())
    if fmt is None:
        raise ImrBayesError(
            f"cannot read or write {str(path)!r}: unknown file extension {path.suffix!r}; "
            f"valid: {', '.join(formats)}"
        )
    return fmt


@dataclass(frozen=True)
class RawData:
    """A file's table as read, before any import step.

    Attributes
    ----------
    frame : pandas.DataFrame
        CSV cells as text; Parquet and SPSS columns with their stored types (SPSS
        user-defined missing values already missing).
    value_labels : dict
        SPSS value labels per column ({value: label}); empty for CSV and Parquet.
    """

    frame: pd.DataFrame
    value_labels: dict[str, dict[Any, str]] = field(default_factory=dict)


def read_raw(path: str | os.PathLike[str]) -> RawData:
    """Read a CSV, Parquet or SPSS ``.sav`` file as it is, without validation.

    CSV cells are read as text, so that :func:`imr_bayes.data.validate` can name every
    value of the wrong type instead of a reader guessing. SPSS files are read with
    pyreadstat: user-defined missing values become missing; value labels are returned
    beside the codes.

    Raises
    ------
    ImrBayesError
        If the file does not exist, has an unknown extension, or cannot be parsed.
    """
    path = Path(path)
    fmt = _format(path, READ_FORMATS)
    if not path.is_file():
        raise ImrBayesError(f"data file not found: {str(path)!r}")
    if fmt == "sav":
        import pyreadstat

        try:
            frame, meta = pyreadstat.read_sav(str(path), user_missing=False)
        except (pyreadstat.ReadstatError, pyreadstat.PyreadstatError, OSError,
                ValueError) as exc:
            raise ImrBayesError(f"cannot parse sav file {str(path)!r}: {exc}") from exc
        return RawData(frame, dict(meta.variable_value_labels))
    try:
        if fmt == "csv":
            return RawData(pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""]))
        return RawData(pd.read_parquet(path))
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ImrBayesError(f"cannot parse {fmt} file {str(path)!r}: {exc}") from exc


def load(
    path: str | os.PathLike[str],
    *,
    column_map: Mapping[str, str] | ImportSpec | str | os.PathLike[str] | None = None,
    layout: Literal["auto", "long", "wide"] | None = None,
    time_pattern: str | None = None,
    time_codes: Mapping[str, int] | None = None,
    arm_codes: Mapping[str, str] | None = None,
    recode: Mapping[str, Mapping[str, str]] | None = None,
    na_values: Iterable[Code] | Mapping[str, Iterable[Code]] | None = None,
    required: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Read participant data (CSV, Parquet or SPSS), bring it into the contract, validate.

    Parameters
    ----------
    path : path-like
        A ``.csv``, ``.parquet``/``.pq`` or SPSS ``.sav``/``.zsav`` file, long (one row per
        participant x time) or wide (one row per participant, columns such as
        ``IMRS_client_T1``).
    column_map : mapping, ImportSpec, path-like or None
        Your column name -> contract column name (e.g. ``{"id": "participant_id"}``), or an
        import spec (:class:`imr_bayes.data.ImportSpec` or the path of an import-spec YAML
        file) with any of the options below.
    layout : {"auto", "long", "wide"}, optional
        Default ``auto``: wide when there is no ``time`` column and column names end in a
        time suffix.
    time_pattern : str, optional
        Regular expression of a wide time suffix with one group (default ``_[Tt]`` + digits).
    time_codes : mapping, optional
        Time label -> contract time code 0/1/2 (e.g. ``{"1": 0, "2": 1, "3": 2}`` for T1..T3).
    arm_codes : mapping, optional
        Arm label or code -> ``imr``/``cau``, case-insensitive (e.g. ``{"1": "imr",
        "0": "cau"}``); ``IMR``/``CAU`` in any case need no map.
    recode : mapping, optional
        Contract column -> {file value or label: contract value} (e.g. ``{"sex": {"M":
        "male", "V": "female"}}``).
    na_values : list or mapping, optional
        Missing-value codes (e.g. ``[-99, 999]``); a mapping gives codes per contract column.
    required : iterable of str, optional
        Contract columns the analyses need (see :func:`imr_bayes.data.required_columns`);
        other contract columns become optional. None: the full contract.

    Returns
    -------
    pandas.DataFrame
        The validated data (see :func:`imr_bayes.data.validate`).

    Raises
    ------
    ImrBayesError
        If the file is missing, of an unknown format or unparsable.
    SpecError
        If an option or the import-spec file is invalid (unknown keys with "did you mean").
    DataValidationError
        If ``column_map`` names columns the file lacks, or the data break the contract.
    """
    raw = read_raw(path)
    return import_frame(raw.frame, column_map, layout=layout, time_pattern=time_pattern,
                        time_codes=time_codes, arm_codes=arm_codes, recode=recode,
                        na_values=na_values, required=required, labels=raw.value_labels)


def save(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write contract data atomically to ``.csv`` or ``.parquet`` (validated first).

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    fmt = _format(path, FORMATS)
    data = validate(df)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            data.to_csv(tmp, index=False)
        else:
            data.to_parquet(tmp, index=False)
    return path
