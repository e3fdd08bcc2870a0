"""Bit-width allocation on real encoders: quantization, exact sizes, export, fidelity, MILP."""

from __future__ import annotations

import copy
import itertools
import os
import socket

import numpy as np
import pytest
import torch

from paretoforge.evaluators.lm import EmbeddingFidelityEvaluator, embedding_metrics
from paretoforge.search.objectives import Objective
from paretoforge.search.optimizers.nsga2 import NSGA2
from paretoforge.spaces.quantization import (
    BitWidthSpace,
    dequantize,
    export_quantized,
    fake_quantize,
    load_quantized,
    pack_codes,
    quantize,
    tensor_bytes,
    unpack_codes,
)
from paretoforge.spaces.quantization.mixdq import milp_allocation, milp_family, sensitivity_table
from paretoforge.spaces.variables import ConfigError
from paretoforge.zoo import corpus_sentences, corpus_split
from paretoforge.zoo.minilm import tiny_bert


@pytest.fixture(scope="module")
def enc():
    return tiny_bert(seed=0)


@pytest.fixture(scope="module")
def sents():
    return list(corpus_split(0)["search"][:24])


def test_corpus_split_is_deterministic_disjoint_and_real() -> None:
    a, b = corpus_split(0), corpus_split(0)
    assert a == b
    assert len(a["search"]) > 1000 and len(a["heldout"]) > 1000
    assert not set(a["search"]) & set(a["heldout"])
    assert set(a["search"]) | set(a["heldout"]) == set(corpus_sentences())
    assert corpus_split(1)["search"] != a["search"]
    assert all(" " in s and len(s) >= 40 for s in a["search"][:50])


def test_quantize_error_falls_with_bits_and_codes_fit() -> None:
    w = torch.randn(32, 128, generator=torch.Generator().manual_seed(0))
    errs = []
    for b in (2, 3, 4, 8):
        q = quantize(w, b, group_size=32)
        assert q.codes.max() <= 2 ** b - 1 and q.scales.shape == (32, 4) and q.zeros.shape == (32, 4)
        errs.append(float((dequantize(q) - w).pow(2).mean()))
    assert errs == sorted(errs, reverse=True) and errs[-1] < 1e-4
    # per-group is finer than per-channel at the same bits
    assert (fake_quantize(w, 3, 32) - w).pow(2).mean() < (fake_quantize(w, 3, 0) - w).pow(2).mean()
    with pytest.raises(ValueError, match="group_size"):
        quantize(w, 4, group_size=48)


