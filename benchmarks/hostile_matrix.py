"""The hostile-input matrix: bad data, bad names, racing runs, full and read-only disks.

Runs every case as a real ``vosbench`` subprocess on tiny generated data and prints one row per
case: the exit code, the last line the command printed, and whether anything was written outside
the run folder. Cases that need a tmpfs (full disk, read-only --out) run only as root with
``mount`` available and are reported as ``skipped`` otherwise.

    python benchmarks/hostile_matrix.py                 # this checkout
    python benchmarks/hostile_matrix.py --only values   # only the unchecked-value cases (fast)
    PYTHONPATH=/tmp/orig python benchmarks/hostile_matrix.py   # another copy of the package

The unchecked-value cases cover every surface a run's settings come from: flags, config files
(``--config``), run records (``--replay``), the environment (torchrun, CUDA), the Python API's
names, sweeps, ``data check`` and ``data download``; each must end with exit code 2, one line, and
no run folder (the last column counts the folders made).

The other sections (``--only concurrent|lies|records|eval|api``): two writers on one run folder (both
exit codes, the refusal's first line, whether every sequence holds all its PNGs); run folders that
lie, through ``merge`` and ``run --resume``; records that lie, through ``leaderboard``, ``compare`` and
``check``, and two models with one ``--run-id``; forged YouTube-VOS zips and JHMDB keypoint files
through ``eval``; hostile encoder modules and a climbing name through ``vosbench.run`` (the row gives
the exception's type and first line). Their rows show the matrix's temporary folder as ``$T``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

PY = sys.executable
CLI = "import sys; from vosbench.cli.main import main; main(sys.argv[1:])"


def vb(args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None, wait: bool = True,
       timeout: float = 300):
    e = {**os.environ, "VOSBENCH_NO_PLUGINS": "1", "VOSBENCH_THREADS": "1", "COLUMNS": "200", **(env or {})}
    cmd = [PY, "-c", CLI, *args]
    if not wait:
        return subprocess.Popen(cmd, env=e, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, env=e, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def last_line(p) -> str:
    text = (p.stderr or "") + (p.stdout or "") if p.returncode else (p.stdout or "") + (p.stderr or "")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if p.returncode and any(ln.startswith("Traceback") for ln in lines):
        return "TRACEBACK: " + lines[-1][:150]
    err = [ln for ln in lines if ln.startswith("Error:")]
    return (err[0] if err else (lines[-1] if lines else ""))[:220]


def files_under(d: Path) -> set[Path]:
    return {p for p in d.rglob("*") if p.is_file()} if d.exists() else set()


def jf_of(out: Path) -> str:
    for s in out.rglob("summary.json"):
        rec = json.loads(s.read_text())
        m = rec.get("metrics", {})
        v = m.get("JF_mean", m.get("PCK@0.1"))
        return f"status={rec.get('status')} score={None if v is None else round(100 * v, 1)}"
    return "no summary.json"


def values_cases(base: Path, rows: list[tuple[str, int | str, str]]) -> None:
    """Bad values from every surface: exit code, first line, run folders made."""
    env_cpu = {"CUDA_VISIBLE_DEVICES": ""}
    run = ["run", "--model", "identity", "--sequences", "drift-2", "--device", "cpu"]

    def toml(name: str, text: str) -> str:
        f = base / f"{name}.toml"
        device = "" if text.startswith("device") else 'device = "cpu"\n'
        f.write_text('model = "identity"\nsequences = "drift-2"\n' + device + text)
        return str(f)

    def record(name: str, section: str, key: str | None, value: object) -> str:
        from vosbench.core.version import __version__

        rec: dict = {
            "model": {"name": "identity", "options": {}, "checkpoint": None},
            "dataset": {"name": "synthetic-davis", "sequences": ["drift-2"], "root": None},
            "protocol": {"name": "crw"},
            "run_config": {"batch_size": 4, "save_predictions": True, "dataset_options": {}},
            "environment": {"vosbench": __version__},
        }
        if key is None:
            rec[section] = value
        else:
            rec[section][key] = value
        f = base / f"{name}.json"
        f.write_text(json.dumps(rec))
        return str(f)

    fifo = base / "fifo"
    os.mkfifo(fifo)
    deep = base / "deep.toml"
    deep.write_text("a = " + "[" * 100_000 + "]" * 100_000 + "\n")
    grid = ["--sweep", "topk=" + ",".join(map(str, range(1, 301))), "--sweep", "context=" + ",".join(map(str, range(1, 301)))]
    cases: list[tuple[str, list[str], dict[str, str]]] = [
        ("--radius inf", [*run, "--radius", "inf"], {}),
        ("radius = inf", ["run", "--config", toml("radius", "radius = inf\n")], {}),
        ("TOML nested 100,000 deep", ["run", "--config", str(deep)], {}),
        ('device = "cuda:0" without CUDA', ["run", "--config", toml("cuda0", 'device = "cuda:0"\n')], env_cpu),
        ('device = "cuda:abc"', ["run", "--config", toml("cudaabc", 'device = "cuda:abc"\n')], {}),
        ("TOML shard = 5", ["run", "--config", toml("shard", "shard = 5\n")], {}),
        ("TOML run_id = 5", ["run", "--config", toml("rid5", "run_id = 5\n")], {}),
        ("TOML run_id = true", ["run", "--config", toml("ridtrue", "run_id = true\n")], {}),
        ("--config /dev/zero", ["run", "--config", "/dev/zero"], {}),
        ("--context 1000000000", [*run, "--context", "1000000000"], {}),
        ("--shard 0/1000000000", [*run, "--shard", "0/1000000000"], {}),
        ("RANK=1 WORLD_SIZE=2 without MASTER_ADDR", run, {"RANK": "1", "WORLD_SIZE": "2"}),
        ("replay: protocol = 5", ["run", "--replay", record("r1", "protocol", None, 5)], {}),
        ("replay: model options = 5", ["run", "--replay", record("r2", "model", "options", 5)], {}),
        ("replay: checkpoint = 5", ["run", "--replay", record("r3", "model", "checkpoint", 5)], {}),
        ("replay: batch size = 'x'", ["run", "--replay", record("r4", "run_config", "batch_size", "x")], {}),
        ("replay: dataset options = 5", ["run", "--replay", record("r5", "run_config", "dataset_options", 5)], {}),
        ("replay: environment = 5", ["run", "--replay", record("r6", "environment", None, 5)], {}),
        ("replay: batch_size = -3", ["run", "--replay", record("r7", "run_config", "batch_size", -3)], {}),
        ("replay: save_predictions = 'no'", ["run", "--replay", record("r8", "run_config", "save_predictions", "no")], {}),
        ("FIFO as --replay", ["run", "--replay", str(fifo)], {}),
        ("FIFO as --config", ["run", "--config", str(fifo)], {}),
        ("--temperature inf", [*run, "--temperature", "inf"], {}),
        ("--temperature 1e-50", [*run, "--temperature", "1e-50"], {}),
        ("missing --data-root of a generated set", [*run, "--data-root", str(base / "not-there")], {}),
        ("--run-id with a newline", [*run, "--run-id", "a\nb"], {}),
        ("--run-id of 252 bytes with a sweep", [*run, "--run-id", "r" * 252, "--sweep", "topk=1,2"], {}),
        ("--sweep of 90,000 points", [*run, *grid], {}),
    ]
    for name, args, env in cases:
        out = base / "values-runs" / str(len(rows))
        try:
            p = vb([*args, "--out", str(out)], env=env, timeout=60)
            code: int | str = p.returncode
            note = last_line(p)
        except subprocess.TimeoutExpired:
            code, note = "hang", "no answer in 60 s"
        made = len(list(out.glob("*/*/*"))) if out.exists() else 0
        rows.append((f"value: {name}", code, f"{note} / run folders made: {made}"))
    bad = base / "bad-name.py"
    bad.write_text(
        "import sys, torch, vosbench\n"
        "class M(torch.nn.Module):\n    stride = 8\n"
        "    def forward(self, x): return torch.nn.functional.avg_pool2d(x, 8, ceil_mode=True)\n"
        "try:\n"
        f"    vosbench.run(M(), 'synthetic-davis', name=sys.argv[1], out={str(base / 'api' / 'out')!r}, device='cpu')\n"
        "except vosbench.VosbenchError as e:\n    print('Error:', e); sys.exit(2)\n"
    )
    for name in ("../../x", "a/b", "a\nb"):
        p = subprocess.run([PY, str(bad), name], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "VOSBENCH_NO_PLUGINS": "1"})
        escaped = [str(q.relative_to(base)) for q in base.glob("**/x")] + [str(q) for q in (base / "api").rglob("b")]
        rows.append((f"API name={name!r}", p.returncode, last_line(p) + (f" / WROTE {escaped[0]}" if escaped else "")))


def data_cases(base: Path, src: Path, rows: list[tuple[str, int | str, str]]) -> None:
    """``data check`` on a truncated JPEG and on a FIFO among the frames."""
    for name in ("truncated JPEG", "FIFO frame"):
        d = base / f"check-{name.replace(' ', '-')}"
        shutil.copytree(src / "davis", d)
        frame = sorted((d / "JPEGImages/480p").rglob("*.jpg"))[2]
        if name == "FIFO frame":
            frame.unlink()
            os.mkfifo(frame)
        else:
            frame.write_bytes(frame.read_bytes()[: frame.stat().st_size // 3])
        try:
            p = vb(["data", "check", "synthetic-davis", "--data-root", str(d)], timeout=60)
            rows.append((f"data check, {name}", p.returncode, last_line(p)))
        except subprocess.TimeoutExpired:
            rows.append((f"data check, {name}", "hang", "no answer in 60 s"))


# --- issue-25 round-2 surfaces: racing writers, lying run folders and records, eval, API ------------

ROOT = Path(__file__).resolve().parents[1]
TMP = {"base": ""}  # the matrix's temporary folder, shown as $T in the rows of these sections


def first_line(p) -> str:
    """The first line a command printed (stderr first when it failed); a traceback is flagged."""
    text = (p.stderr or "") + (p.stdout or "") if p.returncode else (p.stdout or "") + (p.stderr or "")
    lines = [ln.strip().replace(TMP["base"] or "\0", "$T") for ln in text.splitlines() if ln.strip()]
    if any(ln.startswith("Traceback") for ln in lines):
        return "TRACEBACK: " + lines[-1][:150]
    return (lines[0] if lines else "")[:220]


def test_helpers():
    """Import a helper module of ``tests/`` (the repository root on ``sys.path``)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))


