"""Structural zero-cost features of NAS-Bench-Graph architectures: how far each GNN propagates.

An architecture's 4 layers each read one earlier node (``link_list``: 0 is the input, ``i`` the
output of layer ``i``); the layers that no other layer reads are the output's leaves. A layer
whose op passes messages along the graph (every op but ``fc`` and ``skip``) widens its input's
receptive field by one hop. The features of a configuration are, over its leaves, the largest
and the smallest number of hops (0 to 4), each standardised over all ``9 * n_ops**4``
configurations. They are read from the architecture alone: no data, no training, no benchmark
entry. An architecture of 0 hops never looks at the graph (its accuracy on cora is that of a
per-node MLP), which the one-hot encoding only shows as a four-way interaction.

Used by the ``guided`` optimizer as ``features: nasbench_graph_hops`` (registered in
:data:`paretoforge.search.plugins.FEATURES`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._common import row_indices
from .nasbench_graph import N_LAYERS

__all__ = ["LOCAL_OPS", "hops", "hops_features"]

#: ops that do not pass messages along the graph
LOCAL_OPS = frozenset({"fc", "skip"})

_tables: dict[tuple[str, ...], np.ndarray] = {}


def hops(link: Sequence[int], ops: Sequence[str]) -> tuple[int, int]:
    """``(largest, smallest)`` number of message-passing layers on a path from the input to a
    leaf of the architecture (``link[i]`` is the node layer ``i`` reads)."""
    if len(link) != len(ops):
        raise ValueError(f"nasbench_graph hops: link {list(link)} and ops {list(ops)} differ in length")
    depth = [0] * (len(ops) + 1)
    for i, (src, op) in enumerate(zip(link, ops)):
        depth[i + 1] = depth[src] + (op not in LOCAL_OPS)
    read = set(link)
    leaves = [depth[i] for i in range(1, len(ops) + 1) if i not in read]
    return max(leaves), min(leaves)


def _table(ops: tuple[str, ...]) -> np.ndarray:
    """Standardised ``(largest, smallest)`` hops of every (link, op0..op3), row = mixed-radix index."""
    if ops not in _tables:
        from nas_bench_graph.architecture import link_list

        raw = np.array([hops(link, combo) for link in link_list for combo in itertools.product(ops, repeat=N_LAYERS)],
                       dtype=float)
        _tables[ops] = (raw - raw.mean(axis=0)) / raw.std(axis=0)
    return _tables[ops]


def hops_features(configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Two columns per configuration of the NAS-Bench-Graph space (cora's 9 ops): the
    standardised largest and smallest hops over the leaves."""
    from nas_bench_graph.architecture import gnn_list, link_list

    ops = tuple(gnn_list)
    idx = row_indices(configs, {"link": range(len(link_list)), **{f"op{k}": ops for k in range(N_LAYERS)}})
    return _table(ops)[idx]
