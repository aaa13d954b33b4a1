"""Where the project's declarative files live.

Specs, prior sets and the published numbers sit in the repository's top-level ``models/``
folder (versioned, human-readable). The package is installed in editable mode by the
Makefile, so that folder is found next to the package; ``IMR_BAYES_MODELS`` overrides it.
"""

from __future__ import annotations

import os
from pathlib import Path

from imr_bayes.errors import ImrBayesError


def models_dir() -> Path:
    """Return the ``models/`` folder (``$IMR_BAYES_MODELS`` if set)."""
    env = os.environ.get("IMR_BAYES_MODELS")
    path = Path(env) if env else Path(__file__).resolve().parents[1] / "models"
    if not path.is_dir():
        raise ImrBayesError(
            f"models folder not found at {path}; install the package from its repository "
            "(pip install -e .) or set IMR_BAYES_MODELS"
        )
    return path


def published_dir() -> Path:
    """Return ``models/published``, the published numbers with their provenance."""
    return models_dir() / "published"
