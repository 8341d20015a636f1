"""Shared by the ResNet-family model tests: random state dicts in torchvision key names with
non-trivial BatchNorm statistics, and a functional restatement of a ResNet trunk read at layer3.

The restatement follows torchvision's (and mmaction's) ResNet: 7x7 stride-2 stem without bias,
BatchNorm, ReLU, 3x3 stride-2 max-pool (padding 1); basic blocks (ResNet-18: 3x3 conv with the
stage stride, BN, ReLU, 3x3 conv, BN) or bottlenecks (ResNet-50: 1x1, BN, ReLU, 3x3 with the
stage stride, BN, ReLU, 1x1, BN), a projection shortcut (1x1 conv with the stride, BN) on the
first block of a stage, then ``relu(out + shortcut)``.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F

DEPTHS = {18: ("basic", (2, 2, 2, 2)), 50: ("bottleneck", (3, 4, 6, 3))}
IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _convs(kind: str, cin: int, planes: int) -> list[tuple[int, int, int]]:
    """(out, in, kernel) of the convolutions of one block."""
    if kind == "basic":
        return [(planes, cin, 3), (planes, planes, 3)]
    return [(planes, cin, 1), (planes, planes, 3), (planes * 4, planes, 1)]


def torchvision_state_dict(depth: int, seed: int = 0, layer4: bool = True, fc: int | None = None) -> OrderedDict:
    """Every key of a torchvision ResNet (``fc`` with ``fc`` outputs when given), random values:
    He-scaled convolutions, BN weight ~ 1 +- 0.1, bias, running mean and variance away from identity."""
    g = torch.Generator().manual_seed(seed)
    sd: OrderedDict = OrderedDict()

    def conv(name, cout, cin, k):
        sd[name] = torch.randn(cout, cin, k, k, generator=g) * (2.0 / (cin * k * k)) ** 0.5

    def bn(prefix, c):
        sd[prefix + "weight"] = 1 + 0.1 * torch.randn(c, generator=g)
        sd[prefix + "bias"] = 0.1 * torch.randn(c, generator=g)
        sd[prefix + "running_mean"] = 0.1 * torch.randn(c, generator=g)
        sd[prefix + "running_var"] = 0.5 + torch.rand(c, generator=g)
        sd[prefix + "num_batches_tracked"] = torch.tensor(100)

    kind, blocks = DEPTHS[depth]
    conv("conv1.weight", 64, 3, 7)
    bn("bn1.", 64)
    cin = 64
    for i, n in enumerate(blocks[: 4 if layer4 else 3], start=1):
        planes = 64 * 2 ** (i - 1)
        for b in range(n):
            p = f"layer{i}.{b}."
            for j, (co, ci, k) in enumerate(_convs(kind, cin, planes), start=1):
                conv(f"{p}conv{j}.weight", co, ci, k)
                bn(f"{p}bn{j}.", co)
            cout = planes * (4 if kind == "bottleneck" else 1)
            if b == 0 and (i > 1 or cin != cout):
                conv(f"{p}downsample.0.weight", cout, cin, 1)
                bn(f"{p}downsample.1.", cout)
            cin = cout
    if fc is not None:
        sd["fc.weight"] = 0.01 * torch.randn(fc, cin, generator=g)
        sd["fc.bias"] = 0.01 * torch.randn(fc, generator=g)
    return sd


def reference_layer3(x: torch.Tensor, sd: dict, depth: int, layer3_stride: int = 1) -> torch.Tensor:
    """Layer3 features of ImageNet-normalised RGB ``x`` in [0, 1] (strides 1, 2, ``layer3_stride``)."""
    return reference_trunk((x - IMAGENET_MEAN) / IMAGENET_STD, sd, depth, (1, 2, layer3_stride))


def reference_trunk(t: torch.Tensor, sd: dict, depth: int, strides: tuple[int, ...], pool: str = "max") -> torch.Tensor:
    """The output of the last of ``len(strides)`` stages on a normalised input ``t``; ``pool`` after
    the stem: ``max`` (torchvision), ``mean`` (3x3 average, stride 2, padding 1) or ``none``."""
    kind, blocks = DEPTHS[depth]

    def bn(t, p):
        return F.batch_norm(t, sd[p + "running_mean"], sd[p + "running_var"], sd[p + "weight"], sd[p + "bias"], eps=1e-5)

    t = F.relu(bn(F.conv2d(t, sd["conv1.weight"], stride=2, padding=3), "bn1."))
    if pool == "max":
        t = F.max_pool2d(t, 3, stride=2, padding=1)
    elif pool == "mean":
        t = F.avg_pool2d(t, 3, stride=2, padding=1)
    for i, stride in enumerate(strides, start=1):
        for b in range(blocks[i - 1]):
            p = f"layer{i}.{b}."
            s = stride if b == 0 else 1
            y = t
            n = 2 if kind == "basic" else 3
            for j in range(1, n + 1):
                w = sd[f"{p}conv{j}.weight"]
                # the stride sits on the first 3x3 convolution (conv1 of a basic block, conv2 of a bottleneck)
                cs = s if (kind == "basic" and j == 1) or (kind == "bottleneck" and j == 2) else 1
                y = bn(F.conv2d(y, w, stride=cs, padding=w.shape[-1] // 2), f"{p}bn{j}.")
                if j < n:
                    y = F.relu(y)
            short = t
            if f"{p}downsample.0.weight" in sd:
                short = bn(F.conv2d(t, sd[f"{p}downsample.0.weight"], stride=s), f"{p}downsample.1.")
            t = F.relu(y + short)
    return t
