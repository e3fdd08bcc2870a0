"""Embedding fidelity of a configured sentence encoder against its full-precision self.

For ``n`` sentences of one corpus split the evaluator compares the configured model's embeddings
with the full-precision ones: ``cosine`` (mean cosine similarity per sentence) and
``nn_agreement`` (the fraction of sentences whose nearest neighbour among the ``n`` is the same
in both embedding spaces), plus ``cosine_error`` = 1 - cosine and ``nn_error`` = 1 - nn_agreement
for minimisation. Lower fidelity uses fewer sentences: ``n = max(min_sentences,
round(n_sentences * fidelity))``. The tokenized batch and the reference embeddings are computed
once per evaluator (per worker).

Configurations may carry ``bits`` (per-layer weight bit-widths, see
:class:`~paretoforge.spaces.quantization.BitWidthSpace`) and/or ``layers`` (indices of the
transformer blocks to keep, see :mod:`paretoforge.spaces.layers`).
"""

from __future__ import annotations

import copy
import time
import traceback
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..base import EvalResult, Evaluator, check_metrics
from .configure import ModelConfigurator
from .timing import measure_latency

__all__ = ["EmbeddingFidelityEvaluator", "embedding_fidelity", "embedding_metrics"]


def embedding_metrics(emb: torch.Tensor, ref: torch.Tensor) -> dict[str, float]:
    """Mean cosine and nearest-neighbour agreement of ``emb`` against ``ref`` (rows = sentences)."""
    e = nn.functional.normalize(emb.float(), dim=-1)
    r = nn.functional.normalize(ref.float(), dim=-1)
    cos = float((e * r).sum(-1).mean())
    eye = torch.eye(len(e), dtype=torch.bool)
    nn_e = (e @ e.T).masked_fill(eye, -2.0).argmax(-1)
    nn_r = (r @ r.T).masked_fill(eye, -2.0).argmax(-1)
    agree = float((nn_e == nn_r).float().mean())
    return {"cosine": cos, "cosine_error": 1.0 - cos, "nn_agreement": agree, "nn_error": 1.0 - agree}


class EmbeddingFidelityEvaluator(Evaluator):
    """Measures how well a configured encoder keeps the full-precision sentence embeddings."""

    metrics = ("cosine", "cosine_error", "nn_agreement", "nn_error")

    def __init__(self, encoder: nn.Module, sentences: Sequence[str], *, n_sentences: int = 128,
                 min_sentences: int = 16, max_length: int = 64, group_size: int | None = None,
                 quant_layers: Sequence[str] | None = None,
                 measure_time: bool = False, device: str | torch.device = "cpu", cache_weights: bool = True) -> None:
        if len(sentences) < 2:
            raise ValueError("embedding_fidelity: need at least 2 sentences")
        self.sentences = list(sentences[: max(n_sentences, min_sentences)])
        self.n_sentences, self.min_sentences = min(n_sentences, len(self.sentences)), min(min_sentences, n_sentences)
        self.device = torch.device(device)
        self.reference = encoder
        self.work = copy.deepcopy(encoder).to(self.device).eval()
        # left open (None): the study's quantization space gives them (check_space); else 64 and every
        # quantizable linear layer
        self._open = {"group_size": group_size is None, "quant_layers": quant_layers is None}
        self.configurator = ModelConfigurator(encoder, self.work, group_size=64 if group_size is None else group_size,
                                              quant_layers=quant_layers, cache_weights=cache_weights)
        self.measure_time = measure_time
        with torch.inference_mode():
            batch = encoder.tokenize(self.sentences, max_length)
            self.batch = {k: v.to(self.device) for k, v in batch.items()}
            ref_model = copy.deepcopy(encoder).to(self.device) if self.device.type != "cpu" else encoder
            self.ref_emb = ref_model(**self.batch).float().cpu()

    def check_space(self, space: Any) -> None:
        """A quantization space's ``group_size`` and ``layers`` (the layers its bit-widths stand
        for) are the evaluator's too: taken where its own were left open, checked where given."""
        names, group = getattr(space, "layer_names", None), getattr(space, "group_size", None)
        if names is None or group is None or "bits" not in space.names:
            return
        conf = self.configurator
        if self._open["group_size"]:
            conf.group_size = int(group)
        if self._open["quant_layers"]:
            conf.quant_layers = list(names)
        conf.reset()
        if conf.group_size != group:
            raise ValueError(f"embedding_fidelity: 'group_size' is {conf.group_size}, but the space quantizes in "
                             f"groups of {group}: leave the evaluator's 'group_size' out (it follows the space) or "
                             f"give both the same")
        if list(conf.bitspace.layer_names) != list(names):
            raise ValueError(f"embedding_fidelity: its 'quant_layers' ({len(conf.bitspace.layer_names)} layers) are not "
                             f"the space's 'layers' ({len(names)}): leave the evaluator's 'quant_layers' out (it "
                             f"follows the space) or give both the same list")

    def _slice(self, n: int) -> dict[str, torch.Tensor]:
        width = int(self.batch["attention_mask"][:n].sum(-1).max())
        return {k: v[:n, :width] for k, v in self.batch.items()}

    def n_for(self, fidelity: float) -> int:
        return max(self.min_sentences, min(self.n_sentences, int(round(self.n_sentences * fidelity))))

    def evaluate(self, configs: Sequence[dict[str, Any]], fidelity: float = 1.0) -> list[EvalResult]:
        n = self.n_for(fidelity)
        batch = self._slice(n)
        out = []
        for cfg in configs:
            t0 = time.perf_counter()
            try:
                with torch.inference_mode():
                    model = self.configurator.configure(cfg)
                    emb = model(**batch).float().cpu()
                    metrics = embedding_metrics(emb, self.ref_emb[:n])
                    if self.measure_time:
                        metrics["latency_s"] = measure_latency(lambda m=model: m(**batch), self.device)
                metrics.update(self.configurator.counts(cfg))
                err = check_metrics(metrics)
                res = EvalResult.failure(err) if err else EvalResult(metrics, info={"sentences": n})
            except Exception as exc:  # noqa: BLE001 - a failing configuration is data
                res = EvalResult.failure(f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=4)}")
            finally:
                self.configurator.restore()
            res.duration = time.perf_counter() - t0
            out.append(res)
        return out


def embedding_fidelity(model: str = "minilm", split: str = "search", n_sentences: int = 128, min_sentences: int = 16,
                       group_size: int | None = None, max_length: int = 64, measure_time: bool = False, seed: int = 0,
                       device: str = "cpu", model_options: dict[str, Any] | None = None,
                       quant_layers: Sequence[str] | None = None) -> EmbeddingFidelityEvaluator:
    """The registered ``embedding_fidelity`` evaluator over a zoo encoder and a split of the
    stdlib corpus (``split``: ``search`` or ``heldout``). ``group_size`` and ``quant_layers``
    follow the study's ``bitwidth`` space when left out (else 64 and every quantizable layer)."""
    from ...zoo import corpus_split, get_model

    parts = corpus_split(seed)
    if split not in parts:
        raise ValueError(f"embedding_fidelity: key 'split' is {split!r}; allowed: {sorted(parts)}")
    encoder = get_model(model, **(model_options or {}))
    return EmbeddingFidelityEvaluator(encoder, parts[split], n_sentences=n_sentences, min_sentences=min_sentences,
                                      max_length=max_length, group_size=group_size, quant_layers=quant_layers,
                                      measure_time=measure_time, device=device)