def together(*argvs: list[str], timeout: float = 300) -> list[subprocess.CompletedProcess]:
    """Start the ``vosbench`` commands at once; wait for all of them."""
    procs = [vb(a, wait=False) for a in argvs]
    done = []
    for argv, pr in zip(argvs, procs):
        out, err = pr.communicate(timeout=timeout)
        done.append(subprocess.CompletedProcess(argv, pr.returncode, out, err))
    return done


def davis_runs(base: Path, models: tuple[str, ...] = ("lab",)) -> tuple[Path, Path]:
    """Three generated DAVIS-layout videos and one run of each model (run id ``ref``) under ``runs/``."""
    data, runs = base / "davis", base / "runs"
    if not data.exists():
        p = vb(["data", "synth", "davis", "--out", str(data), "--videos", "3", "--frames", "8", "--size", "96x64"])
        assert p.returncode == 0, p.stderr
    for model in models:
        if not (runs / "synthetic-davis" / model / "ref").exists():
            p = vb(["run", "--model", model, "--dataset", "synthetic-davis", "--data-root", str(data), "--out",
                    str(runs), "--device", "cpu", "--run-id", "ref", "--quiet"])
            assert p.returncode == 0, p.stderr
    return data, runs


def png_check(run_dir: Path, reference: Path) -> str:
    """Whether every sequence of the run holds all the PNGs the reference run holds."""
    def of(d: Path) -> dict[str, set[str]]:
        return {s.name: {p.name for p in s.glob("*.png")} for s in (d / "predictions").iterdir() if s.is_dir()} \
            if (d / "predictions").is_dir() else {}
    got, want = of(run_dir), of(reference)
    short = [s for s in want if not want[s] <= got.get(s, set())]
    status = json.loads((run_dir / "summary.json").read_text()).get("status") if (run_dir / "summary.json").exists() \
        else "no summary.json"
    return f"status {status}; " + (f"PNGs missing in {short}" if short else f"all PNGs in {len(want)} sequences")


