"""Layer selection over a model's block list, with ShortGPT's Block Influence baseline."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from paretoforge.evaluators.lm import EmbeddingFidelityEvaluator
from paretoforge.search import Objective, Study
from paretoforge.search.spec import SpecError, StudySpec
from paretoforge.spaces.layers import LayerSelectionSpace, block_influence, find_blocks, shortgpt_keep
from paretoforge.zoo import corpus_split
from paretoforge.zoo.minilm import tiny_bert


@pytest.fixture(scope="module")
def enc():
    return tiny_bert(seed=0, layers=4)


def test_space_enumerates_every_subset_with_exact_costs(enc) -> None:
    sp = LayerSelectionSpace(enc, k_min=0)
    assert sp.blocks_path == "model.encoder.layer" and sp.n_blocks == 4
    configs = list(sp.enumerate())
    assert len(configs) == 16 and sp.cardinality == 16
    full = {"layers": [0, 1, 2, 3]}
    assert sp.params(full) == sum(p.numel() for p in enc.parameters())
    block = sum(p.numel() for p in enc.model.encoder.layer[1].parameters())
    total = sum(p.numel() for p in enc.parameters())
    assert sp.cost_values({"layers": [1]})["param_fraction"] == pytest.approx((total - 3 * block) / total)
    assert len(list(LayerSelectionSpace(enc, k_min=1, k_max=2).enumerate())) == 4 + 6


def test_apply_refuses_a_target_that_was_pruned_already(enc) -> None:
    from paretoforge.spaces.variables import ConfigError

    sp = LayerSelectionSpace(enc)
    work = sp.apply({"layers": [0, 2, 3]}, copy.deepcopy(enc))
    with pytest.raises(ConfigError, match="holds 3 blocks, not the model's 4"):
        sp.apply({"layers": [1, 2]}, work)  # indices 1, 2 of the pruned list are blocks 2 and 3
    assert len(work.model.encoder.layer) == 3


def test_apply_keeps_the_chosen_blocks_in_order(enc) -> None:
    sp = LayerSelectionSpace(enc)
    work = sp.apply({"layers": [3, 0]}, copy.deepcopy(enc))
    kept = work.model.encoder.layer
    assert len(kept) == 2
    assert torch.equal(kept[0].output.dense.weight, enc.model.encoder.layer[0].output.dense.weight)
    assert torch.equal(kept[1].output.dense.weight, enc.model.encoder.layer[3].output.dense.weight)


def test_any_module_list_of_blocks_works() -> None:
    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inp = nn.Linear(3, 8)
            self.stages = nn.ModuleList([nn.Sequential(nn.Linear(8, 8), nn.ReLU()) for _ in range(5)])
            self.small = nn.ModuleList([nn.Identity(), nn.Identity()])

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            h = self.inp(x)
            for s in self.stages:
                h = h + s(h)
            return h

    net = Net()
    assert find_blocks(net) == "stages"
    sp = LayerSelectionSpace(net, k_min=2, k_max=3)
    out = sp.apply({"layers": [1, 4]}, copy.deepcopy(net))(torch.ones(2, 3))
    assert out.shape == (2, 8)
    with pytest.raises(Exception, match="blocks"):
        LayerSelectionSpace(net, blocks="inp")


def test_fidelity_falls_when_blocks_are_dropped_and_search_finds_exact_front(enc) -> None:
    sents = list(corpus_split(0)["search"][:16])
    ev = EmbeddingFidelityEvaluator(enc, sents, n_sentences=16)
    sp = LayerSelectionSpace(enc, k_min=1)
    r_full, r_one = ev.evaluate([{"layers": [0, 1, 2, 3]}, {"layers": [2]}])
    assert r_full.metrics["cosine"] == pytest.approx(1.0, abs=1e-6)
    assert r_one.metrics["cosine"] < 0.999 and r_one.metrics["params"] < r_full.metrics["params"]
    import pickle  # process-pool backends ship the evaluator to their workers

    assert pickle.loads(pickle.dumps(ev)).evaluate([{"layers": [2]}])[0].metrics == pytest.approx(r_one.metrics)
    # after a selection, the next configuration sees every block again
    assert ev.evaluate([{"layers": [0, 1, 2, 3]}])[0].metrics["cosine"] == pytest.approx(1.0, abs=1e-6)
    study = Study("layers", sp, ev, [Objective("n_layers"), Objective("cosine_error")], optimizer="nsga2",
                  optimizer_settings={"population_size": 6}, seed=0)
    study.optimize(n_evaluations=15)  # all 15 non-empty subsets
    assert len(study.completed_trials()) == 15
    front = study.pareto_trials()
    assert {len(t.config["layers"]) for t in front} >= {1, 4}


def test_block_influence_matches_cosine_definition_and_baseline(enc) -> None:
    sents = list(corpus_split(0)["search"][:8])
    batch = enc.tokenize(sents)
    bi = block_influence(enc, batch)
    assert len(bi) == 4 and all(0.0 <= x <= 2.0 for x in bi)
    # reference: hidden states of each block from output_hidden_states
    with torch.inference_mode():
        hs = enc.model(**batch, output_hidden_states=True).hidden_states
    mask = batch["attention_mask"].bool()
    ref = [float(1 - torch.nn.functional.cosine_similarity(hs[i], hs[i + 1], dim=-1)[mask].mean()) for i in range(4)]
    assert np.allclose(bi, ref, atol=1e-5)
    assert shortgpt_keep([0.1, 0.5, 0.2, 0.5], 2) == [1, 3]
    assert shortgpt_keep([0.1, 0.5, 0.2, 0.4], 3) == [1, 2, 3]


def test_layer_selection_from_yaml_names_bad_keys(tmp_path) -> None:
    spec = StudySpec.from_dict({
        "name": "layers", "space": {"name": "layer_selection", "model": "tiny_bert", "k_min": 1},
        "evaluator": {"name": "embedding_fidelity", "model": "tiny_bert", "n_sentences": 8, "min_sentences": 4},
        "objectives": ["n_layers", "cosine_error"], "optimizer": {"name": "random"}, "budget": {"evaluations": 3},
    }, source="layers.yaml")
    study = spec.build(output=str(tmp_path))
    study.optimize(n_evaluations=3)
    assert len(study.completed_trials()) == 3
    bad = StudySpec.from_dict({
        "name": "bad", "space": {"name": "layer_selection", "model": "tiny_bert", "k_minimum": 1},
        "evaluator": {"name": "embedding_fidelity", "model": "tiny_bert"},
        "objectives": ["n_layers"], "budget": {"evaluations": 3}}, source="bad.yaml")
    with pytest.raises(SpecError, match="bad.yaml.*'space'.*k_minimum"):
        bad.build(output=str(tmp_path))


def test_latency_metric_and_peak_memory(enc) -> None:
    from paretoforge.evaluators.lm import measure_latency, peak_memory_bytes

    calls = []
    t = measure_latency(lambda: calls.append(1), "cpu", warmup=2, repeats=3)
    assert len(calls) == 5 and t >= 0.0
    assert peak_memory_bytes(lambda: None, "cpu") is None  # measured on CUDA only
    ev = EmbeddingFidelityEvaluator(enc, list(corpus_split(0)["search"][:4]), n_sentences=4, min_sentences=2,
                                    measure_time=True)
    r = ev.evaluate([{"layers": [0]}])[0]
    assert r.ok and r.metrics["latency_s"] > 0.0
