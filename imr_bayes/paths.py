"""Where the project's declarative files live.

Specs, prior sets, the published numbers and the trial facts sit in the repository's
top-level ``models/`` folder, the one copy people edit (versioned, human-readable). A wheel
carries the same folder as package data, ``imr_bayes/_models`` (``setup.py`` maps it), so an
installed package finds it without a repository. :func:`models_dir` looks, in this order:

1. ``$IMR_BAYES_MODELS``, if set;
2. the repository's ``models/`` next to the package, in a source checkout or an editable
   install (``pip install -e .``, as the Makefile does);
3. the package data ``imr_bayes/_models`` of an installed wheel.
"""

from __future__ import annotations

import os
from pathlib import Path

from imr_bayes.errors import ImrBayesError

#: Environment variable that points at another ``models/`` folder.
MODELS_ENV: str = "IMR_BAYES_MODELS"
_PACKAGE = Path(__file__).resolve().parent
#: ``models/`` of the repository the package sits in (a source checkout or editable install).
REPOSITORY_MODELS: Path = _PACKAGE.parent / "models"
#: ``models/`` as package data of an installed wheel.
PACKAGE_MODELS: Path = _PACKAGE / "_models"


def _in_repository() -> bool:
    """Tell whether the package sits in its repository (``pyproject.toml`` beside ``models/``)."""
    return REPOSITORY_MODELS.is_dir() and (REPOSITORY_MODELS.parent / "pyproject.toml").is_file()


def models_dir() -> Path:
    """Return the ``models/`` folder: ``$IMR_BAYES_MODELS``, the repository's, or the wheel's.

    Raises
    ------
    ImrBayesError
        If ``$IMR_BAYES_MODELS`` names no folder, or neither the repository folder nor the
        package data exists; the message names the places looked at.
    """
    env = os.environ.get(MODELS_ENV)
    if env:
        path = Path(env)
        if not path.is_dir():
            raise ImrBayesError(f"models folder not found at {path} (set by {MODELS_ENV}); "
                                f"point {MODELS_ENV} at a folder with trial.yaml, analyses/, "
                                "priors/ and published/, or unset it")
        return path
    if _in_repository():
        return REPOSITORY_MODELS
    if PACKAGE_MODELS.is_dir():
        return PACKAGE_MODELS
    raise ImrBayesError(
        f"models folder not found: neither the repository folder {REPOSITORY_MODELS} nor "
        f"the package data {PACKAGE_MODELS} exists; reinstall imr_bayes (a wheel carries "
        f"its models/ folder; from the repository: pip install -e .) or set {MODELS_ENV}"
    )


def published_dir() -> Path:
    """Return ``models/published``, the published numbers with their provenance."""
    return models_dir() / "published"
