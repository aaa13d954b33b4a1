"""Simulation studies on dask.distributed: calibration/coverage, nesting, assurance.

``run_study(name, replicates=R, out=DIR)`` runs R independent replicates (each seeded from
``numpy.random.SeedSequence(seed).spawn(R)``) on a LocalCluster or an existing scheduler and
stores one Parquet file per replicate, so a study resumes where it stopped. Each study module
(:mod:`~imr_bayes.studies.coverage`, :mod:`~imr_bayes.studies.nesting`,
:mod:`~imr_bayes.studies.assurance`) exposes ``STUDY``, ``summarize(store_dir)`` and
``plot(store_dir)``; they import PyMC and are loaded only when used.
"""

from __future__ import annotations

from imr_bayes.studies.runner import (
    STUDIES,
    Study,
    StudyRun,
    get_study,
    replicate_seed,
    run_study,
)
from imr_bayes.studies.store import Store

__all__ = ["STUDIES", "Store", "Study", "StudyRun", "get_study", "replicate_seed", "run_study"]
