"""One command line: every subcommand's help, shared options with one meaning, no abbreviations.

The expected option sets below are the contract: ``--outcomes`` wherever outcomes are
chosen, ``--quick`` (the run's ``QUICK_SAMPLING``) wherever Bayesian fits are made,
``--data`` with ``--column-map`` and the import options wherever participant data are read.
The data options are checked end to end: the CLI and the API fit a wide export to the same
numbers, and a run on a file keeps the file's SHA-256 in the report's provenance.
"""

from __future__ import annotations

import argparse
import hashlib
import io
from pathlib import Path

import pandas as pd
import pytest

import imr_bayes
from imr_bayes.cli import SUBCOMMANDS, build_parser, main
from imr_bayes.cli.options import outcome_codes, quick_text, sampler_settings
from imr_bayes.data import ImportSpec, default_twin, required_columns
from imr_bayes.reanalysis import QUICK_SAMPLING, RunSettings

IMPORTS = Path(__file__).parent / "fixtures" / "import"
#: Subcommand -> the shared options it must have (and no other of them).
SHARED = {
    "reanalyze": {"--outcomes", "--quick", "--data", "--column-map"},
    "compare": {"--outcomes", "--quick", "--data", "--column-map"},
    "fit": {"--outcomes", "--quick", "--data", "--column-map"},
    "sensitivity": {"--outcomes", "--quick", "--data", "--column-map"},
    "frequentist": {"--outcomes", "--data", "--column-map"},
    "calibrate": {"--outcomes"},
    "summary-reanalysis": {"--quick"},  # the partial-pooling fits of --pooling
    "study": {"--quick"},  # deprecated alias of --smoke, for one release
    "audit": set(), "published": set(), "simulate": set(),
}
IMPORT_OPTIONS = {"--layout", "--time-pattern", "--time-codes", "--arm-codes", "--na-values"}
WIDE_MAP = ["ID=participant_id", "Group=arm", "Team=team", "Imr_group=imr_group",
            "IMRS_client=imrs_client"]


def subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    return {o for a in parser._actions for o in a.option_strings}


def test_every_subcommand_is_covered():
    assert set(SHARED) == set(SUBCOMMANDS) == set(subparsers())


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_help_renders_with_a_text_for_every_option(name):
    parser = subparsers()[name]
    text = parser.format_help()
    assert "%%" not in text and "%(" not in text
    assert not parser.allow_abbrev and not build_parser().allow_abbrev
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help and action.help != argparse.SUPPRESS, (name, action.dest)
    opts = options_of(parser)
    assert SHARED[name] == opts & {"--outcomes", "--quick", "--data", "--column-map"}
    if "--data" in opts:
        assert IMPORT_OPTIONS <= opts
    quick = next((a for a in parser._actions if "--quick" in a.option_strings), None)
    if quick is not None and name != "study":
        assert quick_text() in quick.help  # one meaning, said in the same words


def test_quick_text_is_the_runs_quick_sampling():
    assert quick_text() == "2 chains x 200 draws after 200 tuning steps"
    assert QUICK_SAMPLING == {"chains": 2, "draws": 200, "tune": 200}


@pytest.mark.parametrize("argv", [
    ["compare", "--outcome", "bsi"],     # once silently read as --outcomes
    ["fit", "--out", "x", "--outc", "bsi"],
    ["reanalyze", "--qui"],
    ["sensitivity", "--column", "a=b"],
])
def test_abbreviations_are_refused(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "unrecognized arguments" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["fit", "compare", "reanalyze", "sensitivity"])
def test_quick_means_quick_sampling_and_explicit_settings_win(name, tmp_path):
    parse = build_parser().parse_args
    out = ["--out", str(tmp_path)]
    assert sampler_settings(parse([name, "--quick", *out])) == QUICK_SAMPLING
    assert sampler_settings(parse([name, "--quick", "--draws", "50", *out])) == {
        **QUICK_SAMPLING, "draws": 50}
    assert sampler_settings(parse([name, *out])) == {}  # the spec's own settings
    args = parse([name, "--quick", *out])
    assert RunSettings(quick=args.quick).sampling == QUICK_SAMPLING


