"""The main run: stage registry, status marking, validation, rendering, atomic output, CLI."""

from __future__ import annotations

import json
import os
import stat
import sys
import types
from pathlib import Path

import pandas as pd
import pytest

from imr_bayes import reanalysis
from imr_bayes.errors import ImrBayesError
from imr_bayes.reanalysis import RunSettings, Stage, StageResult
from imr_bayes.report import sections, write_report
from imr_bayes.report.sections import Figure, Section, SectionView

# A throw-away module holding stage and section functions for the registry tests.
_fake = types.ModuleType("imr_bayes_test_stages")

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06"
       b"\x00\x00\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xff\xff?\x00\x05\xfe"
       b"\x02\xfe\xa7\x35\x81\x84\x00\x00\x00\x00IEND\xaeB`\x82")


def _ok(ctx):
    return StageResult(value={"x": [1.0, 2.5]})


def _boom(ctx):
    raise RuntimeError("sampler exploded\nsecond line of detail")


def _nothing(ctx):
    return StageResult("unavailable", "nothing to work on")


def _reads_previous(ctx):
    return StageResult(value={k: r.status for k, r in ctx.results.items()})


def _render_first(r):
    figs = [Figure("loose", "a loose figure", PNG), Figure("g1", "grouped one", PNG, "Fit A"),
            Figure("g2", "grouped two", PNG, "Fit A")]
    return SectionView(tables={"numbers": pd.DataFrame(r.value("first")),
                               "behind": pd.DataFrame({"y": [7.0]})},
                       figures=figs, summary={"answer": 42}, csv_only=("behind",))


def _render_status(key):
    def render(r):
        res = r.stages[key]
        return SectionView(status=res.status, message=res.message)
    return render


def _render_raises(r):
    raise ValueError("cannot draw this")


for name, fn in {"ok": _ok, "boom": _boom, "nothing": _nothing,
                 "reads_previous": _reads_previous, "render_first": _render_first,
                 "render_broken": _render_status("broken"),
                 "render_absent": _render_status("absent"),
                 "render_raises": _render_raises}.items():
    setattr(_fake, name, fn)
sys.modules["imr_bayes_test_stages"] = _fake

FAKE_STAGES = (
    Stage("first", "First", "imr_bayes_test_stages:ok"),
    Stage("broken", "Broken", "imr_bayes_test_stages:boom"),
    Stage("absent", "Absent", "imr_bayes_test_stages:nothing"),
    Stage("last", "Last", "imr_bayes_test_stages:reads_previous", ("first",)),
)
FAKE_SECTIONS = (
    Section("first", "First", "imr_bayes_test_stages:render_first", "first"),
    Section("broken", "Broken", "imr_bayes_test_stages:render_broken", "broken"),
    Section("absent", "Absent", "imr_bayes_test_stages:render_absent", "absent"),
    Section("drawn", "Drawn badly", "imr_bayes_test_stages:render_raises", None, "run"),
)


@pytest.fixture
def fake_registry(monkeypatch):
    monkeypatch.setattr(reanalysis, "STAGES", FAKE_STAGES)
    monkeypatch.setattr(sections, "SECTIONS", FAKE_SECTIONS)


def test_failed_stages_are_marked_and_the_rest_still_runs(fake_registry):
    events = []
    result = reanalysis.run(RunSettings(quick=True), progress=events.append)
    status = {k: r.status for k, r in result.stages.items()}
    assert status == {"first": "ok", "broken": "failed", "absent": "unavailable", "last": "ok"}
    assert result.stages["broken"].message == "RuntimeError: sampler exploded"  # one line
    assert result.value("broken") is None
    # later stages see the earlier results
    assert result.value("last") == {"first": "ok", "broken": "failed", "absent": "unavailable"}
    assert result.problems == ["Broken: failed: RuntimeError: sampler exploded"]
    overall = [e for e in events if e.scope == "overall"]
    assert overall[0].kind == "plan" and overall[0].total == 4
    assert sum(e.kind == "advance" for e in overall) == 4
    assert overall[-1].kind == "finish"


def test_a_subset_of_stages_runs_with_the_stages_it_needs(fake_registry):
    result = reanalysis.run(RunSettings(quick=True), stages=("last",))
    assert list(result.stages) == ["first", "last"]
    with pytest.raises(ImrBayesError, match=r"unknown stage 'lst'.*Did you mean 'last'"):
        reanalysis.run(RunSettings(quick=True), stages=("lst",))


def test_raise_errors_propagates_the_stage_exception(fake_registry):
    with pytest.raises(RuntimeError, match="sampler exploded"):
        reanalysis.run(RunSettings(quick=True), raise_errors=True)


def test_report_folder_holds_page_tables_and_summary(fake_registry, tmp_path):
    result = reanalysis.run(RunSettings(quick=True))
    folder = write_report(result, tmp_path)
    assert folder.parent == tmp_path and folder.name == result.run_id
    html = (folder / "index.html").read_text()
    assert "sampler exploded" in html and "nothing to work on" in html
    assert "ValueError: cannot draw this" in html  # a section that fails to render is shown
    assert 'id="problems"' in html  # the banner
    assert pd.read_csv(folder / "tables" / "first__numbers.csv")["x"].tolist() == [1.0, 2.5]
    assert html.count("<img ") == 3 and html.count('<details class="figures">') == 1
    assert "Fit A (2 figures)" in html
    assert 'id="table-first-behind"' not in html and 'href="tables/first__behind.csv"' in html
    assert (folder / "figures" / "first__g2.png").read_bytes() == PNG
    summary = json.loads((folder / "summary.json").read_text())
    by_key = {s["key"]: s for s in summary["sections"]}
    assert by_key["first"]["results"] == {"answer": 42}
    assert by_key["broken"]["status"] == "failed" and by_key["drawn"]["status"] == "failed"
    assert summary["settings"]["sampling"] == reanalysis.QUICK_SAMPLING
    assert "http://" not in html and "https://" not in html  # no network resources
    # the title follows the data; every section carries its data-source tag
    assert summary["title"] == "IMR trial: Bayesian reanalysis"
    assert "<h1>IMR trial: Bayesian reanalysis</h1>" in html
    assert [s["source_tag"] for s in summary["sections"]] == [
        "SYNTHETIC twin — illustrates the method, not evidence about the trial"] * 3 + [
        "this run: settings, software and checklist"]
    assert html.count('<p class="source source-') == len(FAKE_SECTIONS)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~umask  # not the private tmp mode
    assert stat.S_IMODE((folder / "index.html").stat().st_mode) == 0o666 & ~umask


