import os
import stat

import pytest

from imr_bayes.atomic import atomic_dir, atomic_path, write_text


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def _umask():
    u = os.umask(0)
    os.umask(u)
    return u


def test_file_written_only_on_success_with_usual_mode(tmp_path):
    target = tmp_path / "out" / "table.csv"
    write_text(target, "a,b\n1,2\n")
    assert target.read_text() == "a,b\n1,2\n"
    # what a plain open() would give: 0o666 minus the umask (mkstemp alone gives 0o600)
    assert _mode(target) == 0o666 & ~_umask()


def test_interrupted_write_leaves_previous_file_and_no_debris(tmp_path):
    target = tmp_path / "table.csv"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.csv"]


def test_interrupted_folder_leaves_no_complete_looking_report(tmp_path):
    target = tmp_path / "run-1"
    with pytest.raises(KeyboardInterrupt):
        with atomic_dir(target) as tmp:
            (tmp / "index.html").write_text("<html>")
            raise KeyboardInterrupt
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []


def test_folder_replaced_whole_with_usual_mode(tmp_path):
    target = tmp_path / "run-1"
    target.mkdir()
    (target / "stale.txt").write_text("x")
    with atomic_dir(target) as tmp:
        (tmp / "index.html").write_text("<html>")
    assert sorted(p.name for p in target.iterdir()) == ["index.html"]
    assert _mode(target) == 0o777 & ~_umask()
