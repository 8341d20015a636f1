"""``vosbench data synth KIND --out DIR``: write a synthetic benchmark in a real dataset layout."""

from __future__ import annotations

import time
from pathlib import Path

import click

EXAMPLES = """
\b
Examples:
  vosbench data synth davis --out ~/data/synthetic-davis
  vosbench data synth ytvos --out /tmp/ytvos --videos 5 --frames 16 --size 640x360
  vosbench data synth jhmdb --out /tmp/jhmdb --seed 3
"""

KIND_HELP = {
    "davis": "DAVIS-2017 layout (JPEGImages/480p, Annotations/480p, ImageSets/2017/val.txt)",
    "ytvos": "YouTube-VOS valid layout (+ valid_gt/ full ground truth, all_frames/, unseen_categories.txt)",
    "jhmdb": "JHMDB layout (Rename_Images, joint_positions/*.mat, splits/)",
    "badja": "BADJA layout (joint_annotations/*.json, DAVIS/{JPEGImages,Annotations}/Full-Resolution)",
}


def _parse_size(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, int] | None:
    if value is None:
        return None
    try:
        w, h = (int(x) for x in value.lower().split("x"))
    except ValueError:
        raise click.BadParameter(f"expected WIDTHxHEIGHT such as 432x240, got {value!r}") from None
    return w, h


@click.group("data", epilog=EXAMPLES)
def data() -> None:
    """Download and check data sets, or generate synthetic ones in the exact real layouts."""


@data.command("synth", epilog=EXAMPLES)
@click.argument("kind", type=click.Choice(list(KIND_HELP)))
@click.option(
    "--out", required=True, type=click.Path(file_okay=False, path_type=Path),
    help="Output folder: new, empty, or written earlier by this command (it is then replaced).",
)
@click.option("--videos", type=int, default=None, help="Number of videos [davis 3, ytvos 3, jhmdb 3, badja 3].")
@click.option(
    "--frames", type=int, default=None,
    help="Frames per video; annotated frames for ytvos and jhmdb [davis 24, ytvos 10, jhmdb 20, badja 16].",
)
@click.option("--size", callback=_parse_size, metavar="WxH", default=None, help="Frame size [davis 432x240, ytvos 384x216, jhmdb 320x240, badja 384x216].")
@click.option("--seed", type=int, default=None, help="Random seed [0]; the same arguments give identical files.")
@click.option("--no-all-frames", is_flag=True, help="ytvos only: skip the all_frames/ tree of every raw frame.")
def synth(
    kind: str,
    out: Path,
    videos: int | None,
    frames: int | None,
    size: tuple[int, int] | None,
    seed: int | None,
    no_all_frames: bool,
) -> None:
    """Write a synthetic KIND data set (davis, ytvos, jhmdb or badja) into --out.

    \b
    davis: DAVIS-2017 layout (JPEGImages/480p, Annotations/480p, ImageSets/2017/val.txt)
    ytvos: YouTube-VOS valid layout, plus valid_gt/ (full ground truth), all_frames/ and
           unseen_categories.txt
    jhmdb: JHMDB layout (Rename_Images, joint_positions/*.mat, splits/)
    badja: BADJA layout (joint_annotations/*.json, DAVIS/{JPEGImages,Annotations}/Full-Resolution)

    Use the folder with `--data-root DIR` and the matching synthetic-* dataset.
    """
    from vosbench.datasets.synthetic import ensure_generated, read_stamp
    from vosbench.datasets.synthetic.layouts import normalize_params, stamp_dict
    from vosbench.core.errors import ConfigError

    params = {"videos": videos, "frames": frames, "size": size, "seed": seed}
    if no_all_frames:
        if kind != "ytvos":
            raise ConfigError("--no-all-frames only applies to ytvos")
        params["all_frames"] = False
    p = normalize_params(kind, params)
    up_to_date = read_stamp(out) == stamp_dict(kind, p)
    start = time.perf_counter()
    ensure_generated(kind, out, **p)
    what = f"{p['videos']} videos x {p['frames']} frames, {p['size'][0]}x{p['size'][1]}, seed {p['seed']}"
    if up_to_date:
        click.echo(f"{out}: synthetic {kind} ({what}) is already there; nothing to do")
    else:
        click.echo(f"wrote synthetic {kind} ({what}) to {out} in {time.perf_counter() - start:.1f} s")


def _add_download_commands() -> None:
    from vosbench.cli.data_download import check_cmd, download_cmd

    data.add_command(download_cmd)
    data.add_command(check_cmd)


_add_download_commands()
