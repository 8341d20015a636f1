"""The encoder contract on every frame of a Python API run: hostile modules are refused.

Each module passes the (1, 3, 32, 40) probe that ``vosbench.run`` makes when it wraps a plain
``nn.Module``, then breaks the contract on the real frames (or in a way the probe cannot see).
Each must end in the contract's one-line error naming the frame, never in a "complete" run or an
internal error.
"""

from __future__ import annotations

import pytest
import torch

import vosbench
from vosbench.core.contract import CONTRACT
from vosbench.core.errors import EncoderContractError

PROBE = (32, 40)  # the probe's input size for stride 8 (4 x 5 cells)


class Hostile(torch.nn.Module):
    """Stride 8, honest on the probe; :meth:`real` decides what the frames get."""

    stride = 8

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv2d(3, 16, kernel_size=8, stride=8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.conv(x)
        return f if tuple(x.shape[-2:]) == PROBE else self.real(x, f)

    def real(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class Finer(Hostile):
    """Declares stride 8 but returns a stride-4 map on real frames (used to be cropped)."""

    def real(self, x, f):
        return torch.nn.functional.avg_pool2d(x.repeat(1, 6, 1, 1), 4, ceil_mode=True)[:, :16]


class Meta(Hostile):
    """Returns meta-device tensors (no values at all) on real frames."""

    def real(self, x, f):
        return f.to("meta")


class NaNs(Hostile):
    def real(self, x, f):
        return f * float("nan")


class Infs(Hostile):
    def real(self, x, f):
        return f.masked_fill(f > 0, float("inf"))


class NoChannels(Hostile):
    def real(self, x, f):
        return f[:, :0]


class Int64(Hostile):
    def real(self, x, f):
        return (f * 100).long()


class Shrunk(Hostile):
    """Returns one frame's features for a batch of several."""

    def real(self, x, f):
        return f[:1]


CASES = {
    Finer: r"on a \(4, 3, 240, 432\) input \(stride 8\) it returned \(4, 16, 60, 108\), expected \(4, C, 30, 54\)",
    Meta: "returned features on meta, input on cpu",
    NaNs: "returned NaN or infinite feature values",
    Infs: "returned NaN or infinite feature values",
    NoChannels: "returned features with 0 channels",
    Int64: "returned torch.int64 features",
    Shrunk: r"returned \(1, 16, 30, 54\), expected \(4, C, 30, 54\)",
}


@pytest.mark.parametrize("module", list(CASES), ids=lambda m: m.__name__)
def test_contract_is_checked_on_every_frame(module, tmp_path):
    with pytest.raises(EncoderContractError) as err:
        vosbench.run(module(), "synthetic-davis", sequences=["drift-2"], device="cpu", batch_size=4, out=str(tmp_path))
    msg = str(err.value).splitlines()[0]  # the run adds a line naming its run folder
    assert msg.startswith(f"drift-2/00000{'' if module in (NaNs, Infs) else '..00003'}: model {module.__name__}: ")
    assert msg.endswith(CONTRACT)
    assert err.match(CASES[module])
    assert isinstance(err.value, vosbench.ConfigError)  # exits 2 on the command line, like every contract error


def test_an_honest_module_still_runs(tmp_path):
    class Honest(Hostile):
        def real(self, x, f):
            return f

    out = vosbench.run(Honest(), "synthetic-davis", sequences=["drift-2"], device="cpu", out=str(tmp_path))
    assert out.record["status"] == "complete" and 0 <= out.metrics["JF_mean"] <= 1
