"""Expert pruning and merging (EEP) on sparse MoE models: the shipped tiny MoE LM, a small
random model, and a Hugging Face Mixtral model built from a config."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from paretoforge.evaluators.lm import PerplexityEvaluator, lm_metrics
from paretoforge.spaces.experts import (
    ExpertMergeSpace,
    ExpertPruningSpace,
    apply_expert_config,
    find_moe_blocks,
    least_routed_keep,
    merge_experts,
    prune_experts,
    random_keep,
    routing_counts,
)
from paretoforge.zoo.tiny_moe import MoEConfig, TinyMoELM, encode_bytes

CFG = MoEConfig(d_model=32, n_heads=2, n_layers=2, n_experts=4, top_k=2, d_ff=32, context=16)


@pytest.fixture(scope="module")
def lm() -> TinyMoELM:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return TinyMoELM(CFG).eval()


@pytest.fixture(scope="module")
def rows() -> torch.Tensor:
    from paretoforge.zoo import corpus_split

    return encode_bytes(corpus_split(0)["heldout"][:60], CFG.context)[:24]


def _reference_block(block, x: torch.Tensor, keep: list[int]) -> torch.Tensor:
    """Routing among ``keep`` only: softmax over all, restrict, top-k, renormalise."""
    probs = F.softmax(block.router(x), -1)[:, keep]
    w, idx = torch.topk(probs, min(block.top_k, len(keep)), -1)
    w = w / w.sum(-1, keepdim=True)
    out = torch.zeros_like(x)
    for t in range(len(x)):
        for s in range(w.shape[1]):
            out[t] += w[t, s] * block.experts[keep[int(idx[t, s])]](x[t:t + 1])[0]
    return out


def test_pruning_routes_among_kept_experts(lm) -> None:
    x = torch.randn(10, CFG.d_model, generator=torch.Generator().manual_seed(1))
    block = lm.blocks[0].moe
    with torch.inference_mode():
        full = block(x)[0]
        assert torch.allclose(prune_experts(copy.deepcopy(block), range(4))(x)[0], full, atol=1e-6)
        for keep in ([0, 2, 3], [1, 3], [2]):
            pruned = prune_experts(copy.deepcopy(block), keep)
            assert pruned.n_experts == len(keep)
            assert torch.allclose(pruned(x)[0], _reference_block(block, x, keep), atol=1e-5)


def test_merging_mixes_weights_and_remaps_router(lm) -> None:
    block = copy.deepcopy(lm.blocks[1].moe)
    e = [copy.deepcopy(block.experts[i]) for i in range(4)]
    m = torch.tensor([[0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.2, 0.8]])
    merge_experts(block, m, route=torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]))
    assert block.n_experts == 2
    assert torch.allclose(block.experts[0].w1.weight, 0.5 * e[0].w1.weight + 0.5 * e[1].w1.weight)
    assert torch.allclose(block.experts[1].w2.weight, 0.2 * e[2].w2.weight + 0.8 * e[3].w2.weight)
    x = torch.randn(5, CFG.d_model, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        probs, w, idx = block.routing(x)
        p = F.softmax(lm.blocks[1].moe.router(x), -1)
        assert torch.allclose(w.sum(-1), torch.ones(5)) and torch.allclose(probs, p, atol=1e-6)
        # both merged experts are chosen (top_k = 2 of 2), weights = grouped probabilities, renormalised
        g = torch.stack([p[:, :2].sum(-1), p[:, 2:].sum(-1)], -1)
        assert torch.allclose(torch.sort(w, -1).values, torch.sort(g / g.sum(-1, keepdim=True), -1).values, atol=1e-6)


def test_spaces_costs_apply_and_merge_seed(lm, rows) -> None:
    sp = ExpertPruningSpace(lm, keep=2)
    assert sp.names == ["keep_0", "keep_1"] and sp.cardinality == 36
    cfg = {"keep_0": [0, 3], "keep_1": [1, 2]}
    pruned = sp.apply(cfg)
    assert sp.params(cfg) == sum(p.numel() for p in pruned.parameters()) < sum(p.numel() for p in lm.parameters())
    assert sp.experts_kept(cfg) == 4 and lm.blocks[0].moe.n_experts == 4  # the original is untouched
    ms = ExpertMergeSpace(lm, keep=2, initial=[cfg])
    assert len(ms.initial_configs) == 1
    merged = ms.apply(ms.initial_configs[0])
    with torch.inference_mode():
        assert torch.allclose(merged(rows[:4, :-1])[0], pruned(rows[:4, :-1])[0], atol=1e-5)
    front = ExpertPruningSpace(lm, k_min=1, k_max=4)
    assert front.cardinality == 15 * 15
    with pytest.raises(ValueError, match="keep_7"):
        apply_expert_config(lm, {"keep_7": [0]})


def test_routing_counts_and_baselines(lm, rows) -> None:
    counts = routing_counts(lm, [rows[:8, :-1], rows[8:16, :-1]])
    assert len(counts) == 2
    for c in counts:
        assert c.sum() == 16 * CFG.context * CFG.top_k
    keep = least_routed_keep(counts, 2)
    for li, c in enumerate(counts):
        assert sorted(c[keep[f"keep_{li}"]]) == sorted(np.sort(c)[-2:])
    r = random_keep([4, 4], 3, np.random.default_rng(0))
    assert all(len(v) == 3 for v in r.values()) and r == random_keep([4, 4], 3, np.random.default_rng(0))


def test_perplexity_evaluator(lm, rows) -> None:
    ev = PerplexityEvaluator(lm, rows, n_rows=24, min_rows=6)
    full, one, bad = ev.evaluate([{}, {"keep_0": [0], "keep_1": [3]}, {"bits": [2]}])
    assert full.ok and one.ok and not bad.ok and "bits" in bad.error
    assert full.metrics["perplexity"] == pytest.approx(math.exp(full.metrics["nll"]))
    assert full.metrics["error"] == pytest.approx(1 - full.metrics["accuracy"])
    assert one.metrics["params"] < full.metrics["params"]
    assert full.metrics == pytest.approx({**lm_metrics(lm, rows), "params": full.metrics["params"]})
    assert ev.evaluate([{}], fidelity=0.25)[0].info["rows"] == 6
    import pickle  # process-pool backends ship the evaluator to their workers

    again = pickle.loads(pickle.dumps(ev)).evaluate([{"keep_0": [0], "keep_1": [3]}])[0]
    assert again.metrics == pytest.approx(one.metrics)


def test_shipped_tiny_moe_is_trained_and_pruning_hurts() -> None:
    from paretoforge.evaluators.lm import perplexity_evaluator

    ev = perplexity_evaluator(split="test", n_rows=32)
    lm = ev.model
    assert lm.cfg.n_experts == 8 and len(find_moe_blocks(lm)) == lm.cfg.n_layers
    assert all(p.dtype == torch.float32 for p in lm.parameters())
    full, one = ev.evaluate([{}, {f"keep_{li}": [0] for li in range(lm.cfg.n_layers)}])
    assert full.metrics["perplexity"] < 6.0 and full.metrics["accuracy"] > 0.45  # uniform bytes: 256, 1/256
    assert one.metrics["perplexity"] > full.metrics["perplexity"]


def _mixtral():
    from transformers import MixtralConfig, MixtralForCausalLM

    cfg = MixtralConfig(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                        num_attention_heads=4, num_key_value_heads=2, num_local_experts=4, num_experts_per_tok=2,
                        max_position_embeddings=64)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return MixtralForCausalLM(cfg).eval()


def _hf_expert(block, e: int, x: torch.Tensor) -> torch.Tensor:
    ex = block.experts
    if hasattr(ex, "gate_up_proj"):
        gate, up = F.linear(x, ex.gate_up_proj[e]).chunk(2, dim=-1)
        return F.linear(ex.act_fn(gate) * up, ex.down_proj[e])
    m = ex[e]
    return m.w2(m.act_fn(m.w1(x)) * m.w3(x))


def test_hf_mixtral_blocks_prune_exactly() -> None:
    model = _mixtral()
    names = find_moe_blocks(model)
    assert len(names) == 2
    block = model.get_submodule(names[0])
    x = torch.randn(7, 32, generator=torch.Generator().manual_seed(3))
    keep = [0, 2, 3]
    with torch.inference_mode():
        pruned = prune_experts(copy.deepcopy(block), keep)
        got = pruned(x.unsqueeze(0))[0]
        logits = F.linear(x, block.gate.weight)[:, keep]
        w, idx = torch.topk(F.softmax(logits, -1), 2, -1)
        w = w / w.sum(-1, keepdim=True)
        ref = torch.stack([sum(w[t, s] * _hf_expert(block, keep[int(idx[t, s])], x[t]) for s in range(2))
                           for t in range(7)])
        assert torch.allclose(got, ref, atol=1e-5)
        sp = ExpertPruningSpace(model, keep=2)
        cfg = {"keep_0": [1, 2], "keep_1": [0, 3]}
        small = sp.apply(cfg)
        assert sp.params(cfg) == sum(p.numel() for p in small.parameters())
        ids = torch.randint(0, 64, (2, 10), generator=torch.Generator().manual_seed(4))
        assert torch.isfinite(small(ids).logits).all()
        ev = PerplexityEvaluator(model, torch.randint(0, 64, (4, 11), generator=torch.Generator().manual_seed(5)))
        r = ev.evaluate([{}, cfg])
        assert r[0].ok and r[1].ok and r[1].metrics["params"] < r[0].metrics["params"]
        counts = routing_counts(model, [ids])
        assert all(c.sum() == 20 * 2 for c in counts)


def test_hf_mixtral_merge_space_applies_its_own_seeds_with_exact_costs() -> None:
    """On Hugging Face blocks (no router remapping) every merge configuration failed, its own
    seeds included, and the params cost missed the router rows that a merge drops."""
    model = _mixtral()
    keep = {"keep_0": [1, 2], "keep_1": [0, 3]}
    ms = ExpertMergeSpace(model, keep=2, initial=[keep])
    assert ms.names == ["merge_0", "merge_1"]  # no route_<l> on these blocks
    cfg = ms.initial_configs[0]
    merged = ms.apply(cfg)
    assert ms.cost("params", cfg) == sum(p.numel() for p in merged.parameters())
    assert ms.cost("params", cfg) == ExpertPruningSpace(model, keep=2).params(keep)


def test_applying_in_place_to_the_spaces_own_model_is_refused(lm) -> None:
    """Pruning the space's own model in place (the shared reference every later configuration
    and cost starts from) corrupted every later space and evaluator of the process."""
    from paretoforge.spaces.layers import LayerSelectionSpace
    from paretoforge.spaces.variables import ConfigError

    sp = ExpertPruningSpace(lm, keep=2)
    with pytest.raises(ConfigError, match="shares its MoE blocks with the space's model"):
        sp.apply({"keep_0": [0, 1], "keep_1": [0, 1]}, lm)
    ms = ExpertMergeSpace(lm, keep=2, initial=[{"keep_0": [0, 1], "keep_1": [0, 1]}])
    with pytest.raises(ConfigError, match="shares its MoE blocks"):
        ms.apply(ms.initial_configs[0], lm)
    assert lm.blocks[0].moe.n_experts == 4
    pruned = sp.apply({"keep_0": [0, 1], "keep_1": [0, 1]}, copy.deepcopy(lm))  # a copy is fine
    assert pruned.blocks[0].moe.n_experts == 2
    layers = LayerSelectionSpace(lm)
    with pytest.raises(ConfigError, match="the target is the space's model"):
        layers.apply({"layers": [0]}, lm)
    assert len(lm.get_submodule(layers.blocks_path)) == layers.n_blocks


def test_loading_the_shipped_model_leaves_the_global_generator_alone() -> None:
    from paretoforge.zoo.tiny_moe import load_tiny_moe

    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    load_tiny_moe()
    assert torch.equal(torch.rand(3), expected)


def test_expert_indices_must_be_whole_and_keep_and_merge_exclusive(lm) -> None:
    for bad in ([0.7, 1], ["3"], [True, 2]):
        with pytest.raises(ValueError, match="keep must be whole expert indices"):
            apply_expert_config(lm, {"keep_0": bad})
    merge = ExpertMergeSpace(lm, keep=2, initial=[{"keep_0": [0, 1], "keep_1": [0, 1]}]).initial_configs[0]
    with pytest.raises(ValueError, match=r"layer\(s\) \[0\]: give keep_<l> .* or merge_<l> .*, not both"):
        apply_expert_config(lm, {"keep_0": [0, 1], "merge_0": merge["merge_0"]})