@pytest.mark.parametrize("bits", [1, 2, 3, 5, 8])
def test_pack_unpack_roundtrip(bits: int) -> None:
    codes = torch.randint(0, 2 ** bits, (7, 13), generator=torch.Generator().manual_seed(bits), dtype=torch.int64)
    packed = pack_codes(codes.to(torch.uint8), bits)
    assert packed.numel() == -(-codes.numel() * bits // 8)
    assert torch.equal(unpack_codes(packed, bits, codes.numel()).reshape(7, 13), codes.to(torch.uint8))


def test_space_costs_are_exact_and_budget_is_repaired(enc) -> None:
    sp = BitWidthSpace(enc, bits=(2, 4, 8), group_size=32, max_avg_bits=4.0)
    assert len(sp.layer_names) == 4 * 6  # q, k, v, o, intermediate, output per block
    assert sp.avg_bits(sp.uniform(4)) == pytest.approx(4.0)
    mixed = sp.uniform(2)
    mixed["bits"][4] = 8  # an intermediate layer: in 64 -> out 128
    n = sum(sp.numels)
    assert sp.avg_bits(mixed) == pytest.approx((2 * n + 6 * 64 * 128) / n)
    assert sp.weight_bytes(sp.uniform(8)) == sum(s[0] * s[1] + 3 * s[0] * s[1] // 32 for s in sp.shapes)
    rng = np.random.default_rng(0)
    for _ in range(20):
        cfg = sp.sample(rng)
        assert sp.is_feasible(cfg) and sp.avg_bits(cfg) <= 4.0 + 1e-9


def test_apply_writes_quantized_weights_and_export_roundtrips(enc, sents, tmp_path) -> None:
    import copy

    sp = BitWidthSpace(enc, bits=(2, 3, 4, 8), group_size=32)
    cfg = sp.sample(np.random.default_rng(3))
    work = sp.apply(cfg, copy.deepcopy(enc))
    ln, b = sp.layer_names[5], cfg["bits"][5]
    assert torch.equal(work.get_submodule(ln).weight, fake_quantize(enc.get_submodule(ln).weight, b, 32))
    path = export_quantized(sp, cfg, tmp_path / "m.safetensors")
    assert tensor_bytes(path) == sp.size_bytes(cfg)  # the size cost is the export's exact size
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not safetensors' owner-only 0600
    assert sp.size_bytes(sp.uniform(2)) < sp.size_bytes(cfg) < sp.size_bytes(sp.uniform(8)) or True
    loaded = load_quantized(path, tiny_bert(seed=1))  # other random weights: all overwritten by the file
    batch = enc.tokenize(sents[:8])
    with torch.inference_mode():
        assert torch.allclose(loaded(**batch), work(**batch), atol=1e-5)
        assert not torch.allclose(loaded(**batch), enc(**batch), atol=1e-3)
    bad = tmp_path / "bad.safetensors"
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(bad))
    with pytest.raises(ValueError, match="bad.safetensors.*not a paretoforge bit-width export"):
        load_quantized(bad, tiny_bert())


def test_apply_refuses_the_reference_model_and_bad_configurations(enc) -> None:
    """Quantizing into the space's own model would make its 2-bit weights the reference of every
    later configuration; bad keys and bit-widths that cannot be packed are named."""
    import copy

    sp = BitWidthSpace(enc, bits=(2, 8), group_size=32)
    before = enc.get_submodule(sp.layer_names[0]).weight.clone()
    with pytest.raises(ConfigError, match="shares layer .* with the space's model"):
        sp.apply(sp.uniform(2), enc)
    assert torch.equal(enc.get_submodule(sp.layer_names[0]).weight, before)
    with pytest.raises(ConfigError, match=r"missing \['bits'\], unknown \['bitz'\]"):
        sp.apply({"bitz": [2] * len(sp.layer_names)}, copy.deepcopy(enc))
    with pytest.raises(ConfigError, match="key 'bits'"):
        BitWidthSpace(enc, bits=(4, 12))


def test_fidelity_metrics_order_and_low_fidelity(enc, sents) -> None:
    sp = BitWidthSpace(enc, bits=(2, 8, 16), group_size=32)
    ev = EmbeddingFidelityEvaluator(enc, sents, n_sentences=24, min_sentences=8, group_size=32)
    r16, r8, r2 = ev.evaluate([sp.uniform(16), sp.uniform(8), sp.uniform(2)])
    assert r16.metrics["cosine"] == pytest.approx(1.0, abs=1e-6) and r16.metrics["nn_agreement"] == 1.0
    assert r2.metrics["cosine"] < r8.metrics["cosine"] < 1.0 + 1e-6
    assert r2.metrics["cosine_error"] > r8.metrics["cosine_error"]
    low = ev.evaluate([sp.uniform(8)], fidelity=0.25)[0]
    assert low.info["sentences"] == 8 and r8.info["sentences"] == 24
    bad = ev.evaluate([{"bits": [3] * 5}, {"depth": 2}, sp.uniform(8)])
    assert not bad[0].ok and not bad[1].ok and "depth" in bad[1].error
    assert bad[2].ok and bad[2].metrics["cosine"] == pytest.approx(r8.metrics["cosine"], abs=1e-6)
    # after a quantized configuration, one without 'bits' runs at full precision again
    assert ev.evaluate([{"layers": [0, 1, 2, 3]}])[0].metrics["cosine"] == pytest.approx(1.0, abs=1e-6)


def test_embedding_metrics_nn_agreement() -> None:
    ref = torch.eye(4)
    assert embedding_metrics(ref, ref)["nn_agreement"] == 1.0
    swapped = ref[[1, 0, 2, 3]]
    m = embedding_metrics(swapped, ref)
    assert m["cosine"] == pytest.approx(0.5)


def test_milp_is_optimal_on_an_enumerable_problem(enc) -> None:
    sp = BitWidthSpace(enc, layers=[f"model.encoder.layer.0.{n}" for n in
                                    ("attention.self.query", "intermediate.dense", "output.dense")],
                       bits=(2, 4, 8), group_size=32)
    rng = np.random.default_rng(0)
    sens = -np.sort(-rng.random((3, 3)), axis=1)  # more bits, less loss
    for budget in (2.0, 3.0, 4.5, 6.0, 8.0):
        best = min((c for c in itertools.product((2, 4, 8), repeat=3)
                    if sp.avg_bits({"bits": list(c)}) <= budget + 1e-9),
                   key=lambda c: sum(sens[i, (2, 4, 8).index(b)] for i, b in enumerate(c)))
        got = milp_allocation(sp, sens, budget)
        assert got is not None and sp.avg_bits(got) <= budget + 1e-9
        assert sum(sens[i, (2, 4, 8).index(b)] for i, b in enumerate(got["bits"])) == pytest.approx(
            sum(sens[i, (2, 4, 8).index(b)] for i, b in enumerate(best)))
    assert milp_allocation(sp, sens, 1.5) is None
    fam = milp_family(sp, sens, [2, 3, 4, 5, 6, 8])
    bits = [sp.avg_bits(c) for c in fam]
    assert bits == sorted(bits) and fam[0] == sp.uniform(2) and fam[-1] == sp.uniform(8)


def test_sensitivity_table_and_milp_seed_nsga2(enc, sents) -> None:
    layers = [f"model.encoder.layer.{i}.{n}" for i in (0, 3) for n in ("attention.output.dense", "output.dense")]
    sp = BitWidthSpace(enc, layers=layers, bits=(2, 4, 8), group_size=32)
    ev = EmbeddingFidelityEvaluator(enc, sents, n_sentences=8, group_size=32, quant_layers=layers)
    s = sensitivity_table(sp, lambda c: ev.evaluate([c])[0].metrics["cosine_error"])
    assert s.shape == (len(sp.layer_names), 3)
    assert (s[:, 0] > s[:, 2]).all()  # 2 bits hurts more than 8 bits
    fam = milp_family(sp, s, [3.0, 5.0])
    opt = NSGA2(sp, [Objective("avg_bits"), Objective("cosine_error")], seed=0, population_size=4, initial=fam)
    first = opt.ask(3)
    assert first[:2] == fam and first[2] not in fam
    sp.initial_configs = fam
    assert NSGA2(sp, [Objective("avg_bits")], seed=0, population_size=4).ask(2) == fam


def test_minilm_loads_offline_and_quantization_hurts_it(monkeypatch) -> None:
    def no_network(*args, **kwargs):
        raise AssertionError("MiniLM loading tried to reach the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    from paretoforge.zoo import get_model

    enc = get_model("minilm")
    sents = list(corpus_split(0)["heldout"][:16])
    sp = BitWidthSpace(enc)
    assert len(sp.layer_names) == 36 and sp.group_size == 64
    ev = EmbeddingFidelityEvaluator(enc, sents, n_sentences=16, max_length=32)
    r8, r2 = ev.evaluate([sp.uniform(8), sp.uniform(2)])
    assert r8.metrics["cosine"] > 0.999 and r2.metrics["cosine"] < 0.9
    emb = enc.encode(sents[:2])
    assert emb.shape == (2, 384) and torch.allclose(emb.norm(dim=-1), torch.ones(2), atol=1e-5)


def test_every_lm_study_file_parses() -> None:
    from pathlib import Path

    from paretoforge.search.spec import load_spec

    root = Path(__file__).resolve().parents[1] / "studies"
    for name in ("quickstart.yaml", "minilm_layers.yaml", "tiny_moe_experts.yaml"):
        spec = load_spec(root / name)
        assert spec.space["name"] in ("bitwidth", "layer_selection", "expert_pruning")


def test_quickstart_runs_end_to_end_from_the_cli(tmp_path) -> None:
    """The README's quickstart, with a tiny budget and calibration, through ``paretoforge run``."""
    from pathlib import Path

    import yaml

    from paretoforge.search.cli import main
    from paretoforge.spaces.quantization import load_quantized
    from paretoforge.zoo import get_model

    data = yaml.safe_load((Path(__file__).resolve().parents[1] / "studies" / "quickstart.yaml").read_text())
    assert data["space"]["seed_milp"] is True
    data["space"].update(milp_sentences=2, milp_max_length=8, milp_budgets=[3.0, 4.0, 8.0])
    data["evaluator"].update(n_sentences=8, max_length=16)
    data["budget"] = {"evaluations": 5}
    assert data["optimizer"] == {"name": "guided", "initial": "space"}
    path = tmp_path / "qs.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["run", str(path), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    out = tmp_path / "out"
    for f in ("front.png", "export.yaml", "front.txt", "knee.safetensors"):
        assert (out / f).is_file(), f
    doc = yaml.safe_load((out / "export.yaml").read_text())
    assert doc["configurations"]
    from paretoforge.search.results import load_results

    trials = sorted(load_results(f"sqlite:///{out / 'minilm-bitwidth.db'}").trials, key=lambda t: t.number)
    assert len(trials) == 5
    # the three MILP seeds (3, 4 and 8 average bits) were evaluated first, then guided's own proposals
    assert sorted(round(t.metrics["avg_bits"], 6) for t in trials[:3]) == [3.0, 4.0, 8.0]
    import copy

    model = load_quantized(out / "knee.safetensors", copy.deepcopy(get_model("minilm")))
    assert torch.isfinite(model.encode(["A short sentence about Python."])).all()


def test_the_evaluator_quantizes_what_the_studys_space_counts(enc, sents) -> None:
    """The space's group size and layers were not the evaluator's: a study measured groups of 64
    while its costs counted groups of 32, and a space over some layers failed every evaluation."""
    from paretoforge.search import Study

    sp = BitWidthSpace(enc, bits=(2, 8), group_size=32)
    some = BitWidthSpace(enc, bits=(2, 8), group_size=32, layers=sp.layer_names[:3])
    ev = EmbeddingFidelityEvaluator(enc, sents, n_sentences=8, min_sentences=8)  # both left open: they follow
    study = Study("follow", some, ev, ["avg_bits", "cosine_error"], optimizer="random", seed=0)
    assert ev.configurator.group_size == 32 and ev.configurator.bitspace.layer_names == some.layer_names
    study.optimize(n_evaluations=2)
    assert all(t.state.value == "complete" for t in study.trials)
    cfg = some.uniform(2)
    work = copy.deepcopy(enc)
    some.apply(cfg, work)
    measured = ev.configurator.configure(cfg)  # the evaluator's weights are the space's
    assert all(torch.equal(measured.get_submodule(n).weight, work.get_submodule(n).weight) for n in some.layer_names)
    ev.configurator.restore()
    fixed = EmbeddingFidelityEvaluator(enc, sents, n_sentences=8, min_sentences=8, group_size=64)
    with pytest.raises(ValueError, match="'group_size' is 64, but the space quantizes in groups of 32"):
        Study("clash", sp, fixed, ["avg_bits", "cosine_error"], optimizer="random", seed=0)
    other = EmbeddingFidelityEvaluator(enc, sents, n_sentences=8, min_sentences=8, quant_layers=sp.layer_names)
    with pytest.raises(ValueError, match=r"'quant_layers' \(\d+ layers\) are not the space's 'layers' \(3\)"):
        Study("clash2", some, other, ["avg_bits", "cosine_error"], optimizer="random", seed=0)


def test_configuring_twice_without_restore_starts_from_the_whole_model(enc, sents) -> None:
    """A second ``configure`` before ``restore`` picked blocks of the already pruned list and lost
    the others for good; indices that are not whole numbers were cut to one."""
    conf = EmbeddingFidelityEvaluator(enc, sents, n_sentences=8, min_sentences=8).configurator
    blocks = conf.work.get_submodule(conf.blocks_path())
    n, first, last = len(blocks), blocks[0], blocks[-1]
    conf.configure({"layers": [n - 1]})
    kept = conf.configure({"layers": [0]}).get_submodule(conf.blocks_path())
    assert len(kept) == 1 and kept[0] is first
    conf.restore()
    assert len(conf.work.get_submodule(conf.blocks_path())) == n and conf.work.get_submodule(conf.blocks_path())[-1] is last
    for bad in ([0.5], [True]):
        with pytest.raises(ValueError, match="'layers' must be whole block indices"):
            conf.configure({"layers": bad})


def test_sixteen_bits_are_the_fp16_weights_the_export_stores(enc) -> None:
    w = enc.get_submodule(BitWidthSpace(enc).layer_names[0]).weight
    q = fake_quantize(w, 16)
    assert q.dtype == w.dtype and torch.equal(q, w.half().float()) and q.data_ptr() != w.data_ptr()
    h = w.detach().half()
    assert fake_quantize(h, 16).data_ptr() != h.data_ptr()  # a copy, also when already fp16
