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


@pytest.mark.parametrize("name", sorted(FAST))
def test_nan_inputs_and_wrong_widths_are_named_errors(name: str) -> None:
    """A NaN in one input row made every prediction NaN; a row of the wrong width failed deep in
    a matrix product."""
    X, y = data(20, seed=5)
    model: Predictor = FAST[name]()
    model.bind(layer_space())
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"input rows \[3\] hold NaN"):
        model.fit(bad, y)
    model.fit(X, y)
    with pytest.raises(ValueError, match=r"input rows \[3\] hold NaN"):
        model.predict(bad)
    with pytest.raises(ValueError, match=f"rows of {X.shape[1] - 1} columns, but it was fitted on {X.shape[1]}"):
        model.predict(X[:, :-1])


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


def test_gp_noise_std_measures_the_noise_of_its_targets() -> None:
    """``noise_std`` is the spread of a new result around the fitted value: near zero for exact
    targets, of the order of the added noise for noisy ones; predictors without a noise model
    report 0."""
    X, y = data(150, seed=3)
    noise = y.std()
    noisy = y + np.random.default_rng(0).normal(0.0, noise, len(y))
    exact = GaussianProcess(seed=0).fit(X, y).noise_std()
    fitted = GaussianProcess(seed=0).fit(X, noisy).noise_std()
    assert exact < 0.05 * noise
    assert 0.4 * noise < fitted < 1.5 * noise
    assert GaussianProcess(seed=0).noise_std() == 0.0  # not fitted yet
    assert MLPEnsemble(seed=0, n_members=2, hidden=8, epochs=5).fit(X, y).noise_std() == 0.0


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


