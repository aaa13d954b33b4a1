"""The on-disk store of a simulation study: one Parquet file per finished replicate.

Layout of a store folder::

    study.json                    manifest: study name, seed, settings (the store's identity)
    context.parquet               optional shared input computed once (e.g. a design prior)
    replicates/rep_000000.parquet one file per finished replicate, written atomically
    summary.csv, <study>.png      written by the command line after the run

A replicate file exists only once its replicate has finished (atomic rename), so the set of
files *is* the progress record: an interrupted study resumes by computing the missing
indices, and a rerun never recomputes a finished one. The manifest guards against mixing
replicates of different settings in one folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from imr_bayes.atomic import atomic_path, write_text
from imr_bayes.errors import StudyError
from imr_bayes.provenance import package_versions

MANIFEST = "study.json"
CONTEXT = "context.parquet"
REPLICATE_DIR = "replicates"
_PATTERN = "rep_*.parquet"


def replicate_file(root: str | Path, index: int) -> Path:
    """Return the path of replicate ``index``'s file in the store at ``root``."""
    return Path(root) / REPLICATE_DIR / f"rep_{index:06d}.parquet"


class Store:
    """A study's folder of per-replicate Parquet files plus its manifest.

    Use :meth:`open` to create a store or reopen an existing one with the same identity.

    Parameters
    ----------
    root : path-like
        The store folder.
    manifest : dict
        The manifest read from or written to ``study.json``.
    """

    def __init__(self, root: str | Path, manifest: Mapping[str, Any]):
        self.root = Path(root)
        self.manifest = dict(manifest)

    @classmethod
    def open(
        cls, root: str | Path, *, study: str, seed: int, settings: Mapping[str, Any]
    ) -> Store:
        """Create the store at ``root``, or reopen it if its identity matches.

        Parameters
        ----------
        root : path-like
            The store folder (created if missing).
        study : str
            Study name.
        seed : int
            The study's root seed.
        settings : mapping
            JSON-serializable settings every replicate is computed with.

        Returns
        -------
        Store

        Raises
        ------
        StudyError
            If ``root`` holds a store of another study, seed or settings: mixing replicates
            of different settings would make the summary meaningless.
        """
        root = Path(root)
        identity = {"study": study, "seed": int(seed), "settings": _jsonable(settings)}
        path = root / MANIFEST
        if path.exists():
            manifest = json.loads(path.read_text(encoding="utf-8"))
            old = {k: manifest.get(k) for k in identity}
            if old != identity:
                diff = [
                    f"{k}: stored {old[k]!r}, requested {identity[k]!r}"
                    for k in identity
                    if old[k] != identity[k]
                ]
                raise StudyError(
                    f"the store {root} belongs to a different study run ({'; '.join(diff)}); "
                    "use another --out folder or the stored settings to resume"
                )
            return cls(root, manifest)
        if root.exists() and any(root.glob(f"{REPLICATE_DIR}/{_PATTERN}")):
            raise StudyError(f"{root} holds replicate files but no {MANIFEST}; refusing to mix")
        manifest = {**identity, "versions": package_versions()}
        write_text(path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        (root / REPLICATE_DIR).mkdir(parents=True, exist_ok=True)
        return cls(root, manifest)

    @classmethod
    def load(cls, root: str | Path) -> Store:
        """Open an existing store for reading.

        Raises
        ------
        StudyError
            If ``root`` has no manifest.
        """
        root = Path(root)
        path = root / MANIFEST
        if not path.exists():
            raise StudyError(f"no study store at {root} (missing {MANIFEST})")
        return cls(root, json.loads(path.read_text(encoding="utf-8")))

    @property
    def study(self) -> str:
        """Name of the study this store holds."""
        return str(self.manifest["study"])

    @property
    def settings(self) -> dict[str, Any]:
        """Settings every replicate in this store was computed with."""
        return dict(self.manifest["settings"])

    def finished(self) -> set[int]:
        """Return the indices of the replicates whose files exist."""
        folder = self.root / REPLICATE_DIR
        return {int(p.stem.split("_")[1]) for p in folder.glob(_PATTERN)}

    def write(self, index: int, frame: pd.DataFrame) -> Path:
        """Write replicate ``index``'s result atomically; return the file path."""
        target = replicate_file(self.root, index)
        frame = frame.assign(replicate=int(index))
        with atomic_path(target) as tmp:
            frame.to_parquet(tmp, index=False)
        return target

    def read(self) -> pd.DataFrame:
        """Return every finished replicate's rows, ordered by replicate index.

        Raises
        ------
        StudyError
            If no replicate has finished yet.
        """
        files = sorted((self.root / REPLICATE_DIR).glob(_PATTERN))
        if not files:
            raise StudyError(f"the store {self.root} has no finished replicate yet")
        frames = [pd.read_parquet(f) for f in files]
        return pd.concat(frames, ignore_index=True).sort_values(
            "replicate", kind="mergesort", ignore_index=True
        )

    def read_context(self) -> pd.DataFrame | None:
        """Return the stored shared input (``context.parquet``), or None if there is none."""
        path = self.root / CONTEXT
        return pd.read_parquet(path) if path.exists() else None

    def write_context(self, frame: pd.DataFrame) -> Path:
        """Store the shared input atomically; return its path."""
        target = self.root / CONTEXT
        with atomic_path(target) as tmp:
            frame.to_parquet(tmp, index=False)
        return target


def _jsonable(value: Any) -> Any:
    """Return ``value`` as it reads back from JSON (tuples become lists, keys strings)."""
    return json.loads(json.dumps(value, sort_keys=True))