def concurrent_cases(base: Path, rows: list[tuple[str, int | str, str]]) -> None:
    """Two writers on one run folder: one ``--run-id`` at once, two ``--resume`` at once."""
    test_helpers()
    from tests.test_run_folder_writers import copy_run, sequences as plan_names

    data, runs = davis_runs(base)
    reference = runs / "synthetic-davis/lab/ref"
    out = base / "same"
    argv = ["run", "--model", "lab", "--dataset", "synthetic-davis", "--data-root", str(data), "--out", str(out),
            "--device", "cpu", "--run-id", "same", "--quiet"]
    res = together(argv, argv)
    refusal = next((first_line(p) for p in res if p.returncode), "no refusal")
    rows.append(("concurrent: two runs, one --run-id", ",".join(str(p.returncode) for p in res),
                 f"{refusal} / {png_check(out / 'synthetic-davis/lab/same', reference)}"))
    run_dir = copy_run(reference, base / "resumed", drop=tuple(plan_names(reference)[1:]))
    argv = ["run", "--resume", str(run_dir), "--quiet"]
    res = together(argv, argv)
    refusal = next((first_line(p) for p in res if p.returncode), "no refusal")
    rows.append(("concurrent: two --resume of one folder", ",".join(str(p.returncode) for p in res),
                 f"{refusal} / {png_check(run_dir, reference)}"))


def edit_json(path: Path, edit) -> None:
    doc = json.loads(path.read_text())
    edit(doc)
    path.write_text(json.dumps(doc))


