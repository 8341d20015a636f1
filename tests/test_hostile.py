"""Hostile and broken inputs: names that escape folders, racing caches, checks that
compare nothing, untyped dataset options, inputs that silently change scores, wrong blame, and
ordinary file-system failures. Every case must end in one line and exit 2 (or a documented rule),
never a traceback, and nothing may be written outside the run folder."""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import random
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vosbench.core.errors import ConfigError, DatasetLayoutError, InputFileError
from tests.support.cli import invoke

GOLDEN_RUNS = Path(__file__).resolve().parent / "golden" / "runs"
CLI = "import sys; from vosbench.cli.main import main; main(sys.argv[1:])"


def assert_clean_exit_2(res, *needles: str) -> str:
    out = res.output
    assert res.exit_code == 2, (res.exit_code, out, res.exc_info)
    assert isinstance(res.exception, SystemExit), res.exc_info
    assert "Traceback" not in out
    for n in needles:
        assert n in out, (n, out)
    return out


# --- small generated layouts, tampered per test ---------------------------------------------------


@pytest.fixture(scope="module")
def layouts(tmp_path_factory) -> dict[str, Path]:
    from vosbench.datasets.synthetic.layouts import generate_davis, generate_jhmdb, generate_ytvos

    base = tmp_path_factory.mktemp("layouts")
    return {
        "davis": generate_davis(base / "davis", videos=2, frames=5, size=(64, 64)),
        "ytvos": generate_ytvos(base / "ytvos", videos=2, frames=3, size=(64, 64), all_frames=False),
        "jhmdb": generate_jhmdb(base / "jhmdb", videos=2, frames=3, size=(64, 64)),
    }


def copy_layout(layouts: dict[str, Path], kind: str, dest: Path) -> Path:
    return Path(shutil.copytree(layouts[kind], dest))


def snapshot(folder: Path) -> dict[Path, tuple[int, int]]:
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()}


def written_outside_runs(before: dict[Path, tuple[int, int]], top: Path, out: Path) -> list[Path]:
    """Files created or changed under ``top`` that are not inside a run folder below ``out``."""
    run_dirs = [s.parent for s in out.rglob("summary.json")] if out.exists() else []
    after = snapshot(top)
    changed = [p for p, st in after.items() if before.get(p) != st]
    return [p for p in changed if not any(r == p.parent or r in p.parents for r in run_dirs)]


# --- 1. names from dataset files are single safe path components -----------------------------------


def hostile_names(tmp_path: Path) -> list[str]:
    """Fixed hostile names plus a few generated ones (seeded)."""
    fixed = [
        "..",
        ".",
        "../../ESCAPED",
        str(tmp_path / "victim"),  # absolute
        "sub/inner",
        "a\\b",
        "bad\u202ename",  # right-to-left override
        "zero\u200bwidth",
        "esc\x1bname",
        "nul\x00name",
        "x" * 300,
    ]
    pieces = ["..", "/", "\\", "\x00", "\u202e", "\u200b", "\x7f", "\x1b", "seq", "\u2066", "y" * 120]
    rng = random.Random(12)
    generated = ["".join(rng.choice(pieces) for _ in range(rng.randint(2, 4))) for _ in range(4)]
    return fixed + [g for g in generated if any(p != "seq" and p in g for p in pieces)]


def inject(kind: str, root: Path, name: str) -> tuple[str, Path]:
    """Put ``name`` into the dataset file of ``kind``; return (dataset, the file changed)."""
    if kind == "davis17":
        f = root / "ImageSets/2017/val.txt"
        f.write_text(f.read_text().splitlines()[0] + "\n" + name + "\n", encoding="utf-8")
        return "synthetic-davis", f
    if kind == "davis16":
        seq = (root / "ImageSets/2017/val.txt").read_text().split()[0]
        lines = [f"/JPEGImages/480p/{seq}/{p.name} /Annotations/480p/{seq}/{p.stem}.png"
                 for p in sorted((root / "JPEGImages/480p" / seq).iterdir())]
        lines.append(f"/JPEGImages/480p/{name}/00000.jpg /Annotations/480p/{name}/00000.png")
        f = root / "ImageSets/480p/val.txt"
        f.parent.mkdir(parents=True)
        f.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return "davis16-val", f
    if kind == "ytvos":
        f = root / "valid/meta.json"
        meta = json.loads(f.read_text())
        vid = sorted(meta["videos"])[1]
        meta["videos"][name] = meta["videos"].pop(vid)
        f.write_text(json.dumps(meta, indent=1))
        return "synthetic-ytvos", f
    assert kind == "jhmdb"
    f = sorted((root / "splits").glob("*_test_split1.txt"))[0]
    f.write_text(f.read_text() + f"{name}.avi 2\n", encoding="utf-8")
    return "synthetic-jhmdb", f


