"""The digits classifier whose penultimate features define the digits Frechet distance."""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["DigitsClassifier", "train_classifier"]


class DigitsClassifier(nn.Module):
    """Two 3x3 convolutions, a 64-unit feature layer and a linear head."""

    def __init__(self, width: int = 32, features: int = 64) -> None:
        super().__init__()
        self.width, self.n_features = width, features
        self.body = nn.Sequential(
            nn.Conv2d(1, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(2 * width * 16, features), nn.ReLU(),
        )
        self.head = nn.Linear(features, 10)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def train_classifier(x: torch.Tensor, y: torch.Tensor, *, epochs: int = 40, seed: int = 0, width: int = 32,
                     device: str | torch.device = "cpu") -> DigitsClassifier:
    """Adam, batch 64, light noise augmentation (so that features stay smooth for samples)."""
    g = torch.Generator(device="cpu").manual_seed(seed)
    torch_state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)  # parameter initialisation only; restored below
        model = DigitsClassifier(width).to(device)
    finally:
        torch.random.set_rng_state(torch_state)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    x, y = x.to(device), y.to(device)
    n = len(x)
    for _ in range(epochs):
        perm = torch.randperm(n, generator=g).to(device)
        for i in range(0, n, 64):
            idx = perm[i:i + 64]
            xb = x[idx] + 0.05 * torch.randn(x[idx].shape, generator=g).to(device)
            loss = nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return model.eval().requires_grad_(False)
