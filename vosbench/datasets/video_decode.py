"""MP4 clips decoded with PyAV (the optional extra ``vosbench[video]``) at a fixed frame rate, as
ffmpeg's ``fps`` filter resamples them.

tapnet's ``tapnet/tapvid/generate_tapvid.py`` (google-deepmind/tapnet) runs ``ffmpeg -i CLIP -vf
fps=25 -f image2pipe pipe:`` on each Kinetics clip and keeps the first 250 frames, at the clip's own
size. This module restates that frame selection:

* timestamps: the ffmpeg command line shifts every timestamp by the file's start time (no
  ``-copyts``), so frame ``i`` sits at ``s_i = pts_i * time_base - start_time``;
* ``fps`` filter (libavfilter ``vf_fps.c``, defaults ``round=near``, ``eof_action=round``): each
  frame's tick is ``r_i = round(s_i * fps)``, halves away from zero; output ticks run from ``r_0``
  up to (excluding) the tick of the end of the last frame, ``round((s_last + duration) * fps)``;
  output tick ``n`` shows the last frame with ``r_i <= n`` (a frame overtaken by a later one before
  its tick is dropped, a frame is repeated until the next one's tick);
* frames are converted to RGB (``rgb24``) by libswscale through PyAV, at the coded size.

The selection is computed from the demuxed packets' timestamps (:func:`probe_clip`, no decoding),
so a dataset knows every clip's frame count without decoding it; :func:`decode_clip` then decodes
one clip and checks that the decoder gave exactly the probed timestamps.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from vosbench.core.errors import ConfigError, InputFileError

#: the install hint of the optional extra
EXTRA_HINT = "pip install 'vosbench[video]'"


def load_av() -> ModuleType:
    """The ``av`` module (PyAV), imported on first use: it is an optional extra."""
    try:
        return importlib.import_module("av")
    except ImportError:
        raise ConfigError(f"decoding video clips needs PyAV: {EXTRA_HINT}") from None


def round_half_away(x: Fraction) -> int:
    """``x`` rounded to the nearest integer, halves away from zero (libavutil's AV_ROUND_NEAR_INF)."""
    n = (abs(x.numerator) * 2 + x.denominator) // (2 * x.denominator)
    return n if x >= 0 else -n


def fps_repeats(ticks: list[int], end_tick: int) -> list[int]:
    """How many output frames each input frame becomes under libavfilter's ``fps`` filter, given
    the input frames' ticks (in presentation order) and the end-of-stream tick."""
    out = [0] * len(ticks)
    if not ticks:
        return out
    nxt = ticks[0]
    for i in range(1, len(ticks)):
        while nxt < ticks[i]:  # the previous frame fills every tick before this one's
            out[i - 1] += 1
            nxt += 1
    while nxt < end_tick:
        out[-1] += 1
        nxt += 1
    return out


@dataclass(frozen=True)
class ClipProbe:
    """A clip's resampled frame selection: ``repeats[i]`` output frames for the i-th frame of
    timestamp ``pts[i]`` (stream time base), before any cap on the frame count."""

    height: int
    width: int
    pts: tuple[int, ...]
    repeats: tuple[int, ...]

    def frames(self, cap: int) -> int:
        """Output frames, at most ``cap``."""
        return min(sum(self.repeats), cap)


def _open(av: ModuleType, path: Path) -> Any:
    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, UnicodeDecodeError) as e:
        raise InputFileError(f"{path}: cannot open the clip ({e})") from None
    if not container.streams.video:
        container.close()
        raise InputFileError(f"{path}: holds no video stream")
    return container


def probe_clip(path: Path, fps: int) -> ClipProbe:
    """Read ``path``'s video packets (not decoding them) and resample its timestamps to ``fps``.

    Raises:
        ConfigError: PyAV is not installed.
        InputFileError: the clip cannot be opened or read, or has no timed frame.
    """
    av = load_av()
    with _open(av, path) as container:
        stream = container.streams.video[0]
        tb = stream.time_base
        offset = round_half_away(Fraction(container.start_time or 0, 1_000_000) / tb)
        timed: list[tuple[int, int]] = []
        try:
            for pkt in container.demux(stream):
                if pkt.pts is not None and not pkt.is_discard:
                    timed.append((int(pkt.pts), int(pkt.duration or 0)))
        except (av.FFmpegError, OSError) as e:
            raise InputFileError(f"{path}: cannot read the clip ({e})") from None
        height, width = int(stream.codec_context.height), int(stream.codec_context.width)
    if not timed or height < 1 or width < 1:
        raise InputFileError(f"{path}: the clip holds no timed video frame")
    timed.sort()
    pts = [p for p, _ in timed]
    last_pts, last_dur = timed[-1]
    if last_dur <= 0:  # ffmpeg estimates it from the previous frame (or the target rate)
        last_dur = pts[-1] - pts[-2] if len(pts) > 1 else round_half_away(1 / (fps * Fraction(tb)))
    ticks = [round_half_away((p - offset) * Fraction(tb) * fps) for p in pts]
    end = round_half_away((last_pts + last_dur - offset) * Fraction(tb) * fps)
    return ClipProbe(height, width, tuple(pts), tuple(fps_repeats(ticks, end)))


def decode_clip(path: Path, probe: ClipProbe, cap: int, dest: Path) -> np.ndarray:
    """Decode ``path`` into ``dest`` (a ``.npy`` file, written frame by frame) with the frame
    selection of ``probe``, at most ``cap`` frames; returns it memory-mapped, (T, H, W, 3) uint8.

    Raises:
        InputFileError: the decoder's frames differ from the probed ones (a damaged clip), or a
            frame carries a rotation (ffmpeg would turn it; vosbench refuses it).
    """
    av = load_av()
    n = probe.frames(cap)
    t = i = 0
    try:
        # written with plain writes, not through a memory map, so the frames do not stay resident
        with _open(av, path) as container, open(dest, "wb") as out:
            header = {"descr": "|u1", "fortran_order": False, "shape": (n, probe.height, probe.width, 3)}
            np.lib.format.write_array_header_1_0(out, header)
            for frame in container.decode(container.streams.video[0]):
                if frame.pts is None:
                    continue  # the fps filter drops frames without a timestamp
                if i >= len(probe.pts) or frame.pts != probe.pts[i]:
                    raise InputFileError(f"{path}: decoded frame {i} has timestamp {frame.pts}, the packets said "
                                         f"{probe.pts[i] if i < len(probe.pts) else 'none'}; the clip is damaged")
                if frame.rotation:
                    raise InputFileError(f"{path}: frames carry a {frame.rotation} degree rotation; rotate the clip "
                                         "with ffmpeg first (vosbench does not)")
                if probe.repeats[i] and t < n:
                    if (frame.height, frame.width) != (probe.height, probe.width):
                        raise InputFileError(f"{path}: frame {i} is {frame.width}x{frame.height}, the clip "
                                             f"{probe.width}x{probe.height}")
                    rgb = np.ascontiguousarray(frame.to_ndarray(format="rgb24")).tobytes()
                    for _ in range(min(probe.repeats[i], n - t)):
                        out.write(rgb)
                        t += 1
                i += 1
                if t >= n:
                    break
    except av.FFmpegError as e:
        raise InputFileError(f"{path}: cannot decode the clip ({e})") from None
    if t < n:
        raise InputFileError(f"{path}: decoded {t} frames, the packets promised {n}; the clip is damaged")
    return np.load(dest, mmap_mode="r")
