"""Save and load fits as netCDF (one file, all DataTree groups), written atomically."""

from __future__ import annotations

import os
from pathlib import Path

from imr_bayes.atomic import atomic_path


def save_tree(tree, path: str | os.PathLike[str]) -> Path:
    """Write a DataTree to ``path`` (netCDF via h5netcdf) atomically; return the path."""
    with atomic_path(path) as tmp:
        tree.to_netcdf(tmp, engine="h5netcdf")
    return Path(path)


def load_tree(path: str | os.PathLike[str]):
    """Read a DataTree written by :func:`save_tree` fully into memory."""
    import xarray as xr

    with xr.open_datatree(path, engine="h5netcdf") as tree:
        return tree.load()
