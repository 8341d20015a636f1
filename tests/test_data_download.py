"""`vosbench data download` / `data check` against a local HTTP server on 127.0.0.1.

The archives are small ones the tests build in the real layouts (DAVIS-2017's top `DAVIS/`
folder, JHMDB's Rename_Images.tar.gz + joint_positions.zip + splits.zip). The server honours
Range requests and can cut a transfer short; it only runs for the duration of a test.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from vosbench.cli.main import cli
from vosbench.core.errors import DatasetLayoutError, DownloadError
from vosbench.core.labels import write_label_png
from vosbench.datasets import download as dl
from vosbench.datasets.factory import load_dataset
from vosbench.datasets.layout_check import check_layout
from vosbench.datasets.synthetic import generate_jhmdb, generate_ytvos


@pytest.fixture
def server(range_server, monkeypatch):
    monkeypatch.setenv(dl.BASE_URL_ENV, range_server.url)
    return range_server


def zip_tree(folder: Path, prefix: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for p in sorted(folder.rglob("*")):
            if p.is_file():
                zf.write(p, f"{prefix}{p.relative_to(folder).as_posix()}")
    return buf.getvalue()


@pytest.fixture
def davis_zip(tiny_davis17) -> bytes:
    return zip_tree(tiny_davis17, "DAVIS/")


def use_archive(monkeypatch, name: str, **changes) -> dl.DataSource:
    src = dl.SOURCES[name]
    new = replace(src, archives=tuple(replace(a, **changes) for a in src.archives))
    monkeypatch.setitem(dl.SOURCES, name, new)
    return new


def test_davis17_download_unpacks_checks_and_records(server, davis_zip, tmp_path, monkeypatch):
    server.files["DAVIS-2017-trainval-480p.zip"] = davis_zip
    data = tmp_path / "data"
    r = CliRunner().invoke(cli, ["data", "download", "davis17-trainval", "--dir", str(data)])
    assert r.exit_code == 0, r.output
    folder = data / "DAVIS-2017"
    ds = load_dataset("davis17-val", folder)
    assert ds.sequence_names() == ["seq0", "seq1"] and len(ds.sequence("seq0")) == 6
    stamp = json.loads((folder / dl.STAMP).read_text())
    sha = hashlib.sha256(davis_zip).hexdigest()
    assert stamp["source"] == "davis17-trainval" and stamp["archives"]["DAVIS-2017-trainval-480p.zip"] == sha
    records = dl.read_records(data / dl.DOWNLOADS)
    assert records["DAVIS-2017-trainval-480p.zip"]["sha256"] == sha
    assert sha in r.output and "recorded at its first download" in r.output
    assert not (data / dl.DOWNLOADS / "DAVIS-2017-trainval-480p.zip").exists()  # archive removed
    assert not list(data.glob(".DAVIS-2017.unpacking-*"))
    again = CliRunner().invoke(cli, ["data", "download", "davis17-val", "--dir", str(data)])
    assert again.exit_code == 0 and "nothing to do" in again.output
    # the loaders find it through $VOSBENCH_DATA
    monkeypatch.setenv("VOSBENCH_DATA", str(data))
    assert load_dataset("davis17-val").root == folder


def test_truncated_download_resumes_and_never_unpacks_half(server, davis_zip, tmp_path):
    server.files["DAVIS-2017-trainval-480p.zip"] = davis_zip
    server.truncate_once.add("DAVIS-2017-trainval-480p.zip")
    data = tmp_path / "data"
    r = CliRunner().invoke(cli, ["data", "download", "davis17-trainval", "--dir", str(data)])
    assert r.exit_code == 2
    assert "run the same command again to resume" in r.output
    part = data / dl.DOWNLOADS / "DAVIS-2017-trainval-480p.zip.part"
    assert 0 < part.stat().st_size < len(davis_zip)
    assert not (data / "DAVIS-2017").exists()
    have = part.stat().st_size
    r = CliRunner().invoke(cli, ["data", "download", "davis17-trainval", "--dir", str(data)])
    assert r.exit_code == 0, r.output
    assert server.requests[-1] == ("DAVIS-2017-trainval-480p.zip", f"bytes={have}-")  # resumed, not restarted
    assert load_dataset("davis17-val", data / "DAVIS-2017").sequence_names() == ["seq0", "seq1"]


def test_wrong_hash_or_size_deletes_the_data(server, davis_zip, tmp_path, monkeypatch):
    server.files["DAVIS-2017-trainval-480p.zip"] = davis_zip
    use_archive(monkeypatch, "davis17-trainval", md5="0" * 32)
    data = tmp_path / "data"
    r = CliRunner().invoke(cli, ["data", "download", "davis17-trainval", "--dir", str(data)])
    assert r.exit_code == 2 and "differs from the official" in r.output and "data was deleted" in r.output
    assert not list((data / dl.DOWNLOADS).glob("DAVIS-2017-trainval-480p.zip*"))
    assert not (data / "DAVIS-2017").exists()
    use_archive(monkeypatch, "davis17-trainval", md5=None, size=len(davis_zip) + 1)
    with pytest.raises(DownloadError, match="bytes, the official file"):
        dl.download_source(dl.SOURCES["davis17-trainval"], data)


def test_recorded_hash_catches_a_changed_file(server, davis_zip, tmp_path):
    data = tmp_path / "data"
    server.files["DAVIS-2017-trainval-480p.zip"] = davis_zip
    a = dl.SOURCES["davis17-trainval"].archives[0]
    dl.download_archive(a, data / dl.DOWNLOADS)
    (data / dl.DOWNLOADS / a.filename).unlink()
    server.files[a.filename] = davis_zip + b"tampered"
    with pytest.raises(DownloadError, match="recorded at its first download"):
        dl.download_archive(a, data / dl.DOWNLOADS)


def test_interrupted_unpack_leaves_nothing_that_looks_complete(server, davis_zip, tmp_path):
    server.files["DAVIS-2017-trainval-480p.zip"] = davis_zip
    data = tmp_path / "data"
    src = dl.SOURCES["davis17-trainval"]

    def stop(n: int) -> None:
        if n == 7:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        dl.download_source(src, data, interrupt=stop, keep_archives=True)
    assert not (data / "DAVIS-2017").exists()
    assert not list(data.glob(".DAVIS-2017.unpacking-*"))
    assert (data / dl.DOWNLOADS / "DAVIS-2017-trainval-480p.zip").is_file()  # no second download needed
    # a hard kill (no clean-up) leaves only a hidden staging folder, removed by the next run
    stale = data / ".DAVIS-2017.unpacking-99-abcdef"
    (stale / "JPEGImages").mkdir(parents=True)
    n_requests = len(server.requests)
    res = dl.download_source(src, data)
    assert len(server.requests) == n_requests  # the kept archive was reused
    assert res.folder.is_dir() and not stale.exists()


def test_bad_layout_is_not_put_in_place(server, tiny_davis17, tmp_path):
    src_dir = tiny_davis17
    (src_dir / "Annotations/480p/seq1/00000.png").unlink()
    server.files["DAVIS-2017-trainval-480p.zip"] = zip_tree(src_dir, "DAVIS/")
    data = tmp_path / "data"
    r = CliRunner().invoke(cli, ["data", "download", "davis17-trainval", "--dir", str(data)])
    assert r.exit_code == 2 and "was not put in place" in r.output and "seq1" in r.output
    assert not (data / "DAVIS-2017").exists()


def test_existing_folder_not_made_by_download_is_refused(server, davis_zip, tmp_path):
    data = tmp_path / "data"
    (data / "DAVIS-2017").mkdir(parents=True)
    with pytest.raises(DatasetLayoutError, match="was not unpacked by"):
        dl.download_source(dl.SOURCES["davis17-trainval"], data)
    assert server.requests == []


def test_zip_slip_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("DAVIS/../../evil.txt", "x")
    p = tmp_path / "a.zip"
    p.write_bytes(buf.getvalue())
    with pytest.raises(DownloadError, match="outside the data folder"):
        dl.extract(p, tmp_path / "out")


def test_jhmdb_three_archives(server, tmp_path, monkeypatch):
    src = generate_jhmdb(tmp_path / "src", videos=2, frames=5)
    tgz = io.BytesIO()
    with tarfile.open(fileobj=tgz, mode="w:gz") as tf:
        tf.add(src / "Rename_Images", arcname="Rename_Images")
    blobs = {
        "Rename_Images.tar.gz": tgz.getvalue(),
        "joint_positions.zip": zip_tree(src / "joint_positions", "joint_positions/"),
        "splits.zip": zip_tree(src / "splits", ""),  # files at the zip root: placed under splits/
    }
    server.files.update(blobs)
    jh = dl.SOURCES["jhmdb"]
    monkeypatch.setitem(
        dl.SOURCES,
        "jhmdb",
        replace(
            jh,
            archives=tuple(
                replace(a, size=len(blobs[a.filename]), md5=hashlib.md5(blobs[a.filename]).hexdigest()) for a in jh.archives
            ),
        ),
    )
    data = tmp_path / "data"
    r = CliRunner().invoke(cli, ["data", "download", "jhmdb-split1", "--dir", str(data)])
    assert r.exit_code == 0, r.output
    assert "matches the official" in r.output
    ds = load_dataset("jhmdb-split1", data / "JHMDB")
    assert len(ds) >= 1 and ds.sequence(ds.sequence_names()[0]).keypoints is not None
    assert check_layout("jhmdb-split1", data / "JHMDB").ok


def test_ytvos_prints_what_to_do(tmp_path):
    r = CliRunner().invoke(cli, ["data", "download", "ytvos19", "--dir", str(tmp_path)])
    assert r.exit_code == 0
    assert "codalab.lisn.upsaclay.fr/competitions/6066" in r.output
    assert str(tmp_path / "YouTubeVOS-2019" / "valid" / "meta.json") in r.output
    assert "vosbench data check ytvos19-val" in r.output
    r = CliRunner().invoke(cli, ["data", "download", "davis18"])
    assert r.exit_code == 2 and "no download for 'davis18'" in r.output


# -- data check ---------------------------------------------------------------------------------


def test_check_ok_and_every_problem_listed(tiny_davis17):
    root = tiny_davis17
    r = CliRunner().invoke(cli, ["data", "check", "davis17-val", "--data-root", str(root)])
    assert r.exit_code == 0 and "OK (2 sequences, 12 frames, 12 annotation files checked)" in r.output
    # three different faults, all reported in one go
    (root / "Annotations/480p/seq0/00003.png").unlink()  # count mismatch
    write_label_png(root / "Annotations/480p/seq1/00002.png", np.full((48, 64), 7, np.uint8))  # unknown id
    write_label_png(root / "Annotations/480p/seq1/00004.png", np.zeros((40, 64), np.uint8))  # wrong size
    r = CliRunner().invoke(cli, ["data", "check", "davis17-val", "--data-root", str(root)])
    assert r.exit_code == 2
    assert "frames without annotation: 00003" in r.output
    assert "ids 7 are not in the first-frame annotation" in r.output
    assert "annotation is 64x40, its frames are 64x48" in r.output
    assert "3 problem(s)" in r.output


def test_check_davis16_binary_masks(davis16_mini, tmp_path):
    rep = check_layout("davis16-val", davis16_mini)
    assert rep.ok and rep.sequences == 6 and rep.frames == 282
    root = tmp_path / "D16"
    shutil.copytree(davis16_mini, root, ignore=shutil.ignore_patterns("dog", "libby", "motocross-jump", "scooter-black", "reference"))
    write_label_png(root / "Annotations/480p/blackswan/00000.png", np.ones((480, 854), np.uint8))
    rep = check_layout("davis16-val", root)
    assert any("DAVIS-2016 masks hold only 0 and 255" in p for p in rep.problems)
    assert any("dog" in p for p in rep.problems)  # listed in val.txt, folder missing


def test_check_ytvos_meta_consistency(tmp_path):
    root = generate_ytvos(tmp_path / "yt", videos=2, frames=4, size=(96, 64), all_frames=False)
    assert check_layout("ytvos18-val", root).ok
    meta = json.loads((root / "valid/meta.json").read_text())
    vid = sorted(meta["videos"])[0]
    objs = meta["videos"][vid]["objects"]
    oid = sorted(objs)[0]
    first = objs[oid]["frames"][0]
    png = root / "valid/Annotations" / vid / f"{first}.png"
    write_label_png(png, np.zeros((64, 96), np.uint8))
    rep = check_layout("ytvos18-val", root)
    assert any(f"object(s) {oid}" in p and "no pixel with that id" in p for p in rep.problems), rep.problems
    (root / "valid/Annotations" / vid / "99999.png").write_bytes(png.read_bytes())
    rep = check_layout("ytvos18-val", root)
    assert any("annotation(s) without a frame" in p and "99999.png" in p for p in rep.problems)


def test_check_missing_root_is_a_clear_problem(tmp_path):
    r = CliRunner().invoke(cli, ["data", "check", "jhmdb-split1", "--data-root", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "does not exist" in r.output


def test_refused_archive_is_named_with_how_to_fetch_it_anew(server, tiny_davis17, tmp_path):
    (tiny_davis17 / "Annotations/480p/seq1/00000.png").unlink()
    server.files["DAVIS-2017-trainval-480p.zip"] = zip_tree(tiny_davis17, "DAVIS/")
    data = tmp_path / "data"
    r = CliRunner().invoke(cli, ["data", "download", "davis17-trainval", "--dir", str(data)])
    cached = data / dl.DOWNLOADS / "DAVIS-2017-trainval-480p.zip"
    error = next(ln for ln in r.output.splitlines() if ln.startswith("Error:"))
    assert r.exit_code == 2 and "was not put in place" in error
    assert f"stay cached as {cached}" in r.output and "delete it and its entry in hashes.json" in r.output
    assert "vosbench data download davis17-trainval` again" in r.output


def test_unpacking_is_bounded(tmp_path, monkeypatch):
    from vosbench.datasets import unpack

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("DAVIS/bomb.bin", b"\0" * (3 << 20))  # 3 MiB of zeros in a few KiB
    p = tmp_path / "bomb.zip"
    p.write_bytes(buf.getvalue())
    monkeypatch.setattr(unpack, "MAX_UNPACKED_BYTES", 2 << 20)
    assert unpack.unpack_limit(p) == 2 << 20
    with pytest.raises(DownloadError, match="unpacks to more than 2097152 bytes"):
        dl.extract(p, tmp_path / "out")
    assert unpack.MAX_UNPACK_RATIO * (1 << 20) < 64 << 30  # small archives: the ratio bounds them
