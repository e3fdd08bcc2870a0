"""Zero-cost proxies: scores of an untrained network that rank architectures without training.

``naswot`` (Mellor et al. 2021, "NAS without training") feeds one batch of inputs and scores how
differently the ReLUs partition them: with ``c_i`` the binary activation code of input ``i``
(which units are active, over all ReLUs), ``K[i, j]`` counts the units where ``c_i`` and ``c_j``
agree, and the score is ``log |det K|``. It needs inputs but no labels and no training.

``synflow`` (Tanaka et al. 2020; as a NAS proxy: Abdelfattah et al. 2021) replaces every weight
by its absolute value, feeds an all-ones input in float64 and sums ``|theta * dL/dtheta|`` over
the weight matrices and kernels, where ``L`` is the sum of the outputs. It needs no data and no
labels, so it is a low-fidelity signal known before any evaluation: DELE's cheap experts, or
extra inputs of a predictor (``guided``'s ``features``). The weights are drawn from an explicit
generator (the module's own initialisation is replaced), so a score is reproducible.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["naswot", "synflow"]


def _reinit(module: nn.Module, generator: torch.Generator, signed: bool, dtype: torch.dtype) -> None:
    """Kaiming-uniform weights with the fan-in bound ``b`` of ``nn.Conv2d`` / ``nn.Linear``,
    drawn from ``generator``: ``U(-b, b)`` when ``signed``, else their magnitudes ``U(0, b)``;
    1-d parameters (biases) become zero."""
    for p in module.parameters():
        if p.dim() > 1:
            bound = 1.0 / math.sqrt(p[0].numel())
            u = torch.rand(p.shape, generator=generator, dtype=dtype)
            p.copy_(((u * 2.0 - 1.0) if signed else u) * bound)
        elif p.dim() == 1:
            p.fill_(0.0)


def naswot(module: nn.Module, inputs: torch.Tensor, seed: int = 0) -> float:
    """NASWOT score of ``module`` on the batch ``inputs`` (weights redrawn from ``seed``, in
    place; the module stays on the inputs' device). ``-inf`` when the codes are degenerate."""
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        _reinit(module, gen, signed=True, dtype=torch.float32)
    module = module.to(inputs.device).train(False)
    n = int(inputs.shape[0])
    K = torch.zeros(n, n, dtype=torch.float64, device=inputs.device)

    def hook(_m: nn.Module, args: tuple[torch.Tensor, ...], _out: torch.Tensor) -> None:
        code = (args[0].reshape(n, -1) > 0).double()
        K.add_(code @ code.T + (1.0 - code) @ (1.0 - code).T)

    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, nn.ReLU)]
    try:
        with torch.no_grad():
            module(inputs)
    finally:
        for h in handles:
            h.remove()
    sign, logdet = torch.linalg.slogdet(K)
    return float(logdet) if float(sign) > 0 else float("-inf")


def synflow(module: nn.Module, input_shape: Sequence[int], seed: int = 0) -> float:
    """SynFlow score of ``module`` (changed in place: float64, non-negative weights).

    ``input_shape`` excludes the batch dimension (one all-ones example is used). Batch norm
    should be left out of ``module`` (the proxy is defined on the linear path structure).
    Returns 0.0 for a network whose output does not depend on its weights.
    """
    module = module.double()
    module.train(False)
    gen = torch.Generator().manual_seed(int(seed))
    with torch.no_grad():
        _reinit(module, gen, signed=False, dtype=torch.float64)
    for p in module.parameters():
        p.grad = None
    x = torch.ones((1, *[int(d) for d in input_shape]), dtype=torch.float64)
    out = module(x)
    if not out.requires_grad:
        return 0.0
    out.sum().backward()
    total = 0.0
    with torch.no_grad():
        for p in module.parameters():
            if p.grad is not None and p.dim() > 1:
                total += float((p * p.grad).abs().sum())
    return total