@pytest.mark.parametrize("kind", ["davis17", "davis16", "ytvos", "jhmdb"])
def test_fuzz_hostile_names_never_write_outside_the_run_folder(layouts, tmp_path, kind):
    names = hostile_names(tmp_path)
    for i, name in enumerate(names):
        case = tmp_path / f"case{i}"
        root = copy_layout(layouts, "davis" if kind.startswith("davis") else kind, case / "data")
        victim = tmp_path / "victim"  # the absolute name points here: a folder that must stay untouched
        if not victim.exists():
            victim.mkdir()
            for f in list(root.rglob("*.png"))[:3] + list(root.rglob("*.jpg"))[:3]:
                shutil.copy(f, victim / f.name)
        dataset, changed_file = inject(kind, root, name)
        out = case / "runs"
        before = snapshot(tmp_path)
        res = invoke("run", "--model", "identity", "--dataset", dataset, "--data-root", root, "--out", out,
                     "--device", "cpu")
        assert res.exit_code == 2, (kind, name, res.output, res.exc_info)
        assert "Traceback" not in res.output
        assert changed_file.name in res.output, (kind, name, res.output)
        assert written_outside_runs(before, tmp_path, out) == [], (kind, name)


def test_absolute_name_in_val_txt_does_not_overwrite_that_folder(layouts, tmp_path):
    """Original defect: the run read from and overwrote the PNGs of an absolute folder."""
    root = copy_layout(layouts, "davis", tmp_path / "data")
    seqs = (root / "ImageSets/2017/val.txt").read_text().split()
    victim = tmp_path / "victim"
    shutil.copytree(root / "JPEGImages/480p" / seqs[1], victim)
    for png in (root / "Annotations/480p" / seqs[1]).iterdir():
        shutil.copy(png, victim / png.name)
    (root / "ImageSets/2017/val.txt").write_text(f"{seqs[0]}\n{victim}\n")
    before = snapshot(victim)
    res = invoke("run", "--model", "identity", "--dataset", "synthetic-davis", "--data-root", root,
                 "--out", tmp_path / "runs", "--device", "cpu")
    assert_clean_exit_2(res, "val.txt:2", "not a single safe")
    assert snapshot(victim) == before


def test_nested_video_name_is_refused_not_dropped_from_the_zip(layouts, tmp_path):
    """Original defect: `sub/<id>` ran fine and silently vanished from submission.zip."""
    root = copy_layout(layouts, "ytvos", tmp_path / "data")
    meta = json.loads((root / "valid/meta.json").read_text())
    vid = sorted(meta["videos"])[1]
    meta["videos"]["sub/" + vid] = meta["videos"].pop(vid)
    (root / "valid/meta.json").write_text(json.dumps(meta, indent=1))
    for tree in ("valid/JPEGImages", "valid/Annotations", "valid_gt/Annotations"):
        (root / tree / "sub").mkdir()
        shutil.move(root / tree / vid, root / tree / "sub" / vid)
    res = invoke("run", "--model", "identity", "--dataset", "synthetic-ytvos", "--data-root", root,
                 "--out", tmp_path / "runs", "--device", "cpu")
    assert_clean_exit_2(res, "meta.json:", "sub/")


