"""Where models/ is found: environment, repository, installed package data."""

import tomllib

import pytest

import imr_bayes
from imr_bayes import paths
from imr_bayes.errors import ImrBayesError


def test_repository_folder_in_a_checkout(monkeypatch):
    monkeypatch.delenv(paths.MODELS_ENV, raising=False)
    assert paths.models_dir() == paths.REPOSITORY_MODELS
    assert (paths.models_dir() / "trial.yaml").is_file()
    assert paths.published_dir() == paths.REPOSITORY_MODELS / "published"


def test_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.MODELS_ENV, str(tmp_path))
    assert paths.models_dir() == tmp_path
    monkeypatch.setenv(paths.MODELS_ENV, str(tmp_path / "nope"))
    with pytest.raises(ImrBayesError, match=r"nope \(set by IMR_BAYES_MODELS\).*or unset it"):
        paths.models_dir()


def test_package_data_without_a_repository(tmp_path, monkeypatch):
    monkeypatch.delenv(paths.MODELS_ENV, raising=False)
    monkeypatch.setattr(paths, "REPOSITORY_MODELS", tmp_path / "site-packages" / "models")
    monkeypatch.setattr(paths, "PACKAGE_MODELS", tmp_path / "imr_bayes" / "_models")
    with pytest.raises(ImrBayesError, match="neither the repository folder .* nor the "
                                            "package data .*_models exists"):
        paths.models_dir()
    (tmp_path / "imr_bayes" / "_models").mkdir(parents=True)
    assert paths.models_dir() == tmp_path / "imr_bayes" / "_models"
    # a models/ folder beside the package is the repository's only next to pyproject.toml
    (tmp_path / "site-packages" / "models").mkdir(parents=True)
    assert paths.models_dir() == tmp_path / "imr_bayes" / "_models"
    (tmp_path / "site-packages" / "pyproject.toml").write_text("")
    assert paths.models_dir() == tmp_path / "site-packages" / "models"


def test_version_is_written_once():
    project = tomllib.loads((paths.REPOSITORY_MODELS.parent / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert project["project"]["dynamic"] == ["version"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {
        "attr": "imr_bayes.__version__"}
    assert imr_bayes.__version__ and "version" not in (
        paths.REPOSITORY_MODELS.parent / "setup.py").read_text()
