"""Provenance: hashes of data, files and specs, and the versions of the numerical stack.

Every saved fit and every report carries these, so that a number can be traced to the exact
data, specification, seed and software that produced it.
"""

from __future__ import annotations

import hashlib
import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd

#: Distributions whose versions are recorded with every fit and report.
TRACKED_PACKAGES: tuple[str, ...] = (
    "imr_bayes", "pymc", "pytensor", "nutpie", "bambi", "arviz", "arviz-base",
    "arviz-stats", "arviz-plots", "numpy", "scipy", "pandas", "xarray", "statsmodels",
)


def file_sha256(path: str | Path) -> str:
    """Return the SHA-256 hex digest of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def data_sha256(df: pd.DataFrame) -> str:
    """Return a SHA-256 of a data frame's content, independent of row order.

    Rows are sorted by all columns' string form after the columns are sorted by name, then
    hashed as CSV, so the same data give the same hash whatever order they were read in.
    """
    canon = df.reindex(sorted(df.columns), axis=1)
    canon = canon.astype("string").fillna("<NA>")
    canon = canon.sort_values(list(canon.columns), kind="mergesort").reset_index(drop=True)
    return hashlib.sha256(canon.to_csv(index=False).encode("utf-8")).hexdigest()


def spec_sha256(spec: dict[str, Any]) -> str:
    """Return a SHA-256 of a specification mapping, as canonical (sorted-key) JSON."""
    text = json.dumps(spec, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def package_versions() -> dict[str, str]:
    """Return the installed versions of the numerical stack, plus Python's."""
    out = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out