def test_safe_join_refuses_escapes_and_links(tmp_path):
    from vosbench.core.safepath import check_name, safe_join

    run = tmp_path / "run"
    run.mkdir()
    assert safe_join(run, "predictions", "seq", "00000.png") == run / "predictions/seq/00000.png"
    for bad in ("..", "/etc", "a/b", "x\x00", "\u202e"):
        with pytest.raises(InputFileError):
            safe_join(run, "predictions", bad)
    (run / "link").symlink_to(tmp_path)  # a link inside the run folder pointing out of it
    with pytest.raises(InputFileError, match="outside the run folder"):
        safe_join(run, "link", "x.png")
    with pytest.raises(DatasetLayoutError, match=r"list\.txt:7"):
        check_name("../x", "list.txt", 7)
    assert check_name("bmx-trees", "list.txt", 1) == "bmx-trees"


# --- 2. racing first-use runs on the synthetic cache ----------------------------------------------


def test_concurrent_generation_runs_the_generator_once(tmp_path, monkeypatch):
    """Two threads (each with its own lock descriptor) generating into one folder: one generates,
    the other waits and uses that set; nothing half-written is ever seen."""
    import time

    from vosbench.datasets.synthetic import cache
    from vosbench.datasets.synthetic.layouts import GENERATORS

    calls = []
    real = GENERATORS["davis"]

    def slow(out, **p):
        calls.append(out)
        time.sleep(0.3)
        return real(out, **p)

    monkeypatch.setitem(cache.GENERATORS, "davis", slow)
    root = tmp_path / "cache" / "synthetic-davis"
    errors = []

    def go():
        try:
            cache.ensure_generated("davis", root, videos=1, frames=5, size=(64, 64))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(calls) == 1
    assert (root / "vosbench_synthetic.json").is_file()
    assert not list(root.parent.glob("*.vosbench-tmp"))


# One interpreter imports torch once, then forks six processes: three pairs, each pair on its own
# empty VOSBENCH_CACHE. They wait at a barrier; the second run of a pair starts 0, 0.15 or 0.3 s
# after the first, so it finds the cache empty, half-written, or just renamed into place.
RACER = """
import json, os, sys, time
import torch  # noqa: F401
import vosbench.datasets.davis, vosbench.datasets.synthetic, vosbench.propagation.engine, vosbench.runs
from vosbench.cli.main import main
tmp, args = sys.argv[1], sys.argv[2:]
go = os.path.join(tmp, "go")
kids = {}
for i in range(3):
    for k in range(2):
        pid = os.fork()
        if pid == 0:
            os.environ["VOSBENCH_CACHE"] = os.path.join(tmp, f"cache{i}")
            fd = os.open(os.path.join(tmp, f"log{i}-{k}.txt"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            while not os.path.exists(go):
                time.sleep(0.002)
            time.sleep(k * (0.0, 0.15, 0.3)[i])  # pair i: the second run starts a little later
            code = 1
            try:
                main(args + ["--out", os.path.join(tmp, f"race{i}-{k}")])
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
            except BaseException:
                import traceback
                traceback.print_exc()
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        kids[pid] = f"{i}-{k}"
open(go, "w").close()
codes = {}
for _ in kids:
    pid, status = os.wait()
    codes[kids[pid]] = os.waitstatus_to_exitcode(status)
print(json.dumps(codes))
"""
SMALL = ["--dataset-option", "videos=2", "--dataset-option", "frames=16", "--dataset-option", "size=128x96"]
RUN = ["run", "--model", "identity", "--dataset", "synthetic-davis", "--device", "cpu", *SMALL]


def _scores(out: Path) -> tuple[str, str]:
    (summary,) = list(out.rglob("summary.json"))
    record = json.loads(summary.read_text())
    return record["status"], (summary.parent / "per_object.csv").read_text()


