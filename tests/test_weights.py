"""Weight downloads against a local HTTP server on 127.0.0.1 (no test reaches the internet).

The server serves files the tests create, honours Range requests (206), and can be told to cut
a transfer short, to answer with a web page, or to 404.
"""

from __future__ import annotations

import hashlib
import io
import json

import pytest
import torch
from click.testing import CliRunner

import vosbench
from vosbench.cli.main import cli
from vosbench.core.errors import CheckpointError, ConfigError, DownloadError
from vosbench.core.registry import models
from vosbench.core.specs import WeightFile, resolve
from vosbench.models import weights


@pytest.fixture
def server(range_server, monkeypatch, tmp_path):
    monkeypatch.setenv(weights.BASE_URL_ENV, range_server.url)
    monkeypatch.setenv("VOSBENCH_CACHE", str(tmp_path / "cache"))
    return range_server


def payload(n: int = 300_000, seed: int = 0) -> bytes:
    return torch.randint(0, 256, (n,), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed)).numpy().tobytes()


def wf(filename: str = "toy.pth", sha256: str | None = None) -> WeightFile:
    return WeightFile("toy", f"https://example.invalid/{filename}", filename, sha256)


def test_download_verifies_records_and_reuses(server, tmp_path):
    data = payload()
    server.files["toy.pth"] = data
    seen = []
    path = weights.download(wf(), tmp_path / "w", progress=lambda done, total: seen.append((done, total)))
    assert path.read_bytes() == data
    assert seen[-1] == (len(data), len(data))
    sha = hashlib.sha256(data).hexdigest()
    rec = json.loads((tmp_path / "w" / "hashes.json").read_text())["files"]["toy.pth"]
    assert rec["sha256"] == sha and rec["size"] == len(data) and rec["url"] == f"{server.url}/toy.pth"
    n = len(server.requests)
    assert weights.download(wf(), tmp_path / "w") == path  # verified copy: no new request
    assert len(server.requests) == n
    path.write_bytes(data[:-1] + b"x")  # a modified cached file is caught
    with pytest.raises(DownloadError, match="fails its integrity check"):
        weights.download(wf(), tmp_path / "w")
    # the upstream file changed: the hash recorded at first download catches it, nothing is kept
    server.files["toy.pth"] = payload(seed=1)
    with pytest.raises(DownloadError, match="recorded at first download"):
        weights.download(wf(), tmp_path / "w", force=True)
    assert not path.exists() and not (tmp_path / "w" / "toy.pth.part").exists()


def test_resume_after_truncated_transfer(server, tmp_path):
    data = payload(500_000, seed=2)
    server.files["toy.pth"] = data
    server.truncate_once.add("toy.pth")
    with pytest.raises(DownloadError, match="run the same command again to resume"):
        weights.download(wf(), tmp_path)
    part = tmp_path / "toy.pth.part"
    got = part.stat().st_size
    assert 0 < got < len(data) and part.read_bytes() == data[:got]
    assert not (tmp_path / "toy.pth").exists()
    path = weights.download(wf(sha256=hashlib.sha256(data).hexdigest()), tmp_path)
    assert server.requests[-1] == ("toy.pth", f"bytes={got}-")  # resumed, not restarted
    assert path.read_bytes() == data and not part.exists()


def test_stale_partial_larger_than_file_restarts(server, tmp_path):
    data = payload(1000, seed=3)
    server.files["toy.pth"] = data
    (tmp_path / "toy.pth.part").write_bytes(b"z" * 5000)  # 416 from the server -> start over
    assert weights.download(wf(), tmp_path).read_bytes() == data


def test_wrong_hash_is_an_error_and_nothing_is_kept(server, tmp_path):
    server.files["toy.pth"] = payload()
    with pytest.raises(DownloadError, match="differs from the expected 0000") as e:
        weights.download(wf(sha256="0" * 64), tmp_path)
    assert "deleted" in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_http_errors_are_clear(server, tmp_path):
    with pytest.raises(DownloadError, match=r"toy\.pth failed: HTTP 404 Not Found.*may have moved"):
        weights.download(wf(), tmp_path)
    server.files["toy.pth"] = b"<html>virus scan warning</html>"
    server.html.add("toy.pth")
    with pytest.raises(DownloadError, match="web page instead of the file"):
        weights.download(wf(), tmp_path)
    assert not (tmp_path / "toy.pth").exists()


def crw_checkpoint_bytes() -> bytes:
    spec = models.get("crw")
    enc = resolve(spec.factory)(spec, checkpoint=None, seed=3)
    state = {f"encoder.model.{k}": v for k, v in enc.model.state_dict().items()}
    buf = io.BytesIO()
    torch.save({"model": state, "epoch": 1}, buf)
    return buf.getvalue()


def test_cli_download_list_and_checkpoint_by_name(server, tmp_path):
    data = crw_checkpoint_bytes()
    server.files["crw-pretrained.pth"] = data
    runner = CliRunner()
    res = runner.invoke(cli, ["weights", "download", "crw"])
    assert res.exit_code == 0, res.output
    sha = hashlib.sha256(data).hexdigest()
    assert sha in res.output.replace("\n", "")
    cached = tmp_path / "cache" / "weights" / "crw-pretrained.pth"
    assert cached.read_bytes() == data

    res = runner.invoke(cli, ["weights", "list"], env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    row = next(line for line in res.output.splitlines() if "crw-pretrained.pth" in line)
    assert "yes" in row and f"{sha} (recorded)" in row and f"{server.url}/crw-pretrained.pth" in row
    row = next(line for line in res.output.splitlines() if "resnet18-f37072fd.pth" in line)
    assert "f37072fd... (from file name)" in row and " no " in row

    model = vosbench.create_model("crw", checkpoint="crw")  # --checkpoint NAME uses the cache
    assert model.stride == 8
    with pytest.raises(ConfigError, match="weights download dino-vits16"):
        vosbench.create_model("dino-vits16", checkpoint="dino-vits16")
    cached.write_bytes(data[:-10])
    with pytest.raises(CheckpointError, match="--force"):
        vosbench.create_model("crw", checkpoint="crw")

    res = runner.invoke(cli, ["weights", "download", "nope"])
    assert res.exit_code == 2 and "unknown weight file 'nope'" in res.output


def test_cli_rejects_a_file_whose_name_hash_prefix_does_not_match(server, tmp_path):
    server.files["resnet18-f37072fd.pth"] = payload(2000)
    res = CliRunner().invoke(cli, ["weights", "download", "resnet18-imagenet", "--dir", str(tmp_path / "d")])
    assert res.exit_code == 2
    assert "does not start with f37072fd" in res.output
    assert not (tmp_path / "d" / "resnet18-f37072fd.pth").exists()
