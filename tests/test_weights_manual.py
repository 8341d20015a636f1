"""Weights without a direct address (licence gate, Google Drive) and ``vosbench list models``."""

from __future__ import annotations

from tests.support.cli import invoke
from vosbench.models import weights


def test_gated_weights_say_where_to_get_and_put_them(tmp_path, monkeypatch):
    monkeypatch.delenv(weights.BASE_URL_ENV, raising=False)
    res = invoke("weights", "download", "dinov3-vits16", "--dir", tmp_path, code=2)
    assert "https://ai.meta.com/resources/models-and-libraries/dinov3-downloads/" in res.output
    assert str(tmp_path / "dinov3_vits16_pretrain_lvd1689m-08c60483.pth") in res.output
    assert "--checkpoint dinov3-vits16" in res.output
    assert res.output.strip().splitlines()[-1] == "Error: not downloaded (no direct address): dinov3-vits16; see above"


def test_drive_page_instead_of_file_names_the_file_and_folder(range_server, monkeypatch, tmp_path):
    monkeypatch.setenv(weights.BASE_URL_ENV, range_server.url)
    range_server.files["timecycle-checkpoint_14.pth.tar"] = b"<!DOCTYPE html><html>quota exceeded</html>"
    range_server.html.add("timecycle-checkpoint_14.pth.tar")
    res = invoke("weights", "download", "timecycle", "--dir", tmp_path, code=2)
    assert "returned a web page" in res.output and "timecycle-checkpoint_14.pth.tar" in res.output
    assert not (tmp_path / "timecycle-checkpoint_14.pth.tar").exists()


def test_drive_http_error_gives_the_drive_page(monkeypatch, tmp_path):
    monkeypatch.delenv(weights.BASE_URL_ENV, raising=False)
    wf = weights.find_weight("timecycle").file
    assert weights.drive_view_url(wf) == "https://drive.google.com/file/d/1jKwP6qOoEFhhr9WFL_mfXvk0IHtElsmB/view"
    note = weights.manual_note(wf, tmp_path)
    assert note.startswith("timecycle: get timecycle-checkpoint_14.pth.tar from https://drive.google.com/file/d/")
    assert str(tmp_path / "timecycle-checkpoint_14.pth.tar") in note


def row_cells(out: str, name: str) -> list[str]:
    """The cells of model ``name``'s table row, each cell's wrapped lines joined by spaces (a long
    cell wraps onto more lines when plugins registered by other tests widen the table)."""
    lines = out.splitlines()
    start = next(i for i, x in enumerate(lines) if x.startswith(f"│ {name} "))
    rows = [lines[start].split("│")[1:-1]]
    for x in lines[start + 1:]:
        if not x.startswith("│") or x.split("│")[1].strip():
            break  # the table's end, or the next model's row
        rows.append(x.split("│")[1:-1])
    return [" ".join(part.strip() for part in column if part.strip()) for column in zip(*rows)]


def test_list_models_columns_and_weights_present(tmp_path, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    res = invoke("list", "models", "--dir", tmp_path, code=0)
    out = res.output
    for col in ("family", "paper", "checkpoint format", "default preset", "weights present"):
        assert col in out
    cells = row_cells(out, "cropmae-vits16")
    assert cells[1] == "cropmae" and cells[5] == "no (cropmae-in, cropmae-k400)"
    (tmp_path / "cropmae-in.pth").write_bytes(b"x")
    out = invoke("list", "models", "--dir", tmp_path, code=0).output
    assert row_cells(out, "cropmae-vits16")[5].startswith("yes: cropmae-in")
    assert row_cells(out, "lab")[3].endswith("(takes no weights)")


def test_gated_file_from_a_mirror_is_checked_against_its_hash_prefix(range_server, monkeypatch, tmp_path):
    """With a mirror the DINOv3 file downloads; its name's torch.hub hash prefix (08c60483) is checked."""
    monkeypatch.setenv(weights.BASE_URL_ENV, range_server.url)
    range_server.files["dinov3_vits16_pretrain_lvd1689m-08c60483.pth"] = b"not the file" * 100
    res = invoke("weights", "download", "dinov3-vits16", "--dir", tmp_path, code=2)
    assert "does not start with 08c60483" in res.output
    assert not (tmp_path / "dinov3_vits16_pretrain_lvd1689m-08c60483.pth").exists()


def test_list_models_family_names_the_method_not_the_module(monkeypatch):
    """MoCo, SimSiam, PixPro and VICRegL share one adapter module, as do MAE, CropMAE and SiamMAE;
    the family column still tells them apart (the zoo's families beyond the first release)."""
    monkeypatch.setenv("COLUMNS", "400")
    out = invoke("list", "models", code=0).output

    expected = {"moco-v1-r50": "moco-v1", "moco-v2-r50": "moco-v2", "simsiam-r50": "simsiam", "pixpro-r50": "pixpro",
                "vicregl-r50": "vicregl", "mae-vitb16": "mae", "cropmae-vits16": "cropmae",
                "siammae-vits16": "siammae", "dinov2-vits14": "dinov2", "mast": "mast", "uvc": "uvc"}
    assert {name: row_cells(out, name)[1] for name in expected} == expected
    new = {"uvc", "timecycle", "vfs", "mast", "dul", "spa_then_temp", "sfc", "cropmae", "siammae", "mae", "moco-v1",
           "moco-v2", "simsiam", "pixpro", "vicregl", "dinov2", "dinov3"}
    names = [x.split("│")[1].strip() for x in out.splitlines() if x.startswith("│ ") and x.split("│")[1].strip()]
    assert new <= {row_cells(out, name)[1] for name in names if name != "name"}
