"""Package layout that ``pyproject.toml`` cannot express: ``models/`` ships as package data.

The repository's top-level ``models/`` folder (specs, priors, published numbers, trial
facts) is the one copy people edit. It is mapped to the package ``imr_bayes._models``, so a
wheel carries all of it (every subfolder, present and future) inside the package;
``imr_bayes.paths`` finds it there when no repository is around. Everything else about the
project is in ``pyproject.toml``.
"""

from setuptools import find_namespace_packages, setup

MODELS = "imr_bayes._models"

setup(
    packages=[
        *find_namespace_packages(include=["imr_bayes*"]),
        MODELS,
        *(f"{MODELS}.{sub}" for sub in find_namespace_packages(where="models")),
    ],
    package_dir={MODELS: "models"},
)
