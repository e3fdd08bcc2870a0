"""Zero-cost proxies of the NAS-Bench-201 cells, a low-fidelity signal known before any
evaluation.

:func:`synflow_table` computes ``log(synflow)`` of every cell's network
(:func:`~paretoforge.search.problems.nasbench201_network.cell_network`, no batch norm, weights
drawn from seed 0) in the table's row order; a cell whose output does not reach the input scores
``-inf``. Computing all 15,625 takes about 7 minutes on 2 CPU cores, so the result ships with the
package (``data/nasbench201_synflow.npy``) and is rebuilt with::

    python -m paretoforge.search.problems.nasbench201_proxies --processes 2

:func:`synflow_features` turns it into one standardised input column for a predictor.
"""

from __future__ import annotations

import argparse
import itertools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["SYNFLOW_PATH", "cell_log_synflow", "load_synflow", "synflow_features", "synflow_table"]

SYNFLOW_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "nasbench201_synflow.npy")
_OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
_cache: dict[str, np.ndarray] = {}


def cell_log_synflow(ops: Sequence[str], seed: int = 0) -> float:
    """``log(synflow)`` of the network of one cell (``-inf`` when the score is 0)."""
    import torch

    from ...evaluators.zero_cost import synflow
    from .nasbench201_network import cell_network

    with torch.no_grad():
        net = cell_network(ops)
    score = synflow(net, (3, 32, 32), seed=seed)
    return float(np.log(score)) if score > 0 else float("-inf")


def _rows(chunk: Sequence[int]) -> list[float]:
    import torch

    torch.set_num_threads(1)
    cells = list(itertools.product(_OPS, repeat=6))
    return [cell_log_synflow(cells[i]) for i in chunk]


def synflow_table(processes: int = 1) -> np.ndarray:
    """``log(synflow)`` of all ``5**6`` cells, row = base-5 number of the op indices."""
    n = len(_OPS) ** 6
    chunks = [list(range(i, n, 64 * max(processes, 1))) for i in range(64 * max(processes, 1))]
    if processes > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(processes) as pool:
            parts = pool.map(_rows, chunks)
    else:
        parts = [_rows(c) for c in chunks]
    out = np.empty(n)
    for c, vals in zip(chunks, parts):
        out[c] = vals
    return out


def load_synflow(path: str = SYNFLOW_PATH) -> np.ndarray:
    """The shipped ``log(synflow)`` table (see the module's note to rebuild it)."""
    if path not in _cache:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: the NAS-Bench-201 synflow table is missing; rebuild it with "
                                    "'python -m paretoforge.search.problems.nasbench201_proxies'")
        table = np.load(path)
        if table.shape != (len(_OPS) ** 6,):
            raise ValueError(f"{path}: expected {len(_OPS) ** 6} rows, got shape {table.shape}; rebuild it")
        _cache[path] = table
    return _cache[path]


def synflow_features(configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """One column per configuration (``Op0..Op5``): ``log(synflow)`` standardised over all
    cells; cells that score 0 get the lowest finite value minus 1."""
    table = load_synflow()
    finite = np.isfinite(table)
    z = (table - table[finite].mean()) / table[finite].std()
    z[~finite] = z[finite].min() - 1.0
    lut = {op: i for i, op in enumerate(_OPS)}
    idx = np.zeros(len(configs), dtype=np.int64)
    for k in range(6):
        idx = idx * len(_OPS) + np.array([lut[c[f"Op{k}"]] for c in configs], dtype=np.int64)
    return z[idx, None]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Rebuild the NAS-Bench-201 synflow table.")
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--out", default=SYNFLOW_PATH)
    args = ap.parse_args(argv)
    table = synflow_table(args.processes)
    np.save(args.out, table)
    print(f"wrote {args.out}: {np.isfinite(table).sum()} finite of {len(table)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