def test_outcomes_everywhere_and_the_old_outcome_with_a_warning(capsys):
    parse = build_parser().parse_args
    assert outcome_codes(parse(["fit", "--out", "x", "--outcomes", "bsi", "sfs", "bsi"]),
                         default=()) == ("bsi", "sfs")
    assert outcome_codes(parse(["calibrate", "--outcomes", "all"]),
                         default=()) == imr_bayes.outcomes.CODES
    assert capsys.readouterr().err == ""
    for argv in (["fit", "--out", "x", "--outcome", "bsi", "--outcome", "sfs"],
                 ["calibrate", "--outcome", "bsi", "--outcome", "sfs"]):
        assert outcome_codes(parse(argv), default=()) == ("bsi", "sfs")
        err = capsys.readouterr().err
        assert "--outcome is deprecated" in err and "use --outcomes bsi sfs" in err
    with pytest.raises(SystemExit):
        parse(["fit", "--out", "x", "--outcome", "bsi", "--outcomes", "sfs"])
    with pytest.raises(imr_bayes.ImrBayesError, match="Did you mean 'bsi'"):
        outcome_codes(parse(["sensitivity", "--outcomes", "bsii"]), default=())


def test_fit_reads_a_wide_export_through_the_data_options(tmp_path, capsys):
    """The CLI and the API fit the same file to the same numbers (seeded, deterministic)."""
    code = main(["fit", "--outcomes", "imrs_client", "--quick", "--seed", "3",
                 "--data", str(IMPORTS / "twin_wide.csv"), "--column-map", *WIDE_MAP,
                 "--na-values", "-99", "999", "--out", str(tmp_path)])
    assert code in (0, 1)  # quick: the diagnostics may fail, and then say so
    assert "imrs_client: condition_x_time" in capsys.readouterr().out
    api = imr_bayes.fit(default_twin(), outcome="imrs_client", seed=3, **QUICK_SAMPLING)
    cli = pd.read_csv(tmp_path / "estimates.csv")
    ref = pd.read_csv(io.StringIO(api.estimates.table.to_csv(index=False)))
    pd.testing.assert_frame_equal(cli, ref)
    back = imr_bayes.BayesianFit.load(tmp_path / "itt_imrs_client.nc")
    pd.testing.assert_frame_equal(back.estimates.table, api.estimates.table)


def test_a_run_on_a_file_loads_it_with_the_import_spec_and_keeps_its_sha256(tmp_path):
    from imr_bayes.cli.data_options import import_spec_of
    from imr_bayes.provenance import data_sha256
    from imr_bayes.reanalysis import run
    from imr_bayes.report.sections import provenance

    path = IMPORTS / "twin_wide.csv"
    args = build_parser().parse_args(
        ["reanalyze", "--data", str(path), "--column-map", str(IMPORTS / "twin_wide_csv.yaml"),
         "--outcomes", "imrs_client", "--analyses", "itt"])
    spec = import_spec_of(args)
    assert isinstance(spec, ImportSpec) and spec.na_values == (-99, 999)
    settings = RunSettings(data_path=args.data, column_map=spec, outcomes=("imrs_client",),
                           analyses=("itt",))
    result = run(settings, stages=("data",))
    twin = default_twin()
    assert result.data_hash == data_sha256(twin)  # every column of the file, as the twin's
    items = provenance(result).summary["items"]  # the report's provenance section
    assert hashlib.sha256(path.read_bytes()).hexdigest() in items.values()
    # only the columns of the requested analyses are required
    short = tmp_path / "short.csv"
    twin[list(required_columns(["itt"], ["imrs_client"]))].to_csv(short, index=False)
    assert run(RunSettings(data_path=short, outcomes=("imrs_client",), analyses=("itt",)),
               stages=("data",)).data_hash == data_sha256(
        twin[list(required_columns(["itt"], ["imrs_client"]))])


@pytest.mark.parametrize(("flag", "warned"), [("--smoke", False), ("--quick", True)])
def test_study_smoke_settings_and_the_deprecated_quick(flag, warned, monkeypatch, tmp_path,
                                                       capsys):
    import imr_bayes.studies.runner as runner

    seen = {}

    def fake_run_study(name, **kwargs):
        seen.update(kwargs)
        raise imr_bayes.ImrBayesError("stopped before any replicate")

    monkeypatch.setattr(runner, "run_study", fake_run_study)
    argv = ["study", "nesting", "--replicates", "1", "--no-progress", flag, "--out",
            str(tmp_path / "store")]
    assert main(argv) == 2
    assert seen["quick"] is True  # the study's smoke settings either way
    err = capsys.readouterr().err
    assert ("--quick is deprecated here and will be removed" in err) == warned
    assert ("use --smoke" in err) == warned
