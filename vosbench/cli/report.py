"""``vosbench report``: overlay videos, plots and an offline report.html for runs."""

from __future__ import annotations

from pathlib import Path

import click

from vosbench.core.names import comma_list

EXAMPLES = """
\b
Examples:
  vosbench report runs/davis16-val/lab/20261125-184500-ab12cd
  vosbench report RUN_DIR --compare OTHER_RUN_DIR --compare THIRD_RUN_DIR --out my_report
  vosbench report RUN_DIR --video mp4 --max-frames 60 --no-gt-contour
  vosbench report RUN_DIR --data-root ~/data/DAVIS-2017     # frames moved since the run
"""


@click.command("report", epilog=EXAMPLES)
@click.argument("run_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--compare", multiple=True, type=click.Path(file_okay=False, path_type=Path),
              help="Another run folder to compare with (repeatable).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Output folder [default: RUN_DIR/report].")
@click.option("--video", type=click.Choice(["auto", "gif", "mp4", "none"]), default="auto", show_default=True,
              help="Overlay video format (auto: mp4 when imageio-ffmpeg is installed, else gif; gif: Pillow only; "
              "mp4: H.264 via imageio + imageio-ffmpeg).")
@click.option("--gt-contour/--no-gt-contour", default=True, show_default=True,
              help="Draw the ground-truth outline (or joints) on the videos.")
@click.option("--data-root", type=click.Path(path_type=Path), default=None,
              help="Dataset root for the frames, or a TAP-Vid pickle [default: the one recorded in summary.json].")
@click.option("--sequences", default=None, help="Comma-separated subset of sequences.")
@click.option("--max-frames", type=click.IntRange(1), default=None,
              help="At most N frames per video (evenly spaced) [default: all for mp4, 24 for gif].")
@click.option("--scale", type=click.FloatRange(0.05, 1.0), default=1.0, show_default=True,
              help="Scale the videos by this factor after the --width limit.")
@click.option("--width", type=click.IntRange(32), default=480, show_default=True, help="Video width limit in pixels.")
@click.option("--fps", type=click.FloatRange(0.1, 60), default=8.0, show_default=True, help="Video frame rate.")
def report(
    run_dir: Path,
    compare: tuple[Path, ...],
    out: Path | None,
    video: str,
    gt_contour: bool,
    data_root: Path | None,
    sequences: str | None,
    max_frames: int | None,
    width: int,
    fps: float,
    scale: float,
) -> None:
    """Write per-sequence overlay videos (predicted masks or keypoint skeletons on the frames),
    a J&F-per-sequence bar chart across the runs, J-per-frame drift curves (PCK curve for
    keypoint runs) and one report.html that links them with relative paths, viewable offline.
    Needs the report extra: pip install 'vosbench[report]'."""
    from vosbench.results.report import ReportOptions, make_report
    from vosbench.results.report_size import GIF_MAX_FRAMES, human_size, resolve_video_format

    video = resolve_video_format(video)
    if max_frames is None and video == "gif":
        max_frames = GIF_MAX_FRAMES  # GIF is heavy: keeps a DAVIS-17 val report small (see the README)

    opts = ReportOptions(
        out=out,
        video=video,
        gt_contour=gt_contour,
        data_root=data_root,
        sequences=comma_list(sequences) if sequences else None,
        max_frames=max_frames,
        width=width,
        fps=fps,
        scale=scale,
    )
    rep = make_report(run_dir, compare, opts)
    click.echo(f"wrote {rep.html} ({len(rep.images)} plot(s), {len(rep.videos)} {video} video(s); "
               f"{human_size(rep.total_bytes)} in all)")
    for note in rep.notes:
        click.echo(f"note: {note}", err=True)
