"""Read and write participant data files (CSV or Parquet) in the data contract."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from imr_bayes.atomic import atomic_path
from imr_bayes.data.contract import CONTRACT_COLUMNS, validate
from imr_bayes.errors import DataValidationError, ImrBayesError

#: File extensions :func:`load` and :func:`save` understand.
FORMATS: dict[str, str] = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}


def _format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImrBayesError(
            f"cannot read or write {str(path)!r}: unknown file extension {path.suffix!r}; "
            f"valid: {', '.join(FORMATS)}"
        )
    return fmt


def read_raw(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV or Parquet file as it is, without validation.

    CSV cells are read as text, so that :func:`imr_bayes.data.validate` can name every
    value of the wrong type instead of a reader guessing.

    Raises
    ------
    ImrBayesError
        If the file does not exist, has an unknown extension, or cannot be parsed.
    """
    path = Path(path)
    fmt = _format(path)
    if not path.is_file():
        raise ImrBayesError(f"data file not found: {str(path)!r}")
    try:
        if fmt == "csv":
            return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
        return pd.read_parquet(path)
    except (ValueError, OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ImrBayesError(f"cannot parse {fmt} file {str(path)!r}: {exc}") from exc


def load(
    path: str | os.PathLike[str], column_map: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """Read participant data from CSV or Parquet, rename columns, validate.

    Parameters
    ----------
    path : path-like
        A ``.csv`` or ``.parquet`` file, long format (one row per participant x time).
    column_map : mapping, optional
        Your column name -> contract column name (e.g. ``{"id": "participant_id"}``);
        applied before validation.

    Returns
    -------
    pandas.DataFrame
        The validated data (see :func:`imr_bayes.data.validate`).

    Raises
    ------
    ImrBayesError
        If the file is missing, of an unknown format or unparsable.
    DataValidationError
        If ``column_map`` names columns the file lacks or targets unknown contract columns,
        or if the data break the contract.
    """
    raw = read_raw(path)
    if column_map:
        problems = [
            f"column_map: column {src!r} not in the file" for src in column_map
            if src not in raw.columns
        ]
        problems += [
            f"column_map: target {dst!r} of {src!r} is not a contract column"
            for src, dst in column_map.items() if dst not in CONTRACT_COLUMNS
        ]
        if problems:
            raise DataValidationError(problems)
        raw = raw.rename(columns=dict(column_map))
    return validate(raw)


def save(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write contract data atomically to ``.csv`` or ``.parquet`` (validated first).

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    fmt = _format(path)
    data = validate(df)
    with atomic_path(path) as tmp:
        if fmt == "csv":
            data.to_csv(tmp, index=False)
        else:
            data.to_parquet(tmp, index=False)
    return path
