"""The wheel works without the repository (slow tier; ``.ci/run`` does the same in CI).

The working tree (tracked and untracked, not ignored files) is copied to a temporary folder,
so the repository gets no ``build/`` folder; ``pip wheel --no-deps`` builds the wheel there;
a clean venv outside the repository installs it with its dependencies from the machine's
package index; the command line then runs from a folder outside the repository with no
``IMR_BAYES_MODELS``, so every spec, prior and published number comes from the wheel.
Timings on the shared 2-core machine: wheel about 10 s, clean install about 150 s, the
restricted quick reanalysis about 90 s.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import imr_bayes
from imr_bayes.paths import MODELS_ENV, REPOSITORY_MODELS

pytestmark = pytest.mark.slow

ROOT = REPOSITORY_MODELS.parent


def _run(cmd: list[str], *, cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in (MODELS_ENV, "PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["OMP_NUM_THREADS"] = "1"
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(map(str, cmd))}\n{done.stdout}\n{done.stderr}"
    return done


def _copy_working_tree(dest: Path) -> Path:
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = ROOT / name
        if source.is_file():  # tracked files deleted in the working tree are skipped
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("wheel")
    source = _copy_working_tree(root / "source")
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", source, "-w",
          root / "dist"], cwd=root, timeout=600)
    (built,) = (root / "dist").glob("imr_bayes-*.whl")
    return built


@pytest.fixture(scope="module")
def venv_bin(wheel, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("venv")
    _run([sys.executable, "-m", "venv", root / "venv"], cwd=root, timeout=300)
    python = root / "venv" / "bin" / "python"
    _run([python, "-m", "pip", "install", "--quiet", wheel], cwd=root, timeout=1800)
    return python.parent


@pytest.fixture
def outside(tmp_path) -> Path:
    assert ROOT not in tmp_path.resolve().parents
    return tmp_path


def test_wheel_carries_every_models_file(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"imr_bayes/_models/{p.relative_to(REPOSITORY_MODELS).as_posix()}"
                for p in REPOSITORY_MODELS.rglob("*") if p.is_file()}
    assert expected and expected <= names
    assert "imr_bayes/_models/trial.yaml" in names
    assert f"imr_bayes-{imr_bayes.__version__}.dist-info/METADATA" in names


def test_installed_package_reads_its_package_data(venv_bin, outside):
    code = "import imr_bayes, imr_bayes.paths as p; print(p.models_dir(), imr_bayes.__file__)"
    models, package = _run([venv_bin / "python", "-c", code], cwd=outside,
                           timeout=120).stdout.split()
    assert Path(models) == Path(package).parent / "_models"
    assert str(venv_bin.parent) in package
    version = _run([venv_bin / "imr-bayes", "--version"], cwd=outside, timeout=120).stdout
    assert version.split() == ["imr_bayes", imr_bayes.__version__]


def test_audit_from_outside_the_repository(venv_bin, outside):
    _run([venv_bin / "imr-bayes", "audit"], cwd=outside, timeout=600)
    assert (outside / "reports" / "audit.csv").stat().st_size > 0


def test_quick_reanalysis_from_outside_the_repository(venv_bin, outside):
    done = _run([venv_bin / "imr-bayes", "reanalyze", "--quick", "--no-progress",
                 "--outcomes", "imrs_client", "--analyses", "itt", "--out", outside / "rep"],
                cwd=outside, timeout=1800)
    page = Path(done.stdout.strip().splitlines()[-1])
    assert page.name == "index.html" and page.is_file()
    assert outside / "rep" in page.parents
