"""Zero-cost proxies of the NAS-Bench-201 cells, low-fidelity signals known before any
evaluation.

Two proxies of every cell's network
(:func:`~paretoforge.search.problems.nasbench201_network.cell_network`, no batch norm), in the
benchmark table's row order:

- ``synflow``: ``log(synflow)``, weights from seed 0, no data (``-inf`` for a cell whose output
  does not reach its input);
- ``naswot``: NASWOT's ``log |det K|`` on :func:`digits_batch`, 64 handwritten digits of
  scikit-learn's bundled dataset upsampled to 3 x 32 x 32 (no CIFAR-10 image is used), weights
  from seed 0.

Computing all 15,625 takes minutes (synflow: about 7 on 2 CPU cores; naswot: about 50 on 2 CPU
cores, or a few on a GPU), so the results ship with the package (``data/nasbench201_<proxy>.npy``)
and are rebuilt with::

    python -m paretoforge.search.problems.nasbench201_proxies --proxy synflow --processes 2
    python -m paretoforge.search.problems.nasbench201_proxies --proxy naswot --device cuda

:func:`proxy_features` turns them into standardised input columns for a predictor (the
``nasbench201_synflow`` and ``nasbench201_zero_cost`` features of the ``guided`` optimizer).
"""

from __future__ import annotations

import argparse
import itertools
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._common import row_indices
from .nasbench201 import N_EDGES
from .nasbench201 import OPS as _OPS

__all__ = ["PROXIES", "cell_proxy", "digits_batch", "load_proxy", "proxy_features", "proxy_path",
           "proxy_table", "synflow_features", "zero_cost_features"]

PROXIES = ("synflow", "naswot")
_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
_cache: dict[str, np.ndarray] = {}
_standardised: dict[str, np.ndarray] = {}


def proxy_path(proxy: str) -> str:
    """Where the shipped table of ``proxy`` lies."""
    if proxy not in PROXIES:
        raise ValueError(f"nasbench201 proxies: unknown proxy {proxy!r}; allowed: {list(PROXIES)}")
    return os.path.join(_DATA, f"nasbench201_{proxy}.npy")


def digits_batch(n: int = 64) -> Any:
    """The first ``n`` digits of scikit-learn's bundled dataset as a standardised
    ``(n, 3, 32, 32)`` float32 tensor (bilinear upsampling of the 8 x 8 images)."""
    import torch
    import torch.nn.functional as F
    from sklearn.datasets import load_digits

    x = torch.tensor(load_digits().images[:n].astype(np.float32) / 16.0)[:, None]
    x = F.interpolate(x, size=32, mode="bilinear", align_corners=False).repeat(1, 3, 1, 1)
    return (x - x.mean()) / x.std()


def cell_proxy(proxy: str, ops: Sequence[str], device: str = "cpu", inputs: Any = None) -> float:
    """One cell's proxy value (see the module's note)."""
    import torch

    from ...evaluators.zero_cost import naswot, synflow
    from .nasbench201_network import cell_network

    with torch.no_grad():
        net = cell_network(ops)
    if proxy == "synflow":
        score = synflow(net, (3, 32, 32), seed=0)
        return float(np.log(score)) if score > 0 else float("-inf")
    if proxy == "naswot":
        x = digits_batch().to(device) if inputs is None else inputs
        return naswot(net, x, seed=0)
    raise ValueError(f"nasbench201 proxies: unknown proxy {proxy!r}; allowed: {list(PROXIES)}")


def _rows(task: tuple[str, str, Sequence[int]]) -> list[float]:
    import torch

    proxy, device, chunk = task
    threads = torch.get_num_threads()
    tf32 = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.set_num_threads(1)
    # the same sign patterns as a float32 CPU run
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        cells = list(itertools.product(_OPS, repeat=N_EDGES))
        x = digits_batch().to(device) if proxy == "naswot" else None
        return [cell_proxy(proxy, cells[i], device, x) for i in chunk]
    finally:  # leave the caller's settings as they were (processes=1 runs here)
        torch.set_num_threads(threads)
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = tf32


def proxy_table(proxy: str, processes: int = 1, device: str = "cpu") -> np.ndarray:
    """``proxy`` of all ``5**6`` cells, row = base-5 number of the op indices."""
    n = len(_OPS) ** N_EDGES
    k = 64 * max(processes, 1)
    chunks = [list(range(i, n, k)) for i in range(k)]
    if processes > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(processes) as pool:
            parts = pool.map(_rows, [(proxy, device, c) for c in chunks])
    else:
        parts = [_rows((proxy, device, c)) for c in chunks]
    out = np.empty(n)
    for c, vals in zip(chunks, parts):
        out[c] = vals
    return out


def load_proxy(proxy: str) -> np.ndarray:
    """The shipped table of ``proxy`` (see the module's note to rebuild it)."""
    path = proxy_path(proxy)
    if path not in _cache:
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: the NAS-Bench-201 {proxy} table is missing; rebuild it with "
                                    f"'python -m paretoforge.search.problems.nasbench201_proxies --proxy {proxy}'")
        table = np.load(path)
        if table.shape != (len(_OPS) ** N_EDGES,):
            raise ValueError(f"{path}: expected {len(_OPS) ** N_EDGES} rows, got shape {table.shape}; rebuild it")
        _cache[path] = table
    return _cache[path]


def proxy_features(configs: Sequence[Mapping[str, Any]], proxies: Sequence[str] = PROXIES) -> np.ndarray:
    """One column per proxy and configuration (``Op0..Op5``): the proxy standardised over all
    cells; cells without a finite value get the lowest finite value minus 1."""
    idx = row_indices(configs, {f"Op{k}": _OPS for k in range(N_EDGES)})
    return np.column_stack([_standardised_table(p)[idx] for p in proxies]) if proxies else np.zeros((len(configs), 0))


def _standardised_table(proxy: str) -> np.ndarray:
    if proxy not in _standardised:
        table = load_proxy(proxy)
        finite = np.isfinite(table)
        z = (table - table[finite].mean()) / table[finite].std()
        z[~finite] = z[finite].min() - 1.0
        _standardised[proxy] = z
    return _standardised[proxy]


def synflow_features(configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """:func:`proxy_features` with synflow alone."""
    return proxy_features(configs, ("synflow",))


def zero_cost_features(configs: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """:func:`proxy_features` with every proxy (synflow and naswot)."""
    return proxy_features(configs, PROXIES)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Rebuild a NAS-Bench-201 zero-cost proxy table.")
    ap.add_argument("--proxy", choices=PROXIES, required=True)
    ap.add_argument("--processes", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default=None, help="default: the shipped table's path")
    args = ap.parse_args(argv)
    out = args.out or proxy_path(args.proxy)
    table = proxy_table(args.proxy, args.processes, args.device)
    np.save(out, table)
    print(f"wrote {out}: {np.isfinite(table).sum()} finite of {len(table)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
