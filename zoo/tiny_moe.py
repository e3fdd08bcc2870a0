"""A tiny byte-level mixture-of-experts language model (Mixtral-style sparse MoE blocks).

Pre-norm transformer: causal self-attention, then a sparse MoE feed-forward (a linear router,
softmax, top-k experts, weights renormalised over the chosen k). Each :class:`MoEBlock` supports
EEP's two operations: keeping a subset of its experts (pruning) and, in the second stage,
merging experts (new expert j = sum_i M[j, i] * expert_i) with a router remap (new routing
probabilities = softmax(router(h)) @ T^T, then top-k and renormalise).

The shipped weights (``assets/tiny_moe.safetensors``, fp16) come from
``python -m paretoforge.zoo.train_moe`` (seeded, device-agnostic) on the stdlib corpus's search
split; the held-out split measures perplexity.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["ASSET", "LM_SPLITS", "MoEBlock", "MoEConfig", "TinyMoELM", "encode_bytes", "lm_rows", "load_tiny_moe",
           "save_tiny_moe"]

#: text splits for the language model: ``train`` is the corpus's search split (the training
#: text); the held-out split is cut in two: ``calib`` (searches score configurations on it) and
#: ``test`` (reported numbers)
LM_SPLITS = ("train", "calib", "test")

ASSET = Path(__file__).resolve().parent / "assets" / "tiny_moe.safetensors"


@dataclass
class MoEConfig:
    vocab: int = 256
    d_model: int = 96
    n_heads: int = 4
    n_layers: int = 2
    n_experts: int = 8
    top_k: int = 2
    d_ff: int = 192
    context: int = 64


class Expert(nn.Module):
    def __init__(self, d: int, h: int) -> None:
        super().__init__()
        self.w1, self.w2 = nn.Linear(d, h, bias=False), nn.Linear(h, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w2(F.gelu(self.w1(x)))


class MoEBlock(nn.Module):
    """Sparse MoE feed-forward. ``route_map`` (k' x E, optional) remaps the router's E
    probabilities onto the current experts; without it the router has one row per expert."""

    def __init__(self, d: int, h: int, n_experts: int, top_k: int) -> None:
        super().__init__()
        self.router = nn.Linear(d, n_experts, bias=False)
        self.experts = nn.ModuleList([Expert(d, h) for _ in range(n_experts)])
        self.top_k = top_k
        self.route_map: torch.Tensor | None = None
        self.last_counts: torch.Tensor | None = None  # tokens routed to each expert in the last forward

    @property
    def n_experts(self) -> int:
        return len(self.experts)

    def routing(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(router probabilities over the original E, top-k weights, top-k indices into experts)."""
        probs = F.softmax(self.router(x).float(), dim=-1)
        p = probs @ self.route_map.T.to(probs) if self.route_map is not None else probs
        k = min(self.top_k, p.shape[-1])
        w, idx = torch.topk(p, k, dim=-1)
        w = w / w.sum(-1, keepdim=True).clamp_min(1e-9)
        return probs, w, idx

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        probs, w, idx = self.routing(flat)
        out = torch.zeros_like(flat)
        counts = torch.zeros(self.n_experts, dtype=torch.long)
        for e in range(self.n_experts):
            tok, slot = torch.where(idx == e)
            counts[e] = tok.numel()
            if tok.numel():
                out.index_add_(0, tok, self.experts[e](flat[tok]) * w[tok, slot, None].to(flat.dtype))
        self.last_counts = counts
        # Switch-style load-balancing loss (used in training only)
        frac = F.one_hot(idx[:, 0], self.n_experts).float().mean(0) if self.route_map is None else None
        aux = (frac * probs.mean(0)).sum() * self.n_experts if frac is not None else flat.new_zeros(())
        return out.reshape(shape), aux


class Block(nn.Module):
    def __init__(self, cfg: MoEConfig) -> None:
        super().__init__()
        self.ln1, self.ln2 = nn.LayerNorm(cfg.d_model), nn.LayerNorm(cfg.d_model)
        self.attn = nn.MultiheadAttention(cfg.d_model, cfg.n_heads, batch_first=True, bias=False)
        self.moe = MoEBlock(cfg.d_model, cfg.d_ff, cfg.n_experts, cfg.top_k)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.ln1(x)
        x = x + self.attn(h, h, h, attn_mask=mask, need_weights=False)[0]
        y, aux = self.moe(self.ln2(x))
        return x + y, aux


class TinyMoELM(nn.Module):
    """Byte-level causal LM with sparse MoE blocks; ``forward(ids)`` returns (logits, aux loss)."""

    def __init__(self, cfg: MoEConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok = nn.Embedding(cfg.vocab, cfg.d_model)
        self.pos = nn.Embedding(cfg.context, cfg.d_model)
        self.blocks = nn.ModuleList([Block(cfg) for _ in range(cfg.n_layers)])
        self.ln = nn.LayerNorm(cfg.d_model)
        self.head = nn.Linear(cfg.d_model, cfg.vocab, bias=False)

    def moe_blocks(self) -> list[MoEBlock]:
        return [b.moe for b in self.blocks]

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        T = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(T, device=ids.device))
        mask = torch.triu(torch.ones(T, T, dtype=torch.bool, device=ids.device), 1)
        aux = x.new_zeros(())
        for b in self.blocks:
            x, a = b(x, mask)
            aux = aux + a
        return self.head(self.ln(x)), aux


def encode_bytes(texts: list[str] | tuple[str, ...], context: int) -> torch.Tensor:
    """Sentences as UTF-8 bytes joined by newlines, cut into rows of ``context + 1`` bytes."""
    data = torch.tensor(list("\n".join(texts).encode("utf-8")), dtype=torch.long)
    n = (len(data) - 1) // context
    return torch.stack([data[i * context:i * context + context + 1] for i in range(n)])


def lm_rows(split: str, context: int, seed: int = 0) -> torch.Tensor:
    """Rows of ``context + 1`` bytes of one of :data:`LM_SPLITS`, in a seeded random order."""
    from .corpus import corpus_split

    parts = corpus_split(seed)
    held = parts["heldout"]
    texts = {"train": parts["search"], "calib": held[: len(held) // 2], "test": held[len(held) // 2:]}
    if split not in texts:
        raise ValueError(f"unknown split {split!r}; allowed: {list(LM_SPLITS)}")
    rows = encode_bytes(texts[split], context)
    return rows[torch.randperm(len(rows), generator=torch.Generator().manual_seed(seed))]


def save_tiny_moe(model: TinyMoELM, path: str | Path = ASSET) -> Path:
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().half().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(path), metadata={"config": json.dumps(asdict(model.cfg))})
    return path


def load_tiny_moe(path: str | Path | None = None, dtype: torch.dtype = torch.float32) -> TinyMoELM:
    """The shipped tiny MoE LM (or the one at ``path``), in eval mode."""
    from safetensors import safe_open

    path = Path(path) if path is not None else ASSET
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no tiny MoE weights; train them with: python -m paretoforge.zoo.train_moe")
    with safe_open(str(path), framework="pt") as f:
        cfg = MoEConfig(**json.loads((f.metadata() or {})["config"]))
        state = {k: f.get_tensor(k).to(dtype) for k in f.keys()}
    with torch.random.fork_rng(devices=[]):  # its layers' initialisation draws from the global generator
        model = TinyMoELM(cfg)
    model.load_state_dict(state)
    return model.to(dtype).eval()