def lying_folder_cases(base: Path, rows: list[tuple[str, int | str, str]]) -> None:
    """Run folders that lie, through ``merge`` and ``run --resume``: links, plan.json, result.json."""
    test_helpers()
    from tests.test_run_folder_writers import copy_run, sequences as plan_names

    _, runs = davis_runs(base)
    reference = runs / "synthetic-davis/lab/ref"
    a, b = plan_names(reference)[:2]

    def partial_link(run_dir: Path) -> None:
        victim = run_dir.parent / "victim-partial"
        (victim / a).mkdir(parents=True)
        (run_dir / ".partial").symlink_to(victim)

    def forged_name(run_dir: Path) -> None:
        forged = run_dir / "sequences" / "../../x/forged"
        shutil.copytree(reference / "sequences" / a, forged)
        edit_json(run_dir / "plan.json", lambda p: p["sequences"].append({"name": "../../x/forged", "frames": 8}))

    def sequence_link(run_dir: Path) -> None:
        forged = run_dir.parent / "victim-link" / a
        shutil.copytree(reference / "sequences" / a, forged)
        shutil.rmtree(run_dir / "sequences" / a)
        (run_dir / "sequences" / a).symlink_to(forged)

    cases = {
        "symlinked .partial": (partial_link, (a,)),
        "sequence listed twice in plan.json": (
            lambda d: edit_json(d / "plan.json", lambda p: p["sequences"].append(dict(p["sequences"][0]))), ()),
        "sequence dropped from plan.json": (
            lambda d: edit_json(d / "plan.json", lambda p: p["sequences"].pop()), ()),
        "plan name ../../x/forged": (forged_name, ()),
        "sequences/<seq> is a symlink": (sequence_link, ()),
        "result.json 'sequence' edited": (
            lambda d: edit_json(d / "sequences" / a / "result.json", lambda r: r.__setitem__("sequence", b)), ()),
    }
    for name, (lie, drop) in cases.items():
        for command in ("merge", "--resume"):
            slug = f"{name}-{command}".translate(str.maketrans(" /.<>'", "______"))
            run_dir = copy_run(reference, base / slug / "runs", drop=drop)
            lie(run_dir)
            p = vb(["merge", str(run_dir)] if command == "merge" else ["run", "--resume", str(run_dir), "--quiet"])
            rows.append((f"folder lie: {name} ({command})", p.returncode, first_line(p)))


def csv_rows(text: str) -> dict[str, dict[str, str]]:
    """A leaderboard's CSV rows by model."""
    import csv
    import io

    return {r["model"]: r for r in csv.DictReader(io.StringIO(text))}


def lying_record_cases(base: Path, rows: list[tuple[str, int | str, str]]) -> None:
    """Records that lie, through ``leaderboard``, ``compare`` and ``check``; two models, one run id."""
    _, runs = davis_runs(base, ("lab", "identity"))
    baseline = base / "baseline.csv"
    p = vb(["check", "--baseline", str(baseline), "--runs", str(runs), "--update"])
    assert p.returncode == 0, p.stderr

    def add_row(run_dir: Path) -> None:
        f = run_dir / "per_object.csv"
        lines = f.read_text().splitlines()
        f.write_text("\n".join([*lines, lines[1]]) + "\n")

    def interval(run_dir: Path) -> None:
        point = json.loads((run_dir / "summary.json").read_text())["metrics"]["JF_mean"]
        block = {"level": 0.95, "method": "percentile", "resamples": 100, "seed": 0, "unit": "sequence",
                 "metrics": {"JF_mean": {"low": point + 0.1, "high": point + 0.2}}}
        edit_json(run_dir / "summary.json", lambda d: d.__setitem__("ci", block))

    cases = {
        "JF_mean -3.0 in summary.json": lambda d: edit_json(
            d / "summary.json", lambda s: s["metrics"].__setitem__("JF_mean", -3.0)),
        "per_object.csv row duplicated": add_row,
        "interval not containing its point": interval,
    }
    for name, lie in cases.items():
        copy = base / "record-lies" / name.translate(str.maketrans(" .-", "___"))
        shutil.copytree(runs, copy)
        lab, identity = copy / "synthetic-davis/lab/ref", copy / "synthetic-davis/identity/ref"
        lie(lab)
        for command in (["leaderboard", "--runs", str(copy), "--per-sequence"],
                        ["leaderboard", "--runs", str(copy), "--ci", "--format", "csv"],
                        ["compare", str(lab), str(identity)], ["check", "--baseline", str(baseline), "--runs", str(copy)]):
            p = vb(command)
            note = first_line(p)
            if p.returncode == 0 and "--ci" in command:
                r = csv_rows(p.stdout)["lab"]
                note = f"lab's JF_mean interval: [{r['JF_mean_ci_low']}, {r['JF_mean_ci_high']}]"
            rows.append((f"record lie: {name} ({' '.join(c for c in command if c.startswith('-') or c.isalpha())})",
                         p.returncode, note))
    p = vb(["leaderboard", "--runs", str(runs), "--ci", "--format", "csv"])
    table = csv_rows(p.stdout) if p.returncode == 0 else {}
    shown = "; ".join(f"{m} {float(r['JF_mean_ci_low']):.4f} <= {float(r['JF_mean']):.4f} <= "
                      f"{float(r['JF_mean_ci_high']):.4f}" for m, r in sorted(table.items()))
    own = len({(r["JF_mean_ci_low"], r["JF_mean_ci_high"]) for r in table.values()}) == len(table) == 2
    rows.append(("two models, one --run-id: leaderboard --ci", p.returncode,
                 (shown or first_line(p)) + f" / each its own interval: {own}"))
    lines = baseline.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[1].split(",")
    cells[header.index("JF_mean")] = ""
    blank = base / "blank-baseline.csv"
    blank.write_text("\n".join([lines[0], ",".join(cells), *lines[2:]]) + "\n")
    p = vb(["check", "--baseline", str(blank), "--runs", str(runs)])
    rows.append(("record lie: blank JF_mean cell in the baseline (check)", p.returncode, first_line(p)))


