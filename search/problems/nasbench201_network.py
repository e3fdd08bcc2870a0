"""The NAS-Bench-201 network of a cell, as a ``torch.nn.Module`` (batch norm left out).

The macro skeleton of Dong & Yang (2020): a 3x3 stem convolution to ``C`` channels; three stages
of ``N`` copies of the searched cell at ``C``, ``2C`` and ``4C`` channels, joined by residual
reduction blocks (stride 2); ReLU, global average pooling and a linear classifier. A cell is a
DAG of 4 nodes: node ``j`` sums ``op(i -> j)`` over ``i < j`` and node 3 is the output; the six
edges are, in the order of ``Op0..Op5``: 0->1, 0->2, 1->2, 0->3, 1->3, 2->3. Ops:
``none`` (no edge), ``skip_connect``, ``nor_conv_1x1`` / ``nor_conv_3x3`` (ReLU, convolution;
the benchmark's trailing batch norm is left out, as zero-cost proxies use the network) and
``avg_pool_3x3``. Used to compute zero-cost proxies of the benchmark's cells.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["EDGES", "Cell", "cell_network"]

EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))


def _op(name: str, channels: int) -> nn.Module | None:
    if name == "nor_conv_3x3":
        return nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 3, 1, 1, bias=False))
    if name == "nor_conv_1x1":
        return nn.Sequential(nn.ReLU(), nn.Conv2d(channels, channels, 1, bias=False))
    if name == "avg_pool_3x3":
        return nn.AvgPool2d(3, 1, 1, count_include_pad=False)
    if name == "skip_connect":
        return nn.Identity()
    if name == "none":
        return None
    raise ValueError(f"nasbench201 cell: unknown op {name!r}")


class Cell(nn.Module):
    """One NAS-Bench-201 cell with the six ``ops`` of :data:`EDGES`."""

    def __init__(self, ops: Sequence[str], channels: int) -> None:
        super().__init__()
        if len(ops) != len(EDGES):
            raise ValueError(f"nasbench201 cell: {len(EDGES)} ops expected, got {len(ops)}")
        self.ops = tuple(ops)
        self.edges = nn.ModuleDict()
        for (i, j), name in zip(EDGES, ops):
            m = _op(name, channels)
            if m is not None:
                self.edges[f"{i}{j}"] = m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nodes = [x]
        for j in (1, 2, 3):
            terms = [self.edges[f"{i}{j}"](nodes[i]) for i in range(j) if f"{i}{j}" in self.edges]
            nodes.append(torch.stack(terms).sum(0) if terms else torch.zeros_like(x))
        return nodes[3]


class _Reduction(nn.Module):
    """Residual block halving the resolution: two 3x3 convolutions beside a pooled 1x1."""

    def __init__(self, c_in: int, c_out: int) -> None:
        super().__init__()
        self.a = nn.Sequential(nn.ReLU(), nn.Conv2d(c_in, c_out, 3, 2, 1, bias=False))
        self.b = nn.Sequential(nn.ReLU(), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False))
        self.shortcut = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(c_in, c_out, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b(self.a(x)) + self.shortcut(x)


def cell_network(ops: Sequence[str], channels: int = 16, cells_per_stage: int = 5,
                 num_classes: int = 10) -> nn.Sequential:
    """The benchmark's network of the cell ``ops`` (input: 3 x 32 x 32 images)."""
    layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, 1, 1, bias=False)]
    for stage in range(3):
        c = channels * 2**stage
        if stage:
            layers.append(_Reduction(c // 2, c))
        layers += [Cell(ops, c) for _ in range(cells_per_stage)]
    layers += [nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4 * channels, num_classes)]
    return nn.Sequential(*layers)
