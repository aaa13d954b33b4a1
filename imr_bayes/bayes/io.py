"""Save and load fits as netCDF (one file, all DataTree groups), written atomically.

:func:`save_fit` writes a fit's DataTree plus one group, ``estimates``, holding what the
DataTree alone does not: the estimates table (attr ``table``, JSON), the draws behind each
row (``draws``, dims ``chain, draw, estimate``), the diagnosed variables
(``diagnosed_vars``) and the diagnostic thresholds (``diagnostics_thresholds``).
:func:`load_fit` restores the :class:`~imr_bayes.bayes.api.BayesianFit`: the DataTree
without that group, the estimates, the spec (from the root attr ``spec``) and the
diagnostics, recomputed against the spec's thresholds.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from imr_bayes.atomic import atomic_path
from imr_bayes.errors import ImrBayesError

if TYPE_CHECKING:
    from imr_bayes.bayes.api import BayesianFit

#: The group :func:`save_fit` adds to the DataTree.
ESTIMATES_GROUP = "estimates"


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


def _plain(value: Any) -> Any:
    """Return a table cell as JSON: missing -> None, NumPy scalars -> Python (exact floats)."""
    if pd.isna(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def save_fit(fit: BayesianFit, path: str | os.PathLike[str]) -> Path:
    """Write a fit (DataTree and the ``estimates`` group) to ``path`` atomically.

    Raises
    ------
    ImrBayesError
        If an estimate's draws do not match the posterior's chains x draws.
    """
    import xarray as xr

    post = fit.idata["posterior"]
    shape = (post.sizes["chain"], post.sizes["draw"])
    table = fit.estimates.table
    draws = []
    for _, row in table.iterrows():
        values = fit.estimates.draws_of(row)
        if values.size != shape[0] * shape[1]:
            raise ImrBayesError(f"estimate {row['estimand']!r} has {values.size} draws; the "
                                f"posterior has {shape[0]} x {shape[1]}")
        draws.append(values.reshape(shape))
    records = [{k: _plain(v) for k, v in r.items()} for r in table.to_dict("records")]
    group = xr.Dataset(
        {"draws": (("chain", "draw", "estimate"),
                   np.stack(draws, axis=-1) if draws else np.empty(shape + (0,)))},
        coords={"chain": post["chain"].values, "draw": post["draw"].values},
        attrs={"table": json.dumps(records),
               "diagnosed_vars": json.dumps(list(fit.diagnostics.var_names)),
               "diagnostics_thresholds": json.dumps(
                   fit.diagnostics.thresholds.model_dump(mode="json"))})
    tree = fit.idata.copy()
    tree[ESTIMATES_GROUP] = group
    return save_tree(tree, path)


def load_fit(path: str | os.PathLike[str]) -> BayesianFit:
    """Read a fit written by :func:`save_fit` (``BayesianFit.save``).

    Raises
    ------
    ImrBayesError
        If the file is missing, or holds a bare DataTree without the ``estimates`` group
        (read such files with :func:`load_tree`).
    SpecError
        If the stored spec no longer validates (e.g. a kind not registered in this process).
    """
    from imr_bayes.bayes.api import BayesianFit
    from imr_bayes.diagnostics import diagnose
    from imr_bayes.estimates import Estimates, frame, key_of
    from imr_bayes.spec import DiagnosticsSpec, parse_analysis

    if not Path(path).is_file():
        raise ImrBayesError(f"fit file not found: {str(path)!r}")
    tree = load_tree(path)
    if ESTIMATES_GROUP not in tree.children:
        raise ImrBayesError(
            f"{str(path)!r} has no {ESTIMATES_GROUP!r} group, so it was not written by "
            "BayesianFit.save; read the bare DataTree with imr_bayes.bayes.io.load_tree")
    group = tree[ESTIMATES_GROUP]
    records = json.loads(group.attrs["table"])
    values = group["draws"].transpose("chain", "draw", "estimate").to_numpy()
    values = values.reshape(-1, values.shape[-1])
    estimates = Estimates(frame(records),
                          {key_of(r): values[:, k] for k, r in enumerate(records)})
    tree = tree.drop_nodes(ESTIMATES_GROUP)
    attrs = tree.attrs
    spec = parse_analysis(json.loads(attrs["spec"]), source=repr(str(path))) \
        if "spec" in attrs else None
    thresholds = spec.diagnostics if spec is not None else DiagnosticsSpec.model_validate(
        json.loads(group.attrs["diagnostics_thresholds"]))
    diagnostics = diagnose(tree, json.loads(group.attrs["diagnosed_vars"]), thresholds)
    return BayesianFit(analysis=str(attrs["analysis"]), outcome=str(attrs["outcome"]),
                       idata=tree, estimates=estimates, diagnostics=diagnostics, spec=spec)
