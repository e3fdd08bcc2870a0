"""The continuous-time VP noise schedule (linear beta) shared by every model of the zoo.

``x_t = alpha_t x_0 + sigma_t eps`` with ``log alpha_t = -(beta_1 - beta_0) t^2 / 4 - beta_0 t / 2``
and ``sigma_t = sqrt(1 - alpha_t^2)``; ``lambda_t = log(alpha_t / sigma_t)`` is the half
log-SNR that exponential-integrator solvers step in. Scalars are float64 numpy values, so the
solver coefficients do not depend on the device.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["VPSchedule"]


@dataclass(frozen=True)
class VPSchedule:
    beta_0: float = 0.1
    beta_1: float = 20.0
    t_max: float = 1.0
    t_min: float = 1e-3

    def log_alpha(self, t: float) -> float:
        return -0.25 * t * t * (self.beta_1 - self.beta_0) - 0.5 * t * self.beta_0

    def alpha(self, t: float) -> float:
        return math.exp(self.log_alpha(t))

    def sigma(self, t: float) -> float:
        return math.sqrt(-math.expm1(2.0 * self.log_alpha(t)))

    def lam(self, t: float) -> float:
        la = self.log_alpha(t)
        return la - 0.5 * math.log(-math.expm1(2.0 * la))

    def t_of_lambda(self, lam: float) -> float:
        """The time with half log-SNR ``lam`` (inverse of :meth:`lam`)."""
        tmp = 2.0 * (self.beta_1 - self.beta_0) * np.logaddexp(-2.0 * lam, 0.0)
        delta = self.beta_0 ** 2 + tmp
        return float(tmp / (math.sqrt(delta) + self.beta_0) / (self.beta_1 - self.beta_0))

    # -- tensors for training ---------------------------------------------------------------
    def alpha_sigma(self, t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``alpha_t`` and ``sigma_t`` for a batch of times (training)."""
        la = -0.25 * t * t * (self.beta_1 - self.beta_0) - 0.5 * t * self.beta_0
        return torch.exp(la), torch.sqrt(-torch.expm1(2.0 * la))