def eval_cases(base: Path, rows: list[tuple[str, int | str, str]]) -> None:
    """``vosbench eval`` on a forged YouTube-VOS zip and a JHMDB keypoint CSV with a row twice."""
    import zipfile

    test_helpers()
    from tests.test_eval_benchmarks import _forged, _scored_member

    data, runs = base / "ytvos", base / "yt-runs"
    for cmd in (["data", "synth", "ytvos", "--out", str(data), "--videos", "2", "--frames", "5", "--size", "96x64"],
                ["run", "--model", "lab", "--dataset", "synthetic-ytvos", "--data-root", str(data), "--out", str(runs),
                 "--device", "cpu", "--quiet"]):
        p = vb(cmd)
        assert p.returncode == 0, p.stderr
    z = next(runs.rglob("submission.zip"))
    scored = _scored_member(data, z)
    forged = {"member flagged encrypted": {"flags": 0x1}, "unknown compression method 99": {"method": 99},
              "member declaring 2 GiB": {"sizes": {scored: 0x7FFFFFFF}}}
    for name, how in forged.items():
        bad = base / f"{name.replace(' ', '-')}.zip"
        _forged(z, bad, **how)
        p = vb(["eval", "--benchmark", "ytvos", "--gt", str(data / "valid_gt/Annotations"), "--meta",
                str(data / "valid/meta.json"), "--pred", str(bad)])
        rows.append((f"eval ytvos zip: {name}", p.returncode, first_line(p)))
    assert zipfile.is_zipfile(z)
    jdata, jruns = base / "jhmdb", base / "jh-runs"
    for cmd in (["data", "synth", "jhmdb", "--out", str(jdata), "--videos", "2", "--frames", "5"],
                ["run", "--model", "lab", "--dataset", "synthetic-jhmdb", "--data-root", str(jdata), "--out",
                 str(jruns), "--device", "cpu", "--quiet"]):
        p = vb(cmd)
        assert p.returncode == 0, p.stderr
    kdir = base / "keypoints"
    shutil.copytree(next(jruns.rglob("keypoints")), kdir)
    victim = sorted(kdir.glob("*.csv"))[0]
    lines = victim.read_text().splitlines()
    frame, joint = lines[5].split(",")[:2]
    victim.write_text("\n".join([*lines, f"{frame},{joint},1.0,2.0"]) + "\n")
    p = vb(["eval", "--benchmark", "jhmdb", "--gt", str(jdata), "--pred", str(kdir)])
    rows.append(("eval jhmdb: (frame, joint) row twice", p.returncode, first_line(p)))


def api_cases(base: Path, rows: list[tuple[str, int | str, str]]) -> None:
    """Hostile encoder modules and a climbing name through ``vosbench.run``: exception type, first line."""
    os.environ.setdefault("VOSBENCH_NO_PLUGINS", "1")
    test_helpers()
    import vosbench
    from tests import test_contract as tc

    class Honest(tc.Hostile):
        def real(self, x, f):
            return f

    cases = [(cls.__name__, cls(), {}) for cls in (tc.Finer, tc.Meta, tc.NaNs, tc.Infs, tc.NoChannels, tc.Int64,
                                                   tc.Shrunk)]
    cases.append(("name='../../x'", Honest(), {"name": "../../x"}))
    for label, module, extra in cases:
        out = base / "api" / label.translate(str.maketrans("=./'", "____"))
        try:
            res = vosbench.run(module, "synthetic-davis", sequences=["drift-2"], device="cpu", batch_size=4,
                               out=str(out), **extra)
            code, note = "no error", f"status {res.record['status']}"
        except Exception as e:  # noqa: BLE001  (the row reports whatever the API raised)
            code, note = type(e).__name__, (str(e).splitlines() or [""])[0][:220]
        escaped = [q.relative_to(base) for q in base.rglob("x") if q.is_dir()]
        rows.append((f"API: {label}", code, note + (f" / WROTE {escaped[0]}" if escaped else "")))


