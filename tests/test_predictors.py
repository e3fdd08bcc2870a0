"""Every predictor learns a known ranking from a few evaluated configurations."""

from __future__ import annotations

import numpy as np
import pytest

from paretoforge.predictors import (
    DynamicEnsemble,
    GaussianProcess,
    MLPEnsemble,
    Predictor,
    SequencePredictor,
    kendall_tau,
    space_tokens,
)
from paretoforge.search.plugins import PREDICTORS
from paretoforge.spaces import Categorical, ChoiceSequence, Space


def layer_space() -> Space:
    """Per-layer bit-widths (ordered) and per-layer op choice (one-hot)."""
    return Space([ChoiceSequence("bits", 6, [2, 4, 8], ordered=True),
                  ChoiceSequence("op", 4, ["conv", "pool", "skip"]),
                  Categorical("act", ["relu", "gelu"])], name="layers")


def quality(c: dict) -> float:
    """Lower is better: error falls with bits (early layers matter more), skip costs, gelu helps,
    plus an interaction (pool after low bits)."""
    w = np.linspace(2.0, 0.5, 6)
    err = float(np.sum(w / np.array(c["bits"])))
    err += 0.3 * sum(o == "skip" for o in c["op"]) + 0.1 * (c["act"] == "relu")
    err += 0.2 * (c["op"][0] == "pool" and c["bits"][0] == 2)
    return err


def data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    space = layer_space()
    rng = np.random.default_rng(seed)
    cfgs = [space.sample(rng) for _ in range(n)]
    return space.encode_many(cfgs), np.array([quality(c) for c in cfgs])


FAST = {
    "gp": lambda: GaussianProcess(seed=0),
    "mlp_ensemble": lambda: MLPEnsemble(seed=0, n_members=3, hidden=32, epochs=150, lr=1e-2),
    "sequence": lambda: SequencePredictor(seed=0, n_members=2, hidden=16, epochs=120, lr=2e-2),
    "dele": lambda: DynamicEnsemble(seed=0, hidden=32, pretrain_epochs=100, epochs=100, lr=1e-2),
}


@pytest.mark.parametrize("name", sorted(FAST))
def test_learns_a_known_ranking_from_few_points(name: str) -> None:
    X, y = data(60, seed=1)
    Xt, yt = data(300, seed=2)
    model: Predictor = FAST[name]()
    model.bind(layer_space())
    model.fit(X, y)
    mean, std = model.predict(Xt)
    assert mean.shape == std.shape == (300,)
    assert np.all(std >= 0) and np.all(np.isfinite(mean))
    assert model.score(Xt, yt) > 0.6
    # an untrained-quality baseline: a shuffled target gives no ranking
    assert abs(kendall_tau(np.random.default_rng(0).permutation(yt), yt)) < 0.15


@pytest.mark.parametrize("name", sorted(FAST))
def test_fitting_twice_gives_the_same_model(name: str) -> None:
    X, y = data(40, seed=3)
    Xt, _ = data(50, seed=4)
    a, b = FAST[name](), FAST[name]()
    for m in (a, b):
        m.bind(layer_space())
        m.fit(X, y)
    np.testing.assert_allclose(a.predict(Xt)[0], b.predict(Xt)[0], rtol=1e-6, atol=1e-8)


def test_dele_low_fidelity_experts_fix_the_cold_start() -> None:
    """With 12 real scores, experts pretrained on cheap signals rank far better than without."""
    X, y = data(12, seed=5)
    XL, yL = data(400, seed=6)
    Xt, yt = data(300, seed=7)
    rng = np.random.default_rng(0)
    cheap = [(XL, yL + 0.3 * rng.standard_normal(len(yL))),  # a noisy low-fidelity measurement
             (XL, np.sum(XL[:, :6], axis=1) * -1.0)]           # a proxy: fewer bits, worse
    cold = DynamicEnsemble(seed=0, hidden=32, pretrain_epochs=150, epochs=60, lr=1e-2).fit(X, y)
    warm = DynamicEnsemble(seed=0, hidden=32, pretrain_epochs=150, epochs=60, lr=1e-2).pretrain(cheap).fit(X, y)
    assert warm.score(Xt, yt) > 0.7
    assert warm.score(Xt, yt) > cold.score(Xt, yt) + 0.1


def test_gp_uncertainty_is_small_at_data_and_large_far_away() -> None:
    X, y = data(30, seed=8)
    gp = GaussianProcess(seed=0).fit(X, y)
    _, s_train = gp.predict(X)
    Xt, _ = data(200, seed=9)
    _, s_new = gp.predict(Xt)
    assert np.median(s_train) < 0.5 * np.median(s_new)


def test_sequence_tokens_follow_the_layers() -> None:
    tokens = space_tokens(layer_space())
    # 6 ordered bit positions (1 column each), 4 op positions (3 columns each), act (2 columns)
    assert tokens[:6] == [(i, i + 1) for i in range(6)]
    assert tokens[6:10] == [(6 + 3 * i, 9 + 3 * i) for i in range(4)]
    assert tokens[10] == (18, 20) and len(tokens) == 11


def test_registry_and_bad_input() -> None:
    for name in ("gp", "mlp_ensemble", "sequence", "dele"):
        assert issubclass(PREDICTORS.get(name), Predictor)
    gp = GaussianProcess()
    with pytest.raises(RuntimeError, match="fit"):
        gp.predict(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        gp.fit(np.zeros((2, 3)), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="2 targets"):
        gp.fit(np.zeros((3, 3)), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="weights"):
        GaussianProcess(weights=(2.0,))
