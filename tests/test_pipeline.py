"""The main run: section registry, status marking, validation, atomic output, CLI errors."""

from __future__ import annotations

import json
import os
import stat
import sys
import types

import pandas as pd
import pytest

from imr_bayes import pipeline
from imr_bayes.errors import ImrBayesError
from imr_bayes.pipeline import RunSettings, Section, SectionResult
from imr_bayes.report import write_report

# A throw-away module holding section functions for the registry tests.
_fake = types.ModuleType("imr_bayes_test_sections")


PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
       b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe"
       b"\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")


def _ok(ctx):
    figs = [pipeline.Figure("loose", "a loose figure", PNG),
            pipeline.Figure("g1", "grouped one", PNG, group="Fit A"),
            pipeline.Figure("g2", "grouped two", PNG, group="Fit A")]
    return SectionResult(tables={"numbers": pd.DataFrame({"x": [1.0, 2.5]}),
                                 "behind": pd.DataFrame({"y": [7.0]})},
                         figures=figs, summary={"answer": 42}, csv_only=("behind",))


def _boom(ctx):
    raise RuntimeError("sampler exploded\nsecond line of detail")


def _reads_previous(ctx):
    return SectionResult(text=[f"saw {sorted(ctx.results)}"],
                         summary={"statuses": {k: r.status for k, r in ctx.results.items()}})


_fake.ok, _fake.boom, _fake.reads_previous = _ok, _boom, _reads_previous
sys.modules["imr_bayes_test_sections"] = _fake

FAKE_SECTIONS = (
    Section("first", "First", (), "imr_bayes_test_sections:ok"),
    Section("broken", "Broken", (), "imr_bayes_test_sections:boom"),
    Section("absent", "Absent", ("imr_bayes.no_such_module",), "imr_bayes_test_sections:ok"),
    Section("last", "Last", (), "imr_bayes_test_sections:reads_previous"),
)


@pytest.fixture
def fake_registry(monkeypatch):
    monkeypatch.setattr(pipeline, "SECTIONS", FAKE_SECTIONS)


def test_failed_and_missing_sections_are_marked_and_the_rest_still_runs(fake_registry):
    events = []
    result = pipeline.run(RunSettings(quick=True), progress=events.append)
    status = {sec.key: res.status for sec, res in result.sections}
    assert status == {"first": "ok", "broken": "failed", "absent": "unavailable", "last": "ok"}
    broken = dict((s.key, r) for s, r in result.sections)["broken"]
    assert broken.message == "RuntimeError: sampler exploded"  # one line only
    assert "not available in this build" in dict(
        (s.key, r) for s, r in result.sections)["absent"].message
    # later sections see the earlier results
    last = dict((s.key, r) for s, r in result.sections)["last"]
    assert last.summary["statuses"] == {"first": "ok", "broken": "failed", "absent": "unavailable"}
    assert result.problems == ["Broken: failed: RuntimeError: sampler exploded"]
    overall = [e for e in events if e.scope == "overall"]
    assert overall[0].kind == "plan" and overall[0].total == 4
    assert sum(e.kind == "advance" for e in overall) == 4
    assert overall[-1].kind == "finish"


def test_raise_errors_propagates_the_section_exception(fake_registry):
    with pytest.raises(RuntimeError, match="sampler exploded"):
        pipeline.run(RunSettings(quick=True), raise_errors=True)


def test_report_folder_holds_page_tables_and_summary(fake_registry, tmp_path):
    result = pipeline.run(RunSettings(quick=True))
    folder = write_report(result, tmp_path)
    assert folder.parent == tmp_path and folder.name == result.run_id
    html = (folder / "index.html").read_text()
    assert "sampler exploded" in html and "not in this build" in html
    assert 'id="problems"' in html  # the banner
    assert pd.read_csv(folder / "tables" / "first__numbers.csv")["x"].tolist() == [1.0, 2.5]
    assert html.count("<img ") == 3 and html.count('<details class="figures">') == 1
    assert "Fit A (2 figures)" in html
    assert 'id="table-first-behind"' not in html and 'href="tables/first__behind.csv"' in html
    assert pd.read_csv(folder / "tables" / "first__behind.csv")["y"].tolist() == [7.0]
    assert (folder / "figures" / "first__g2.png").read_bytes() == PNG
    summary = json.loads((folder / "summary.json").read_text())
    by_key = {s["key"]: s for s in summary["sections"]}
    assert by_key["first"]["results"] == {"answer": 42}
    assert by_key["broken"]["status"] == "failed"
    assert summary["settings"]["sampling"] == pipeline.QUICK_SAMPLING
    assert "http://" not in html and "https://" not in html  # no network resources
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask  # not the private tmp mode
    assert stat.S_IMODE((folder / "index.html").stat().st_mode) == 0o666 & ~umask