SECTIONS = {"concurrent": concurrent_cases, "lies": lying_folder_cases, "records": lying_record_cases,
            "eval": eval_cases, "api": api_cases}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("all", "values", *SECTIONS), default="all",
                        help="run every case, or one section: the unchecked values, two writers on one run folder "
                             "(concurrent), run folders that lie (lies), records that lie (records), forged eval "
                             "inputs (eval), hostile encoders through the Python API (api)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="vb-hostile-"))
    TMP["base"] = str(base)
    rows: list[tuple[str, int | str, str]] = []
    if args.only != "all":
        only = values_cases if args.only == "values" else SECTIONS[args.only]
        only(base, rows)
        print_rows(rows)
        shutil.rmtree(base, ignore_errors=True)
        return
    src = base / "src"
    for kind, extra in (("davis", []), ("ytvos", []), ("jhmdb", [])):
        p = vb(["data", "synth", kind, "--out", str(src / kind), "--videos", "2", "--frames", "6", "--size", "96x64", *extra])
        assert p.returncode == 0, p.stderr

    def case(name: str, kind: str) -> Path:
        d = base / name / "data"
        shutil.copytree(src / kind, d)
        return d

    def run(name: str, dataset: str, root: Path, model: str = "lab") -> None:
        out = base / name / "runs"
        start_ns = time.time_ns()
        p = vb(["run", "--model", model, "--dataset", dataset, "--data-root", str(root), "--out", str(out),
                "--device", "cpu"])
        changed = {f for f in files_under(base) - files_under(out) if f.stat().st_mtime_ns >= start_ns}
        run_dirs = [s.parent for s in out.rglob("summary.json")]
        changed |= {f for f in files_under(out) if not any(r in f.parents for r in run_dirs)}
        note = last_line(p)
        if changed:
            note += f" / WROTE {len(changed)} file(s) outside --out, e.g. {sorted(changed)[0].relative_to(base)}"
        if p.returncode == 0:
            note += f" / {jf_of(out)}"
        rows.append((name, p.returncode, note))

    # --- 1. names used as paths -------------------------------------------------------------------
    d = case("ytvos-dotdot-name", "ytvos")
    meta = json.loads((d / "valid/meta.json").read_text())
    vid = sorted(meta["videos"])[1]
    bad = "../../../ESCAPED_yt"
    meta["videos"][bad] = meta["videos"].pop(vid)
    (d / "valid/meta.json").write_text(json.dumps(meta))
    shutil.move(d / "all_frames/valid_all_frames/JPEGImages" / vid, d / "ESCAPED_yt")
    shutil.move(d / "valid_gt/Annotations" / vid, d.parent / "ESCAPED_yt")
    shutil.rmtree(d / "valid/JPEGImages" / vid)
    shutil.rmtree(d / "valid/Annotations" / vid)
    run("ytvos-dotdot-name", "synthetic-ytvos", d)

    d = case("ytvos-nested-name", "ytvos")
    meta = json.loads((d / "valid/meta.json").read_text())
    vid = sorted(meta["videos"])[1]
    meta["videos"]["sub/" + vid] = meta["videos"].pop(vid)
    (d / "valid/meta.json").write_text(json.dumps(meta))
    for tree in ("all_frames/valid_all_frames/JPEGImages", "valid/JPEGImages", "valid/Annotations", "valid_gt/Annotations"):
        (d / tree / "sub").mkdir()
        shutil.move(d / tree / vid, d / tree / "sub" / vid)
    run("ytvos-nested-name", "synthetic-ytvos", d)
    z = next((base / "ytvos-nested-name/runs").rglob("submission.zip"), None)
    if z is not None:
        import zipfile

        names = zipfile.ZipFile(z).namelist()
        rows[-1] = (rows[-1][0], rows[-1][1], rows[-1][2] + f" | zip holds {len({n.split('/')[1] for n in names})} of 2 videos")

    d = case("davis17-absolute-name", "davis")
    seqs = (d / "ImageSets/2017/val.txt").read_text().split()
    victim = base / "davis17-absolute-name" / "victim"
    shutil.copytree(d / "JPEGImages/480p" / seqs[1], victim)
    for png in (d / "Annotations/480p" / seqs[1]).iterdir():
        shutil.copy(png, victim / png.name)
    (d / "ImageSets/2017/val.txt").write_text(f"{seqs[0]}\n{victim}\n")
    run("davis17-absolute-name", "synthetic-davis", d)

    d = case("davis17-dotdot-name", "davis")
    (d / "ImageSets/2017/val.txt").write_text(f"{seqs[0]}\n../../../{seqs[1]}\n")
    run("davis17-dotdot-name", "synthetic-davis", d)

    d = case("davis17-control-char-name", "davis")
    (d / "ImageSets/2017/val.txt").write_text(f"{seqs[0]}\n{seqs[1]}\u202e\n")
    os.rename(d / "JPEGImages/480p" / seqs[1], d / "JPEGImages/480p" / (seqs[1] + "\u202e"))
    os.rename(d / "Annotations/480p" / seqs[1], d / "Annotations/480p" / (seqs[1] + "\u202e"))
    run("davis17-control-char-name", "synthetic-davis", d)

    d = case("davis16-dotdot-line", "davis")
    lines = []
    for s in seqs:
        for f in sorted((d / "JPEGImages/480p" / s).iterdir()):
            lines.append(f"/JPEGImages/480p/../../{s}/{f.name} /Annotations/480p/{s}/{f.stem}.png")
    (d / "ImageSets/480p").mkdir(parents=True)
    (d / "ImageSets/480p/val.txt").write_text("\n".join(lines) + "\n")
    run("davis16-dotdot-line", "davis16-val", d)

    d = case("jhmdb-dotdot-name", "jhmdb")
    split = sorted((d / "splits").glob("*_test_split1.txt"))[0]
    cls = split.name.split("_test_split")[0]
    video = split.read_text().split()[0].removesuffix(".avi")
    (d / "ESCAPED_jh").mkdir()
    for f in (d / "Rename_Images" / cls / video).iterdir():
        shutil.copy(f, d / "ESCAPED_jh" / f.name)
    shutil.copy(d / "joint_positions" / cls / video / "joint_positions.mat", d / "ESCAPED_jh")
    split.write_text(split.read_text().replace(f"{video}.avi", "../../ESCAPED_jh.avi", 1))
    run("jhmdb-dotdot-name", "synthetic-jhmdb", d)

    # --- 2. racing first-use runs on an empty cache --------------------------------------------------
    for trial in range(2):
        cache = base / f"race-cache-{trial}"
        procs = [
            vb(["run", "--model", "identity", "--out", str(base / f"race-{trial}-{k}"), "--device", "cpu"],
               env={"VOSBENCH_CACHE": str(cache)}, wait=False)
            for k in range(2)
        ]
        for k, pr in enumerate(procs):
            pr.communicate(timeout=300)
            pr.stdout, pr.stderr = "", ""
            rows.append((f"race-first-use trial {trial} run {k}", pr.returncode,
                         jf_of(base / f"race-{trial}-{k}")))

    # --- 3. check that compares nothing / malformed baselines ----------------------------------------
    runs = base / "check-runs"
    vb(["run", "--model", "identity", "--dataset", "synthetic-davis", "--data-root", str(src / "davis"),
        "--out", str(runs), "--device", "cpu"])
    good = base / "baseline.csv"
    p = vb(["leaderboard", "--format", "csv", "--runs", str(runs)])
    good.write_text(p.stdout)
    header, row = good.read_text().splitlines()[:2]
    cols = header.split(",")
    from vosbench.results.leaderboard import METRIC_BY_KEY  # noqa: E402  (columns only)

    import csv
    import io

    cells = next(csv.reader([row]))
    blank = [("" if c in METRIC_BY_KEY else v) for c, v in zip(cols, cells)]
    keep = [i for i, c in enumerate(cols) if c not in METRIC_BY_KEY]

    def csv_line(values: list[str]) -> str:
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(values)
        return buf.getvalue()

    variants = {
        "check-blank-metric-cells": header + "\n" + csv_line(blank),
        "check-no-metric-columns": csv_line([cols[i] for i in keep]) + csv_line([cells[i] for i in keep]),
        "check-unbalanced-quote": header + "\n" + row.replace(",", ',"', 1) + "\n",
        "check-truncated-row": header + "\n" + ",".join(row.split(",")[:3]) + "\n",
    }
    for name, text in variants.items():
        f = base / f"{name}.csv"
        f.write_text(text)
        p = vb(["check", "--baseline", str(f), "--runs", str(runs)])
        rows.append((name, p.returncode, last_line(p)))

    # --- 4. --dataset-option values ------------------------------------------------------------------
    d = case("option-all-frames-false", "ytvos")
    out = base / "option-all-frames-false/runs"
    p = vb(["run", "--dataset", "synthetic-ytvos", "--data-root", str(d), "--out", str(out), "--device", "cpu",
            "--dataset-option", "all_frames=false"])
    rec = next(out.rglob("summary.json"), None)
    af = json.loads(rec.read_text())["dataset"].get("all_frames") if rec else None
    rows.append(("dataset-option all_frames=false", p.returncode, last_line(p) + f" | record all_frames={af}"))
    for opt in ("frames=8", "bogus=1"):
        p = vb(["run", "--dataset", "synthetic-davis", "--data-root", str(src / "davis"), "--out",
                str(base / "opt-runs"), "--device", "cpu", "--dataset-option", opt])
        rows.append((f"dataset-option {opt}", p.returncode, last_line(p)))

    # --- 5. bad inputs that change scores ------------------------------------------------------------
    d = case("ytvos-object-without-mask", "ytvos")
    meta = json.loads((d / "valid/meta.json").read_text())
    vid = sorted(meta["videos"])[1]
    objs = meta["videos"][vid]["objects"]
    frames = max((o["frames"] for o in objs.values()), key=len)
    objs["9"] = {"category": "ellipse", "frames": frames}
    (d / "valid/meta.json").write_text(json.dumps(meta))
    run("ytvos-object-without-mask", "synthetic-ytvos", d)

    d = case("jhmdb-all-nan-video", "jhmdb")
    import scipy.io

    mat = sorted((d / "joint_positions").rglob("joint_positions.mat"))[0]
    m = scipy.io.loadmat(str(mat))
    m["pos_img"] = np.full_like(m["pos_img"], np.nan)
    scipy.io.savemat(str(mat), {k: v for k, v in m.items() if not k.startswith("__")})
    run("jhmdb-all-nan-video", "synthetic-jhmdb", d)

    # --- 6. frame-0 annotation size -----------------------------------------------------------------
    for model in ("lab", "identity"):
        d = case(f"frame0-annotation-size-{model}", "davis")
        png = sorted((d / "Annotations/480p").iterdir())[0] / "00000.png"
        im = Image.open(png)
        im.resize((80, 48), Image.NEAREST).save(png)
        run(f"frame0-annotation-size-{model}", "synthetic-davis", d, model=model)

    # --- 7. file-system failures ---------------------------------------------------------------------
    afile = base / "a-file"
    afile.write_text("x")
    p = vb(["run", "--dataset", "synthetic-davis", "--data-root", str(src / "davis"), "--out", str(afile / "runs"),
            "--device", "cpu"])
    rows.append(("--out below a regular file", p.returncode, last_line(p)))
    mnt = base / "mnt"
    mnt.mkdir()
    can_mount = os.geteuid() == 0 and subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k,ro", "tmpfs", str(mnt)]).returncode == 0
    if can_mount:
        p = vb(["run", "--dataset", "synthetic-davis", "--data-root", str(src / "davis"), "--out", str(mnt / "runs"),
                "--device", "cpu"])
        rows.append(("read-only --out (ro tmpfs)", p.returncode, last_line(p)))
        subprocess.run(["umount", str(mnt)])
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12k", "tmpfs", str(mnt)], check=True)
        p = vb(["run", "--dataset", "synthetic-davis", "--data-root", str(src / "davis"), "--out", str(mnt / "runs"),
                "--device", "cpu"])
        rec = next(mnt.rglob("summary.json"), None)
        st = json.loads(rec.read_text()).get("status") if rec else "none"
        rows.append(("full disk (12 KiB tmpfs --out)", p.returncode, last_line(p) + f" | summary.json status: {st}"))
        subprocess.run(["umount", str(mnt)])
    else:
        rows.append(("read-only --out / full disk", "skipped", "needs root and mount"))
    gt = base / "loop-gt"
    shutil.copytree(src / "davis/Annotations/480p", gt)
    os.symlink(gt / "loop", gt / "loop")
    p = vb(["eval", "--gt", str(gt), "--pred", str(src / "davis/Annotations/480p"), "--out", str(base / "scores.csv"),
            "--workers", "1"])
    rows.append(("symlink loop in eval --gt", p.returncode, last_line(p)))
    (gt / "loop").unlink()
    os.symlink(gt / "loop2", gt / "loop1")
    os.symlink(gt / "loop1", gt / "loop2")
    p = vb(["eval", "--gt", str(gt), "--pred", str(src / "davis/Annotations/480p"), "--workers", "1"])
    rows.append(("symlink loop (pair) in eval --gt, no --out", p.returncode, last_line(p)))

    # --- 8. unchecked values, data check ----------------------------------------------------------
    values_cases(base, rows)
    data_cases(base, src, rows)
    for name, section in SECTIONS.items():
        (base / name).mkdir()
        section(base / name, rows)
    print_rows(rows)
    shutil.rmtree(base, ignore_errors=True)


def print_rows(rows: list[tuple[str, int | str, str]]) -> None:
    print("| case | exit | message |")
    print("|---|---|---|")
    for name, code, msg in rows:
        print(f"| {name} | {code} | {msg.replace('|', '/').replace(chr(10), ' ')} |")


if __name__ == "__main__":
    main()