def test_gp_grows_its_factor_and_pool_cache_exactly() -> None:
    """Refits on appended rows (same hyperparameters) and the cached pool predictions agree with
    a GP of the same kernel fitted from scratch and with ``predict``."""
    space = Space([ChoiceSequence("op", 5, ["conv", "pool", "skip"]), Categorical("act", ["relu", "gelu"])])
    rng = np.random.default_rng(10)
    cfgs = [space.sample(rng) for _ in range(580)]
    Xall = space.encode_many(cfgs)  # one-hot only: every row has the same norm, so D is fixed
    yall = np.array([quality({"bits": [8] * 6, "op": list(c["op"]) + ["conv"], "act": c["act"]}) for c in cfgs])
    X, y, pool = Xall[:80], yall[:80], Xall[80:]
    gp = GaussianProcess(seed=0, reselect_growth=10.0, warm_start=True)  # keeps its hyperparameters while growing
    for n in (40, 41, 45, 45, 60):
        gp.fit(X[:n], y[:n])
        mean, std = gp.predict_pool(pool)
        w, ls, nz = gp.hypers
        ref = GaussianProcess(seed=0, weights=(w,), length_scales=(ls,), noises=(nz,)).fit(X[:n], y[:n])
        m2, s2 = ref.predict(pool)
        np.testing.assert_allclose(mean, m2, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(std, s2, rtol=1e-4, atol=1e-4)
    assert gp._version == 1  # one factorisation from scratch, then only appended blocks
    small = GaussianProcess(seed=0, pool_cache=10).fit(X[:40], y[:40])  # cache too small: plain predict
    np.testing.assert_allclose(small.predict_pool(pool)[0], small.predict(pool)[0])


def test_gp_ard_finds_the_irrelevant_variable() -> None:
    """With ``ard`` a variable that the target ignores gets a far lower relevance."""
    space = Space([Categorical(f"v{i}", ["a", "b", "c", "d"]) for i in range(4)])
    rng = np.random.default_rng(12)
    cfgs = [space.sample(rng) for _ in range(400)]
    X = space.encode_many(cfgs)
    effect = {"a": 0.0, "b": 1.0, "c": 0.3, "d": 2.0}
    y = np.array([effect[c["v0"]] + 0.5 * effect[c["v1"]] * effect[c["v2"]] for c in cfgs])  # v3 is noise
    gp = GaussianProcess(seed=0, ard=True)
    gp.bind(space)
    gp.fit(X[:80], y[:80])
    r = np.asarray(gp.describe()["relevance"])
    assert len(r) == 4  # one group per variable
    assert r[3] < 0.5 * min(r[:3])
    assert gp.score(X[80:], y[80:]) > 0.8


def test_gp_ard_groups_are_the_positions_of_a_sequence() -> None:
    """A sequence variable's positions are separate decisions: each gets its own relevance (an
    unordered position is its one-hot block), so a position that the target ignores is found."""
    space = Space([ChoiceSequence("bits", 4, [2, 4, 8], ordered=True), ChoiceSequence("op", 3, ["a", "b", "c"])])
    gp = GaussianProcess(seed=0, ard=True)
    gp.bind(space)
    assert gp.groups == [(0, 1), (1, 2), (2, 3), (3, 4), (4, 7), (7, 10), (10, 13)]
    rng = np.random.default_rng(3)
    cfgs = [space.sample(rng) for _ in range(300)]
    X = space.encode_many(cfgs)
    effect = {"a": 0.0, "b": 1.0, "c": 2.5}
    y = np.array([c["bits"][0] / 4 + c["bits"][1] / 8 + effect[c["op"][0]] for c in cfgs])  # bits[2:], op[1:] ignored
    gp.fit(X[:100], y[:100])
    r = np.asarray(gp.describe()["relevance"])
    assert len(r) == 7
    assert max(r[2], r[3], r[5], r[6]) < 0.5 * min(r[0], r[1], r[4])
    assert gp.score(X[100:], y[100:]) > 0.8


def test_gp_ard_auto_keeps_relevances_only_where_they_pay() -> None:
    """``ard="auto"``: a target of one of six continuous variables gets relevances (and a better
    held-out fit than the isotropic kernel); a target to which all six contribute alike gets no
    variable singled out (at most one common scale, finer than the grid's length scales); a
    target of nothing but noise keeps the isotropic kernel."""
    from paretoforge.spaces import Real

    space = Space([Real(f"x{i}", 0.0, 1.0) for i in range(6)])
    rng = np.random.default_rng(3)
    X = space.encode_many([space.sample(rng) for _ in range(140)])
    one = np.sin(6.0 * X[:, 0])
    alike = X.sum(1)
    models = {}
    for label, y in (("one", one), ("alike", alike)):
        for ard in (False, "auto"):
            gp = GaussianProcess(seed=0, ard=ard)
            gp.bind(space)
            models[label, ard] = gp.fit(X[:60], y[:60])
    assert models["one", "auto"].relevance is not None
    r = models["one", "auto"].relevance
    assert r[0] > 10 * r[1:].max()
    assert models["one", "auto"].score(X[60:], one[60:]) > models["one", False].score(X[60:], one[60:])
    r = models["alike", "auto"].relevance
    assert r is None or r.max() < 1.5 * r.min()
    y = rng.standard_normal(60)
    noise = GaussianProcess(seed=0, ard="auto")
    noise.bind(space)
    noise.fit(X[:60], y)
    assert noise.relevance is None
    np.testing.assert_allclose(noise.predict(X[60:])[0], GaussianProcess(seed=0).fit(X[:60], y).predict(X[60:])[0])
    with pytest.raises(ValueError, match="'ard' must be"):
        GaussianProcess(ard="sometimes")


def test_gp_on_one_point_keeps_its_prior_spread_away_from_it() -> None:
    """One target says nothing about the spread: the GP reported about 1e-6 everywhere (and
    exploded for a point at the origin), so an acquisition saw nothing to explore."""
    for x0 in ([0.2, 0.5, 0.1], [0.0, 0.0, 0.0]):
        gp = GaussianProcess().fit(np.array([x0]), np.array([2.0]))
        mean, std = gp.predict(np.array([x0, [1.0, 1.0, 1.0]]))
        assert np.allclose(mean, 2.0) and std[0] < 0.05 and 0.5 < std[1] < 5.0


def test_gp_on_equal_targets_keeps_its_prior_spread_away_from_them() -> None:
    """Equal results (e.g. the first few all at chance level) say nothing about the spread either:
    the GP reported about 1e-6 everywhere, as it did for one point."""
    rng = np.random.default_rng(0)
    X = 0.1 * rng.random((8, 3))
    mean, std = GaussianProcess().fit(X, np.full(8, 0.9)).predict(np.array([X[0], [1.0, 1.0, 1.0]]))
    assert np.allclose(mean, 0.9) and std[0] < 0.1 and std[1] > 0.5
    tiny = np.sin(6 * X[:, 0]) * 1e-15  # a spread that is tiny in absolute terms is still a spread
    assert GaussianProcess().fit(X, tiny).predict(X)[1].max() < 1e-14


def test_a_gp_fitted_again_on_other_data_is_the_model_a_fresh_one_would_be() -> None:
    """One object reused on unrelated data (another target, another fold) kept the hyperparameters
    searched on the first data; only ``warm_start`` keeps them, and only for rows appended."""
    X, y = data(60, seed=1)
    noise = np.random.default_rng(0).standard_normal(60)
    Xt, yt = data(200, seed=2)
    fresh = GaussianProcess(seed=0).fit(X, y)
    reused = GaussianProcess(seed=0).fit(X, noise).fit(X, y)
    assert reused.hypers == fresh.hypers
    np.testing.assert_allclose(reused.predict(Xt)[0], fresh.predict(Xt)[0])
    warm = GaussianProcess(seed=0, warm_start=True).fit(X[:50], y[:50])
    kept = warm.hypers
    assert warm.fit(X[:55], y[:55]).hypers == kept  # rows appended, data grew by less than 15%
    other, _ = data(55, seed=9)
    assert warm.fit(other, y[:55]).hypers == GaussianProcess(seed=0).fit(other, y[:55]).hypers  # other rows
    with pytest.raises(ValueError, match="'warm_start' must be true or false"):
        GaussianProcess(warm_start="yes")


def test_gp_pool_and_covariance_inputs_are_checked() -> None:
    """``predict_pool`` and ``covariance_columns`` skipped ``predict``'s checks: a NaN row made
    every prediction NaN, a wrong width failed in a matrix product."""
    X, y = data(30, seed=5)
    gp = GaussianProcess(seed=0)
    with pytest.raises(RuntimeError, match=r"call fit\(\) before predict_pool\(\)"):
        gp.predict_pool(X)
    gp.fit(X, y)
    bad = X.copy()
    bad[2, 0] = np.nan
    for call in (gp.predict_pool, gp.covariance_columns):
        with pytest.raises(ValueError, match=r"input rows \[2\] hold NaN"):
            call(bad)
        with pytest.raises(ValueError, match=f"rows of {X.shape[1] - 1} columns, but it was fitted on {X.shape[1]}"):
            call(X[:, :-1])


@pytest.mark.parametrize("name", sorted(FAST))
def test_fitting_leaves_the_callers_random_streams_alone(name: str) -> None:
    """Building torch modules drew from torch's global generator (before the seeded
    re-initialisation), so a fit moved the random stream of the caller's own seeded code."""
    import torch

    X, y = data(20, seed=3)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    model = FAST[name]()
    model.bind(layer_space())
    model.fit(X, y)
    np.testing.assert_array_equal(torch.rand(3).numpy(), expected.numpy())


def test_sequence_reads_columns_beyond_the_spaces_encoding() -> None:
    """A bound sequence model ignored columns appended to the space's encoding (zero-cost
    features, a low-fidelity model's predictions), so those signals were thrown away."""
    X, _ = data(60, seed=1)
    extra = np.random.default_rng(0).standard_normal((60, 1))
    y = 3.0 * extra[:, 0]  # only the appended column matters
    model = SequencePredictor(seed=0, n_members=2, hidden=16, epochs=120, lr=2e-2)
    model.bind(layer_space())
    Xa = np.hstack([X, extra])
    model.fit(Xa, y)
    assert model.score(Xa, y) > 0.8
    with pytest.raises(ValueError, match=r"tokens \[\(5, 99\), \(99, 100\)\] are not column slices"):
        SequencePredictor(tokens=[(0, 5), (5, 99), (99, 100)]).fit(Xa, y)


def test_dele_on_repeated_rows_stays_on_the_scale_of_its_targets() -> None:
    """Five measurements of one configuration: the experts' scores differ only by rounding, and
    calibrating them by that variance gave a mean of 57 and a spread of 2253 for targets 0..4."""
    X = np.tile(data(1, seed=1)[0], (5, 1))
    mean, std = DynamicEnsemble(seed=0, hidden=32, epochs=60).fit(X, np.arange(5.0)).predict(X[:1])
    assert abs(mean[0] - 2.0) < 0.5 and std[0] < 2.0


def test_dele_signals_and_fit_must_share_one_encoding() -> None:
    X, y = data(20, seed=1)
    with pytest.raises(ValueError, match="signal 1 has rows of 5 columns, signal 0 of"):
        DynamicEnsemble(seed=0, pretrain_epochs=5).pretrain([(X, y), (X[:, :5], y)])
    dele = DynamicEnsemble(seed=0, pretrain_epochs=5, epochs=5).pretrain([(X, y)])
    with pytest.raises(ValueError, match="pretrained on rows of .* columns, but fit got 5; pretrain again"):
        dele.fit(X[:, :5], y)


def test_seeds_and_score_shapes_are_checked() -> None:
    for cls in (GaussianProcess, MLPEnsemble, SequencePredictor, DynamicEnsemble):
        for bad in (None, -1, 1.5, True):
            with pytest.raises(ValueError, match="'seed' must be an integer >= 0"):
                cls(seed=bad)
    with pytest.raises(ValueError, match=r"shapes \(3, 2\) and \(6,\)"):
        kendall_tau(np.arange(6).reshape(3, 2), np.arange(6))
    assert kendall_tau(np.arange(4).reshape(4, 1), np.arange(4)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="the rows have no columns"):
        GaussianProcess().fit(np.zeros((3, 0)), np.arange(3.0))
