"""Options every subcommand that reads participant data shares: ``--data`` and its import.

A subcommand calls :func:`add_data_arguments` when it builds its parser and
:func:`load_data` in its ``run`` with the contract columns its analyses need
(:func:`imr_bayes.data.required_columns`). Without ``--data`` the default synthetic twin is
used. Subcommands that run :func:`imr_bayes.reanalysis.run` pass the file and
:func:`import_spec_of` to :class:`imr_bayes.reanalysis.RunSettings` instead, so that the run
loads (and records) the file itself.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from imr_bayes.errors import ImrBayesError

if TYPE_CHECKING:
    from imr_bayes.data import ImportSpec

#: Suffixes that make a ``--column-map`` item an import-spec file rather than a pair.
_SPEC_SUFFIXES = (".yaml", ".yml")
#: Import options that only make sense with ``--data``.
_IMPORT_OPTIONS = ("column_map", "layout", "time_pattern", "time_codes", "arm_codes",
                   "na_values")


def add_data_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--data`` and the import options to a subcommand's parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser; the options go into a group "participant data".
    """
    group = parser.add_argument_group(
        "participant data",
        "your own data instead of the synthetic twin (see docs/data_contract.md)")
    group.add_argument(
        "--data", type=Path, metavar="FILE",
        help="participant data: .csv, .parquet or SPSS .sav; long (one row per participant x "
             "time) or wide (one row per participant, columns such as IMRS_client_T1). "
             "Only the columns the requested analyses need are required. "
             "Default: the embedded synthetic twin")
    group.add_argument(
        "--column-map", nargs="+", metavar="SPEC",
        help="an import-spec YAML file (keys: columns, layout, time_pattern, time_codes, "
             "arm_codes, recode, na_values, value_labels) and/or FILE_COL=CONTRACT_COL pairs, "
             "e.g. --column-map import.yaml or --column-map id=participant_id group=arm")
    group.add_argument(
        "--layout", choices=("auto", "long", "wide"),
        help="long or wide data (default auto: wide when there is no time column and column "
             "names end in a time suffix such as _T1)")
    group.add_argument(
        "--time-pattern", metavar="REGEX",
        help=r"regular expression of the time suffix of wide column names, with one group "
             r"capturing the time label (default: _[Tt](\d+)$)")
    group.add_argument(
        "--time-codes", nargs="+", metavar="LABEL=CODE",
        help="time labels to contract time codes 0, 1, 2, e.g. --time-codes 1=0 2=1 3=2 "
             "for T1..T3")
    group.add_argument(
        "--arm-codes", nargs="+", metavar="LABEL=ARM",
        help="arm labels or codes to imr / cau (case-insensitive), e.g. --arm-codes 1=imr "
             "0=cau; IMR and CAU in any case need none")
    group.add_argument(
        "--na-values", nargs="+", metavar="CODE",
        help="missing-value codes, e.g. --na-values -99 999 (applied to every column "
             "except participant_id)")


def _pairs(items: Sequence[str], option: str, form: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key or not value:
            raise ImrBayesError(f"{option} takes {form} pairs; got {item!r}")
        out[key] = value
    return out


def import_options(args: argparse.Namespace) -> dict[str, Any]:
    """Return the keyword arguments of :func:`imr_bayes.data.load` given on the command line.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of a parser set up by :func:`add_data_arguments`.

    Returns
    -------
    dict
        ``column_map`` (an :class:`imr_bayes.data.ImportSpec` when a YAML file is given, else
        a dict of renames, or None) and the import options given (others left out).

    Raises
    ------
    ImrBayesError
        If a pair is malformed, more than one YAML file is given, or import options are
        given without ``--data``.
    SpecError
        If the import-spec file is invalid.
    """
    from imr_bayes.data import import_spec, read_import_spec

    given = [f"--{name.replace('_', '-')}" for name in _IMPORT_OPTIONS
             if getattr(args, name, None) is not None]
    if args.data is None:
        if given:
            raise ImrBayesError(f"{', '.join(given)} need(s) --data")
        return {}
    items = list(args.column_map or [])
    files = [i for i in items if i.lower().endswith(_SPEC_SUFFIXES)]
    if len(files) > 1:
        raise ImrBayesError(f"--column-map takes one import-spec YAML file; got {len(files)}")
    pairs = _pairs([i for i in items if i not in files], "--column-map",
                   "an import-spec YAML file or FILE_COL=CONTRACT_COL")
    column_map = pairs or None
    if files:
        spec = read_import_spec(files[0])
        column_map = import_spec(spec, columns={**spec.columns, **pairs}) if pairs else spec
    options = {"column_map": column_map, "layout": args.layout,
               "time_pattern": args.time_pattern, "na_values": args.na_values}
    if args.time_codes:
        codes = _pairs(args.time_codes, "--time-codes", "LABEL=CODE")
        try:
            options["time_codes"] = {k: int(v) for k, v in codes.items()}
        except ValueError:
            raise ImrBayesError(f"--time-codes: codes are whole numbers 0, 1, 2; got "
                                f"{' '.join(args.time_codes)}") from None
    if args.arm_codes:
        options["arm_codes"] = _pairs(args.arm_codes, "--arm-codes", "LABEL=ARM")
    return {k: v for k, v in options.items() if v is not None}


def load_data(args: argparse.Namespace, *, required: Iterable[str] | None) -> pd.DataFrame:
    """Load ``--data`` with the import options, or return the default twin without it.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of a parser set up by :func:`add_data_arguments`.
    required : iterable of str or None
        Contract columns the subcommand's analyses need
        (:func:`imr_bayes.data.required_columns`); None: the full contract.

    Returns
    -------
    pandas.DataFrame
        Validated long data.

    Raises
    ------
    ImrBayesError
        If the file cannot be read or an option is malformed (see :func:`import_options`).
    DataValidationError
        If the data break the contract (one problem per line).
    """
    from imr_bayes import data

    options = import_options(args)
    if args.data is None:
        return data.default_twin()
    return data.load(args.data, required=required, **options)


def import_spec_of(args: argparse.Namespace) -> ImportSpec | None:
    """Return the import options given on the command line as one import spec.

    For :class:`imr_bayes.reanalysis.RunSettings` (its ``column_map``), which loads the
    file itself with the columns of the run's analyses.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed arguments of a parser set up by :func:`add_data_arguments`.

    Returns
    -------
    ImportSpec or None
        None without ``--data``.

    Raises
    ------
    ImrBayesError, SpecError
        As :func:`import_options`.
    """
    from imr_bayes.data import import_spec

    options = import_options(args)
    if args.data is None:
        return None
    return import_spec(options.pop("column_map", None), **options)