def test_three_pairs_of_racing_first_use_runs_score_like_a_sequential_run(tmp_path, monkeypatch):
    monkeypatch.setenv("VOSBENCH_CACHE", str(tmp_path / "cache-seq"))
    res = invoke(*RUN, "--out", tmp_path / "seq")
    assert res.exit_code == 0, res.output
    expected = _scores(tmp_path / "seq")
    assert expected[0] == "complete"
    env = {**os.environ, "VOSBENCH_THREADS": "1", "VOSBENCH_NO_PLUGINS": "1"}
    p = subprocess.run([sys.executable, "-c", RACER, str(tmp_path), *RUN], env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    codes = json.loads(p.stdout.strip().splitlines()[-1])
    for i in range(3):
        for k in range(2):
            log = (tmp_path / f"log{i}-{k}.txt").read_text()
            assert codes[f"{i}-{k}"] == 0, log
            assert _scores(tmp_path / f"race{i}-{k}") == expected, log
        assert not list((tmp_path / f"cache{i}" / "synthetic").glob("*.vosbench-tmp"))


# --- 3. a check that compares nothing -------------------------------------------------------------


@pytest.fixture
def golden_baseline(tmp_path) -> tuple[list[str], list[list[str]]]:
    res = invoke("leaderboard", "--format", "csv", "--runs", GOLDEN_RUNS)
    assert res.exit_code == 0, res.output
    rows = list(csv.reader(io.StringIO(res.stdout)))
    return rows[0], rows[1:]


def _csv(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    return buf.getvalue()


def test_check_that_compares_nothing_fails(golden_baseline, tmp_path):
    from vosbench.results.leaderboard import METRIC_BY_KEY

    header, rows = golden_baseline
    metric = [i for i, c in enumerate(header) if c in METRIC_BY_KEY]
    blank = [[("" if i in metric else v) for i, v in enumerate(r)] for r in rows]
    (tmp_path / "blank.csv").write_text(_csv([header, *blank]))
    res = invoke("check", "--baseline", tmp_path / "blank.csv", "--runs", GOLDEN_RUNS)
    assert_clean_exit_2(res, "blank.csv", "no metric values")
    keep = [i for i in range(len(header)) if i not in metric]
    (tmp_path / "nocols.csv").write_text(_csv([[r[i] for i in keep] for r in [header, *rows]]))
    res = invoke("check", "--baseline", tmp_path / "nocols.csv", "--runs", GOLDEN_RUNS)
    assert_clean_exit_2(res, "nocols.csv", "no metric values")


def test_malformed_baseline_row_is_malformed_not_a_regression(golden_baseline, tmp_path):
    header, rows = golden_baseline
    lines = _csv([header, *rows]).splitlines()
    quote = lines[:2] + [lines[2].replace(",", ',"', 1)] + lines[3:]
    (tmp_path / "quote.csv").write_text("\n".join(quote) + "\n")
    res = invoke("check", "--baseline", tmp_path / "quote.csv", "--runs", GOLDEN_RUNS)
    assert_clean_exit_2(res, "quote.csv")
    truncated = lines[:2] + [",".join(lines[2].split(",")[:3])] + lines[3:]
    (tmp_path / "short.csv").write_text("\n".join(truncated) + "\n")
    res = invoke("check", "--baseline", tmp_path / "short.csv", "--runs", GOLDEN_RUNS)
    assert_clean_exit_2(res, "short.csv", "line 3", "truncated")
    (tmp_path / "good.csv").write_text(_csv([header, *rows]))  # the untouched baseline still passes
    assert invoke("check", "--baseline", tmp_path / "good.csv", "--runs", GOLDEN_RUNS).exit_code == 0


# --- 4. typed --dataset-option values -------------------------------------------------------------


def test_dataset_option_values_are_parsed_and_keys_checked():
    from vosbench.core.dataset_options import parse_dataset_options
    from vosbench.core.registry import datasets

    spec = datasets.get("synthetic-ytvos")
    got = parse_dataset_options(spec, {"all_frames": "false", "frames": "8", "size": "96x64", "gt_root": "~/g"})
    assert got["all_frames"] is False and got["frames"] == 8 and got["size"] == (96, 64)
    assert got["gt_root"] == str(Path("~/g").expanduser())
    for yes in ("true", "1", "yes", "YES", "on"):
        assert parse_dataset_options(spec, {"all_frames": yes})["all_frames"] is True
    with pytest.raises(ConfigError, match="expected a boolean"):
        parse_dataset_options(spec, {"all_frames": "maybe"})
    with pytest.raises(ConfigError, match="expected an integer"):
        parse_dataset_options(spec, {"frames": "8.5"})
    with pytest.raises(ConfigError, match=r"bogus.*known options: all_frames \(bool\)"):
        parse_dataset_options(spec, {"bogus": "1"})


def test_dataset_options_on_the_command_line(tmp_path):
    res = invoke("run", "--model", "identity", "--dataset", "synthetic-davis", "--out", tmp_path / "runs",
                 "--device", "cpu", "--dataset-option", "bogus=1")
    assert_clean_exit_2(res, "bogus", "known options", "frames (int)")
    res = invoke("run", "--model", "identity", "--dataset", "synthetic-ytvos", "--out", tmp_path / "runs",
                 "--device", "cpu", "--dataset-option", "all_frames=false", "--dataset-option", "videos=1",
                 "--dataset-option", "frames=3", "--dataset-option", "size=64x64")
    assert res.exit_code == 0, res.output
    (summary,) = list((tmp_path / "runs").rglob("summary.json"))
    assert json.loads(summary.read_text())["dataset"]["all_frames"] is False
    res = invoke("run", "--model", "identity", "--dataset", "synthetic-davis", "--out", tmp_path / "runs2",
                 "--device", "cpu", "--dataset-option", "frames=8", "--dataset-option", "videos=1",
                 "--dataset-option", "size=64x64")
    assert res.exit_code == 0, res.output
    (summary,) = list((tmp_path / "runs2").rglob("summary.json"))
    assert json.loads(summary.read_text())["status"] == "complete"


# --- 5. inputs that would change the headline silently --------------------------------------------


def test_ytvos_object_without_any_mask_is_refused(layouts, tmp_path):
    root = copy_layout(layouts, "ytvos", tmp_path / "data")
    meta = json.loads((root / "valid/meta.json").read_text())
    vid = sorted(meta["videos"])[1]
    objs = meta["videos"][vid]["objects"]
    objs["9"] = {"category": "ellipse", "frames": max((o["frames"] for o in objs.values()), key=len)}
    (root / "valid/meta.json").write_text(json.dumps(meta, indent=1))
    res = invoke("run", "--model", "identity", "--dataset", "synthetic-ytvos", "--data-root", root,
                 "--out", tmp_path / "runs", "--device", "cpu")
    out = assert_clean_exit_2(res, "object(s) 9", vid, "no pixel")
    assert ".png" in out
    (summary,) = list((tmp_path / "runs").rglob("summary.json"))  # the work done so far is kept
    assert json.loads(summary.read_text())["status"] == "failed"


def test_jhmdb_video_with_all_joints_nan_is_refused(layouts, tmp_path):
    import scipy.io

    root = copy_layout(layouts, "jhmdb", tmp_path / "data")
    mat = sorted((root / "joint_positions").rglob("joint_positions.mat"))[0]
    m = scipy.io.loadmat(str(mat))
    m["pos_img"] = np.full_like(m["pos_img"], np.nan)
    scipy.io.savemat(str(mat), {k: v for k, v in m.items() if not k.startswith("__")})
    res = invoke("run", "--model", "identity", "--dataset", "synthetic-jhmdb", "--data-root", root,
                 "--out", tmp_path / "runs", "--device", "cpu")
    assert_clean_exit_2(res, "joint_positions.mat", "NaN")


# --- 6. the right file is blamed -------------------------------------------------------------------


@pytest.mark.parametrize("model", ["lab", "identity"])
def test_frame0_annotation_size_mismatch_names_the_annotation(layouts, tmp_path, model):
    root = copy_layout(layouts, "davis", tmp_path / "data")
    png = sorted((root / "Annotations/480p").iterdir())[0] / "00000.png"
    with Image.open(png) as im:
        im.resize((48, 40), Image.NEAREST).save(png)
    res = invoke("run", "--model", model, "--dataset", "synthetic-davis", "--data-root", root,
                 "--out", tmp_path / "runs", "--device", "cpu")
    out = assert_clean_exit_2(res, "00000.png", "48x40", "64x64")
    assert "contract" not in out and "00001" not in out


# --- 7. ordinary file-system failures --------------------------------------------------------------


def test_out_below_a_regular_file(layouts, tmp_path):
    (tmp_path / "afile").write_text("x")
    res = invoke("run", "--model", "identity", "--dataset", "synthetic-davis", "--data-root", layouts["davis"],
                 "--out", tmp_path / "afile" / "runs", "--device", "cpu")
    assert_clean_exit_2(res, "--out", "Not a directory")


def test_read_only_out(layouts, tmp_path, monkeypatch):
    """Simulated (root ignores permission bits): creating the run folder fails with EROFS."""
    real = Path.mkdir
    out = tmp_path / "ro"

    def mkdir(self, *a, **k):
        if out in self.parents or self == out:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", mkdir)
    res = invoke("run", "--model", "identity", "--dataset", "synthetic-davis", "--data-root", layouts["davis"],
                 "--out", out, "--device", "cpu")
    assert_clean_exit_2(res, str(out), "Read-only file system")


def test_full_disk_while_writing_predictions_records_failed(layouts, tmp_path, monkeypatch):
    from vosbench.scoring import frame_output as runner  # the run's frame writer (in-process on CPU runs)

    real = runner.write_label_png
    count = [0]

    def write(path, ids, *palette):
        count[0] += 1
        if count[0] > 3:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, ids, *palette)

    monkeypatch.setattr(runner, "write_label_png", write)
    res = invoke("run", "--model", "identity", "--dataset", "synthetic-davis", "--data-root", layouts["davis"],
                 "--out", tmp_path / "runs", "--device", "cpu")
    assert_clean_exit_2(res, "No space left on device", "run folder with the work done so far")
    (summary,) = list((tmp_path / "runs").rglob("summary.json"))
    record = json.loads(summary.read_text())
    assert record["status"] == "failed" and "No space left on device" in record["error"]
    assert len(list((tmp_path / "runs").rglob("*.png"))) == 3  # the work done is kept


def test_atomic_write_on_a_full_disk_is_one_error_naming_the_file(tmp_path, monkeypatch):
    from vosbench.core import io

    def fdopen(fd, *a, **k):
        os.close(fd)
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(io.os, "fdopen", fdopen)
    with pytest.raises(InputFileError, match=r"summary\.json: cannot write: No space left on device \(ENOSPC\)"):
        io.atomic_write_text(tmp_path / "summary.json", "{}")
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_failed_record_is_written_in_place_when_the_disk_has_no_room_for_a_temp_file(tmp_path, monkeypatch):
    import time

    import torch

    from vosbench.records.schema import SCHEMA_VERSION
    from vosbench.runs import lifecycle, record as run_record

    record = {"schema_version": SCHEMA_VERSION, "status": "running", "run_id": "r", "task": "vos",
              "dataset": {"name": "d"}, "model": {"name": "m"}, "protocol": {}, "metrics": {}, "timings": {},
              "pad": "x" * 300}
    folder = lifecycle.RunFolder(tmp_path, record, torch.device("cpu"), time.perf_counter())  # writes "running"
    summary = folder.run_dir / "summary.json"
    assert json.loads(summary.read_text())["status"] == "running"

    def full(run_dir, rec):
        raise InputFileError(f"{run_dir}/summary.json: cannot write: No space left on device (ENOSPC)")

    monkeypatch.setattr(run_record, "write_summary", full)  # the record of a stopped run is written there
    err = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(tmp_path / "p.png"))
    folder.record["pad"] = ""
    assert folder.fail(err) is None  # fits in the file's blocks
    saved = json.loads(summary.read_text())
    assert saved["status"] == "failed" and "No space left on device (ENOSPC)" in saved["error"]
    # a record that does not fit is not written half-way: the previous one stays readable
    folder.record["pad"] = "y" * 10000
    why = folder.fail(err)
    assert why and "No space left" in why
    assert json.loads(summary.read_text())["status"] == "failed"


def test_symlink_loop_in_eval_gt(layouts, tmp_path):
    gt = Path(shutil.copytree(layouts["davis"] / "Annotations/480p", tmp_path / "gt"))
    (gt / "loop").symlink_to(gt / "loop")
    res = invoke("eval", "--gt", gt, "--pred", layouts["davis"] / "Annotations/480p", "--workers", "1",
                 "--out", tmp_path / "scores.csv")
    assert_clean_exit_2(res, str(gt / "loop"), "Too many levels of symbolic links")