def test_interrupted_write_leaves_no_report_folder(fake_registry, tmp_path, monkeypatch):
    result = reanalysis.run(RunSettings(quick=True))

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("imr_bayes.report.html.render", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_report(result, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_no_report_module_fits_or_samples():
    """Report modules import no fitting, sampling or stage code: they only render."""
    import ast

    folder = Path(reanalysis.__file__).parent / "report"
    forbidden = ("imr_bayes.stages", "imr_bayes.bayes", "imr_bayes.multiplicity",
                 "imr_bayes.sensitivity.delta", "imr_bayes.sensitivity.selection")
    for path in folder.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                assert not name.startswith(forbidden), f"{path.name} imports {name}"
            if isinstance(node, ast.Call):
                assert ast.unparse(node.func) not in ("imr_bayes.fit", "fit", "compare",
                                                      "imr_bayes.compare"), path.name


@pytest.mark.parametrize(
    ("settings", "needle"),
    [
        (RunSettings(outcomes=("imrs_clent",)), "Did you mean 'imrs_client'"),
        (RunSettings(outcomes=()), "no outcomes selected"),
        (RunSettings(analyses=("itt_categorcal",)), "Did you mean 'itt_categorical'"),
        (RunSettings(data_path=Path("/no/such/file.csv")), "data file not found"),
        (RunSettings(column_map={"id": "participant_id"}), "needs a data file"),
        (RunSettings(study_label="My trial"), "a study label needs a data file"),
        (RunSettings(data_path=Path(__file__), study_label=" "), "must not be empty"),
        (RunSettings(draws=0), "draws must be a positive integer"),
    ],
)
def test_bad_settings_fail_before_any_work(settings, needle):
    with pytest.raises(ImrBayesError, match=needle):
        reanalysis.validate_settings(settings)


def test_cli_bad_outcome_is_one_line_error(tmp_path):
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

    rid = reanalysis.make_run_id(RunSettings(quick=True, seed=7),
                                 datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert rid == "20260102T030405Z-twin-quick-s7"
    full = reanalysis.make_run_id(RunSettings(data_path=Path("trial.csv")),
                                  datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert full == "20260102T030405Z-trial-full-s4931"


def test_plan_fits_follows_each_specs_main_run():
    jobs = reanalysis.plan_fits(RunSettings(
        outcomes=("bsi", "sers_sf", "imrs_client"),
        analyses=("itt", "fidelity", "cace", "hospitalization")))
    assert jobs == [
        ("itt", "bsi"), ("itt", "sers_sf"), ("itt", "imrs_client"),
        ("fidelity", "sers_sf"), ("fidelity", "imrs_client"),  # main_run: fidelity
        ("cace", "imrs_client"),                                # main_run: primary
        ("hospitalization", None),                              # its own response
    ]
    # without the primary outcome, primary-only analyses take the first selected outcome
    jobs = reanalysis.plan_fits(RunSettings(outcomes=("bsi",), analyses=("cace", "fidelity")))
    assert jobs == [("cace", "bsi")]
    # the default plan: every analysis in its spec's order, 68 fits for 12 outcomes (55 before
    # the SPSS-parity rungs: itt_parity on all 12 outcomes, itt_categorical_parity on 1)
    jobs = reanalysis.plan_fits(RunSettings())
    assert len(jobs) == 68 and jobs[0] == ("itt", "imrs_client") and jobs[-1] == ("los", None)
    assert jobs[12] == ("itt_parity", "imrs_client")


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


def test_bad_user_data_fails_before_any_stage_runs(tmp_path, fake_registry):
    from imr_bayes.errors import DataValidationError

    bad = tmp_path / "trial.csv"
    bad.write_text("participant_id,arm,time\nP1,treatment,0\n")
    events = []
    with pytest.raises(DataValidationError, match="missing column"):
        reanalysis.run(RunSettings(data_path=bad), progress=events.append)
    assert events == []


@pytest.mark.parametrize(("label", "title"), [
    ([], "leiden_pilot: Bayesian reanalysis"),
    (["--study-label", "Leiden IMR pilot"], "Leiden IMR pilot: Bayesian reanalysis"),
])
def test_a_report_on_the_users_data_is_titled_after_the_study(fake_registry, tmp_path, label,
                                                              title):
    from imr_bayes.cli import main
    from imr_bayes.data import default_twin, save

    data = save(default_twin(), tmp_path / "leiden_pilot.csv")
    out = tmp_path / "reports"
    assert main(["reanalyze", "--data", str(data), *label, "--no-progress",
                 "--out", str(out)]) == 0
    folder = next(out.iterdir())
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["title"] == title
    assert f"<h1>{title}</h1>" in (folder / "index.html").read_text()
    tags = {s["key"]: s["source_tag"] for s in summary["sections"]}
    assert tags["first"] == "your data: leiden_pilot.csv"
    assert "IMR trial" not in title