def test_interrupted_write_leaves_no_report_folder(fake_registry, tmp_path, monkeypatch):
    result = pipeline.run(RunSettings(quick=True))

    def interrupted(_result):
        raise KeyboardInterrupt

    monkeypatch.setattr("imr_bayes.report.html.render", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(result, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_namespace_folder_counts_as_missing(tmp_path, monkeypatch):
    (tmp_path / "half_written_pkg").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    assert pipeline._missing_module(("half_written_pkg",)) == "half_written_pkg"
    assert pipeline._missing_module(("json",)) is None


def test_broken_module_is_an_error_not_missing(tmp_path, monkeypatch):
    (tmp_path / "broken_dep_pkg.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError, match="no_such_dependency_xyz"):
        pipeline._missing_module(("broken_dep_pkg",))


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        (RunSettings(outcomes=("imrs_clent",)), "Did you mean 'imrs_client'"),
        (RunSettings(outcomes=()), "no outcomes selected"),
        (RunSettings(data_path=pipeline.Path("/no/such/file.csv")), "data file not found"),
        (RunSettings(column_map=(("id", "participant_id"),)), "needs a data file"),
    ],
)
def test_bad_settings_fail_before_any_work(settings, needle):
    with pytest.raises(ImrBayesError, match=needle):
        pipeline.validate_settings(settings)


def test_cli_bad_outcome_is_one_line_error(capsys, tmp_path):
    import argparse

    from imr_bayes.cli import reanalyze

    parser = argparse.ArgumentParser()
    parser.add_argument("--debug", action="store_true")
    reanalyze.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["reanalyze", "--out", str(tmp_path), "--outcomes", "bsii"])
    with pytest.raises(ImrBayesError, match="Did you mean 'bsi'"):
        args.func(args)
    assert list(tmp_path.iterdir()) == []


def test_run_id_names_source_mode_and_seed():
    from datetime import UTC, datetime

    rid = pipeline.make_run_id(RunSettings(quick=True, seed=7),
                               datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert rid == "20260102T030405Z-twin-quick-s7"
    full = pipeline.make_run_id(RunSettings(data_path=pipeline.Path("trial.csv")),
                                datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert full == "20260102T030405Z-trial-full-s4931"


def test_missing_attribute_of_a_present_module_counts_as_missing():
    assert pipeline._missing_module(("json:dumps",)) is None
    assert pipeline._missing_module(("json:no_such_function",)) == "json:no_such_function"


def test_plan_fits_scopes_each_analysis(monkeypatch):
    monkeypatch.setattr(pipeline, "available_analyses",
                        lambda: ("itt", "fidelity", "cace", "hospitalization"))
    jobs = pipeline.plan_fits(RunSettings(outcomes=("bsi", "sers_sf", "imrs_client")))
    assert jobs == [
        ("itt", "bsi"), ("itt", "sers_sf"), ("itt", "imrs_client"),
        ("fidelity", "sers_sf"), ("fidelity", "imrs_client"),  # Tables 4-5 outcomes only
        ("cace", "imrs_client"),                                # primary only
        ("hospitalization", "imrs_client"),                     # one model, outcome ignored
    ]
    # without the primary outcome, primary-only analyses take the first selected outcome
    jobs = pipeline.plan_fits(RunSettings(outcomes=("bsi",), analyses=("cace", "fidelity")))
    assert jobs == [("cace", "bsi")]


def test_cli_column_map_must_be_pairs(tmp_path):
    import argparse

    from imr_bayes.cli import reanalyze

    parser = argparse.ArgumentParser()
    parser.add_argument("--debug", action="store_true")
    reanalyze.register(parser.add_subparsers(dest="command"))
    data = tmp_path / "d.csv"
    data.write_text("x\n1\n")
    args = parser.parse_args(["reanalyze", "--data", str(data), "--column-map", "idparticipant"])
    with pytest.raises(ImrBayesError, match="FILE_COL=CONTRACT_COL pairs; got 'idparticipant'"):
        args.func(args)
    assert reanalyze._column_map(["id=participant_id"]) == (("id", "participant_id"),)


def test_bad_user_data_fails_before_any_section_runs(tmp_path, fake_registry):
    pytest.importorskip("imr_bayes.data")
    from imr_bayes.errors import DataValidationError

    bad = tmp_path / "trial.csv"
    bad.write_text("participant_id,arm,time\nP1,treatment,0\n")
    events = []
    with pytest.raises(DataValidationError, match="missing column"):
        pipeline.run(RunSettings(data_path=bad), progress=events.append)
    assert events == []
