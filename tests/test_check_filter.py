"""`vosbench check --dataset / --model / --only-run`: a partial set of runs against the full baseline."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.support.cli import invoke

RUNS = Path(__file__).resolve().parent / "golden" / "runs"


def test_partial_runs_against_the_full_baseline(tmp_path):
    baseline = tmp_path / "baseline.csv"
    assert invoke("check", "--baseline", str(baseline), "--runs", str(RUNS), "--update").exit_code == 0
    partial = tmp_path / "runs"
    run = RUNS / "davis17-val" / "resnet18" / "20261123-080000-ffffff"
    shutil.copytree(run, partial / "davis17-val" / "resnet18" / run.name)

    full = invoke("check", "--baseline", str(baseline), "--runs", str(partial))
    assert full.exit_code == 1 and "baseline row(s) without a run" in full.output

    # resnet18 also has a davis16-val row: --model alone still reports that one as without a run
    r = invoke("check", "--baseline", str(baseline), "--runs", str(partial), "--model", "resnet18")
    assert r.exit_code == 1 and "on davis16-val" in r.output
    for flags in (["--model", "resnet18", "--dataset", "davis17-val"], ["--dataset", "davis17-val"], ["--only-run", str(partial / "davis17-val/resnet18" / run.name)]):
        r = invoke("check", "--baseline", str(baseline), "--runs", str(partial), *flags)
        assert r.exit_code == 0, (flags, r.output)
        assert "check passed" in r.output and "outside the filter were not checked" in r.output

    # a filter matching no baseline row is an error, not a vacuous pass
    r = invoke("check", "--baseline", str(baseline), "--runs", str(partial), "--model", "resnet50")
    assert r.exit_code == 2 and "no baseline row matches --model resnet50" in r.output
    # the filter still fails a row of the selection that has no run
    r = invoke("check", "--baseline", str(baseline), "--runs", str(partial), "--dataset", "davis16-val")
    assert r.exit_code == 1 and "without a run" in r.output
