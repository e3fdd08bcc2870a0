"""Contract tests of :class:`Space`: validation, keys, budget repair, numeric views, enumeration."""

from __future__ import annotations

import copy
import itertools
import json

import numpy as np
import pytest

from paretoforge.spaces import (
    BudgetConstraint,
    Categorical,
    ChoiceSequence,
    ConfigError,
    FunctionConstraint,
    Integer,
    Ordinal,
    Real,
    RealVector,
    Space,
    Subset,
)

BITS = [2, 4, 8]
LAYERS = 8
BUDGET = 20
MAX_STEP = 4  # the largest cost change of one repair step (8 -> 4 bits)


def bits_cost(c: dict) -> float:
    return float(sum(c["bits"]))


def budget_space(ordered: bool = True) -> Space:
    return Space(
        [ChoiceSequence("bits", LAYERS, BITS, ordered=ordered), Categorical("act", ["relu", "gelu"])],
        constraints=[BudgetConstraint("bits", BUDGET)],
        costs={"bits": bits_cost},
        name="quant",
    )


def mixed_space() -> Space:
    return Space(
        [
            Categorical("act", ["relu", "gelu", "silu"]),
            Ordinal("group", [32, 64, 128]),
            Integer("depth", 1, 6),
            Real("lr", 1e-4, 1e-1, log=True),
            ChoiceSequence("wbits", 3, [2, 4, 8], ordered=True, skip=True),
            Subset("experts", 5, k_min=1, k_max=3),
            RealVector("mix", 3, simplex=True),
        ],
        name="mixed",
    )


def discrete_space() -> Space:
    return Space(
        [Categorical("act", ["relu", "gelu"]), Integer("depth", 1, 3), ChoiceSequence("w", 2, [2, 4], ordered=True),
         Subset("e", 4, k=2)],
        name="discrete",
    )


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(7)


def _n_feasible_bits() -> int:
    return sum(1 for bits in itertools.product(BITS, repeat=LAYERS) if sum(bits) <= BUDGET)


# -- validation ---------------------------------------------------------------------------
def test_validate_names_missing_and_unknown_keys() -> None:
    space = mixed_space()
    cfg = space.sample(np.random.default_rng(0))
    bad = dict(cfg)
    del bad["depth"]
    bad["dpeth"] = 3
    with pytest.raises(ConfigError) as info:
        space.validate(bad)
    msg = str(info.value)
    assert "missing ['depth']" in msg and "unknown ['dpeth']" in msg and "'mixed'" in msg
    for name in space.names:
        assert name in msg  # the allowed keys are listed

    only_missing = {k: v for k, v in cfg.items() if k != "lr"}
    with pytest.raises(ConfigError, match=r"missing \['lr'\]"):
        space.validate(only_missing)
    with pytest.raises(ConfigError, match=r"unknown \['extra'\]"):
        space.validate({**cfg, "extra": 1})
    with pytest.raises(ConfigError, match="mapping"):
        space.validate([("act", "relu")])  # type: ignore[arg-type]


def test_validate_names_the_bad_variable_and_returns_canonical_form() -> None:
    space = mixed_space()
    cfg = space.sample(np.random.default_rng(1))
    with pytest.raises(ConfigError, match="'depth'"):
        space.validate({**cfg, "depth": 99})
    with pytest.raises(ConfigError, match="'wbits'"):
        space.validate({**cfg, "wbits": [2, 4, 3]})
    noisy = {**cfg, "wbits": tuple(cfg["wbits"]), "lr": cfg["lr"] * (1 + 1e-15), "depth": float(cfg["depth"]),
             "experts": list(reversed(cfg["experts"]))}
    canon = space.validate(noisy)
    assert canon == cfg
    assert list(canon) == space.names  # variable order
    assert space.validate(canon) == canon


def test_space_definition_errors() -> None:
    with pytest.raises(ConfigError, match="no variables"):
        Space([], name="empty")
    with pytest.raises(ConfigError, match=r"repeat.*\['x'\]"):
        Space([Real("x", 0, 1), Integer("x", 0, 3)])
    with pytest.raises(ConfigError, match="'size'"):
        Space([Real("x", 0, 1)], constraints=[BudgetConstraint("size", 3.0)], costs={"latency": lambda c: 1.0})


# -- keys ---------------------------------------------------------------------------------
def test_key_is_equal_for_equal_configs(rng: np.random.Generator) -> None:
    space = mixed_space()
    keys = set()
    for _ in range(100):
        cfg = space.sample(rng)
        key = space.key(cfg)
        assert isinstance(key, str) and len(key) == 20 and int(key, 16) >= 0
        reordered = dict(reversed(list(cfg.items())))
        assert space.key(reordered) == key
        assert space.key(copy.deepcopy(cfg)) == key
        assert space.key(json.loads(json.dumps(cfg))) == key  # read back from a store
        assert space.key(space.validate(cfg)) == key
        assert mixed_space().key(cfg) == key  # another instance of the same space
        keys.add(key)
    assert len(keys) == 100


def test_key_differs_when_any_variable_differs(rng: np.random.Generator) -> None:
    space = mixed_space()
    for _ in range(50):
        cfg = space.sample(rng)
        for nb in space.neighbors(cfg):
            assert space.key(nb) != space.key(cfg)


# -- budget repair -------------------------------------------------------------------------
@pytest.mark.parametrize("ordered", [True, False], ids=["ordered", "unordered"])
def test_budget_repair_keeps_every_operator_feasible(ordered: bool, rng: np.random.Generator) -> None:
    space = budget_space(ordered)
    population = [space.sample(rng) for _ in range(40)]
    results = list(population)
    for _ in range(200):
        a, b = population[rng.integers(len(population))], population[rng.integers(len(population))]
        results.append(space.mutate(a, rng))
        results.extend(space.crossover(a, b, rng))
        results.append(space.mutate(a, rng, prob=1.0))
    for cfg in results:
        assert space.validate(cfg) == cfg
        assert bits_cost(cfg) <= BUDGET and space.is_feasible(cfg)
        assert space.constraint_values(cfg)[f"bits<={BUDGET}"] <= 0
    # repair, not rejection to a single point: operators keep exploring the feasible set
    distinct = {space.key(c) for c in results}
    assert len(distinct) >= 40


def test_budget_repair_only_lowers_bits_and_stops_at_the_budget(rng: np.random.Generator) -> None:
    space = budget_space(ordered=True)
    repaired_any = 0
    for _ in range(300):
        raw = {"bits": [int(b) for b in rng.choice(BITS, size=LAYERS)], "act": "gelu"}
        fixed = space.repair(raw, rng)
        assert space.is_feasible(fixed)
        assert fixed["act"] == "gelu"
        if bits_cost(raw) <= BUDGET:
            assert fixed == raw  # feasible configurations are left alone
            continue
        repaired_any += 1
        assert all(f <= r for f, r in zip(fixed["bits"], raw["bits"]))
        assert BUDGET - MAX_STEP < bits_cost(fixed) <= BUDGET  # closest, not the cheapest point
    assert repaired_any > 200


def test_sampling_covers_the_feasible_set(rng: np.random.Generator) -> None:
    space = budget_space()
    seen = {json.dumps(space.sample(rng)["bits"]) for _ in range(600)}
    assert len(seen) >= 0.8 * _n_feasible_bits()


def test_repair_gives_up_after_bounded_rounds_on_unrepairable_constraints() -> None:
    space = Space([Integer("x", 0, 10)], constraints=[FunctionConstraint("never", lambda c: 1.0)])
    cfg = space.repair({"x": 15})
    assert cfg == {"x": 10} and not space.is_feasible(cfg)


def test_function_constraint_repair_is_used(rng: np.random.Generator) -> None:
    space = Space([Integer("x", 0, 10)],
                  constraints=[FunctionConstraint("even", lambda c: c["x"] % 2,
                                                  lambda c, r: {**c, "x": c["x"] - c["x"] % 2})])
    for _ in range(50):
        cfg = space.sample(rng)
        assert cfg["x"] % 2 == 0 and space.is_feasible(cfg)
        assert space.mutate(cfg, rng)["x"] % 2 == 0


# -- operators ------------------------------------------------------------------------------
def test_mutate_and_crossover_produce_valid_configs(rng: np.random.Generator) -> None:
    space = mixed_space()
    for _ in range(200):
        a, b = space.sample(rng), space.sample(rng)
        a_copy = copy.deepcopy(a)
        m = space.mutate(a, rng)
        assert space.validate(m) == m
        assert m != a  # every variable of this space moves when mutated
        c1, c2 = space.crossover(a, b, rng)
        assert space.validate(c1) == c1 and space.validate(c2) == c2
        assert a == a_copy  # parents are not modified


def test_neighbors_change_exactly_one_variable(rng: np.random.Generator) -> None:
    space = budget_space()
    cfg = space.sample(rng)
    nbs = list(space.neighbors(cfg))
    assert nbs
    for nb in nbs:
        assert sum(nb[k] != cfg[k] for k in cfg) == 1
        assert space.validate(nb) == nb
    assert any(nb["act"] != cfg["act"] for nb in nbs)


# -- numeric views --------------------------------------------------------------------------
def test_encode_many_shape(rng: np.random.Generator) -> None:
    space = mixed_space()
    configs = [space.sample(rng) for _ in range(7)]
    X = space.encode_many(configs)
    assert X.shape == (7, space.width)
    assert space.width == sum(v.width for v in space.variables)
    np.testing.assert_array_equal(X[3], space.encode(configs[3]))
    assert space.encode_many([]).shape == (0, space.width)


@pytest.mark.parametrize("make", [mixed_space, budget_space, discrete_space])
def test_from_unit_gives_valid_feasible_configs(make, rng: np.random.Generator) -> None:
    space = make()
    assert space.unit_dim == len(space.flat_params())
    for _ in range(100):
        cfg = space.from_unit(rng.random(space.unit_dim), rng)
        assert space.validate(cfg) == cfg
        assert space.is_feasible(cfg)
    # the corners of the cube too
    for u in (np.zeros(space.unit_dim), np.ones(space.unit_dim)):
        cfg = space.from_unit(u, rng)
        assert space.validate(cfg) == cfg and space.is_feasible(cfg)


@pytest.mark.parametrize("make", [budget_space, discrete_space])
def test_to_unit_from_unit_round_trip_discrete(make, rng: np.random.Generator) -> None:
    space = make()
    for _ in range(100):
        cfg = space.sample(rng)
        u = space.to_unit(cfg)
        assert u.shape == (space.unit_dim,) and np.all((u >= 0) & (u <= 1))
        assert space.key(space.from_unit(u)) == space.key(cfg)
        assert space.key(space.from_flat(space.to_flat(cfg))) == space.key(cfg)


def test_to_unit_from_unit_round_trip_mixed(rng: np.random.Generator) -> None:
    space = mixed_space()
    for _ in range(100):
        cfg = space.sample(rng)
        back = space.from_unit(space.to_unit(cfg))
        for name in ("act", "group", "depth", "wbits", "experts"):
            assert back[name] == cfg[name]
        assert back["lr"] == pytest.approx(cfg["lr"], rel=1e-9)
        np.testing.assert_allclose(back["mix"], cfg["mix"], rtol=1e-9, atol=1e-12)
        assert space.key(space.from_flat(space.to_flat(cfg))) == space.key(cfg)


def test_encode_unit_equals_encoding_the_configurations(rng: np.random.Generator) -> None:
    """The vectorised unit-cube encoding is the encoding of ``from_unit``'s configurations,
    for scalars (log and linear, degenerate ranges), categoricals, ordinals, choice sequences and
    real vectors (simplex too) and subsets (a fixed or a free size, ties among the scores), cube
    faces included; a space it cannot follow (constraints) says so with None."""
    space = Space([Real("a", -2.0, 3.0), Real("lr", 1e-4, 1e-1, log=True), Real("fixed", 2.0, 2.0),
                   Integer("depth", 1, 6), Integer("width", 8, 512, log=True), Integer("one", 3, 3),
                   Categorical("act", ["relu", "gelu", True, 3]), Ordinal("group", [32, 64, 128, 256])], name="scalars")
    U = rng.random((3000, space.unit_dim))
    U[:40] = 0.0
    U[40:80] = 1.0
    U[80:400] = np.round(U[80:400], 1)  # cell boundaries of the discrete variables
    X = space.encode_unit(U)
    assert X.shape == (len(U), space.width)
    np.testing.assert_allclose(X, space.encode_many([space.from_unit(u) for u in U]), rtol=0, atol=1e-9)
    composite = Space([ChoiceSequence("wbits", 5, [2, 4, 8], ordered=True, skip=True),
                       ChoiceSequence("solver", 4, [["a"], ["a", "b"], ["a", "b", 3], [True, False, "c", None]]),
                       ChoiceSequence("order", 3, [[1], [1, 2], [1, 2, 3]], ordered=True),
                       RealVector("coef", 4, low=-1.0, high=2.0), RealVector("mix", 3, simplex=True),
                       RealVector("w", 2, simplex=True)], name="sequences")
    V = rng.random((3000, composite.unit_dim))
    V[:40] = 0.0  # includes all-zero simplex rows (uniform)
    V[40:80] = 1.0
    V[80:400] = np.round(V[80:400], 1)  # cell boundaries, ties of the rounding
    V[400:450, -2:] = [0.3, 0.7]  # already on the simplex
    XV = composite.encode_unit(V)
    assert XV.shape == (len(V), composite.width)
    np.testing.assert_allclose(XV, composite.encode_many([composite.from_unit(v) for v in V]), rtol=0, atol=1e-9)
    subsets = Space([Subset("experts", 6, k_min=1, k_max=4), Subset("layers", ["a", "b", "c", "d", "e"], k=2),
                     Subset("any", 4)], name="subsets")
    W = rng.random((3000, subsets.unit_dim))
    W[:40] = 0.0  # all scores tied: the first items, as from_flat
    W[40:80] = 1.0
    W[80:400] = np.round(W[80:400], 1)  # ties among the scores, boundaries of the size's cells
    XW = subsets.encode_unit(W)
    assert XW.shape == (len(W), subsets.width)
    np.testing.assert_allclose(XW, subsets.encode_many([subsets.from_unit(w) for w in W]), rtol=0, atol=0)
    mixed = mixed_space()
    M = rng.random((500, mixed.unit_dim))
    np.testing.assert_allclose(mixed.encode_unit(M), mixed.encode_many([mixed.from_unit(m) for m in M]), atol=1e-9)
    assert budget_space().encode_unit(np.full((2, budget_space().unit_dim), 0.5)) is None  # a constraint may repair


def test_decode_unit_and_feasible_unit_follow_from_unit_before_the_repair(rng: np.random.Generator) -> None:
    """``decode_unit`` gives, for all rows at once, the configurations ``from_unit`` makes before
    a constraint repairs them (per-position choices, skip tokens, unordered sequences and every
    other kind of variable included); ``feasible_unit`` says which meet the constraints, and on
    those rows ``from_unit`` changes nothing and ``encode_unit(repaired=False)`` is their encoding."""
    mixed = mixed_space()
    M = rng.random((500, mixed.unit_dim))
    M[:20] = 0.0
    M[20:40] = 1.0
    M[40:200] = np.round(M[40:200], 1)  # cell boundaries and ties
    assert [mixed.key(c) for c in mixed.decode_unit(M)] == [mixed.key(mixed.from_unit(m)) for m in M]
    assert mixed.feasible_unit(M).all()
    seqs = Space([ChoiceSequence("solver", 4, [["a"], ["a", "b"], ["a", "b", 3], [True, False, "c", None]]),
                  ChoiceSequence("wbits", 5, [2, 4, 8], ordered=True, skip=True),
                  ChoiceSequence("act", 3, ["relu", 1, True, 2.5]), Categorical("flag", ["x", True, 1, None]),
                  Ordinal("level", [0, False, 2.5])], name="seqs")
    V = rng.random((500, seqs.unit_dim))
    V[:20] = 1.0
    V[20:200] = np.round(V[20:200], 1)
    decoded = seqs.decode_unit(V)
    assert [seqs.key(c) for c in decoded] == [seqs.key(seqs.from_unit(v)) for v in V]  # keys keep True apart from 1
    assert {type(x) for c in decoded for x in c["solver"]} == {str, int, bool, type(None)}  # True is not 1
    assert {type(x) for c in decoded for x in c["act"]} == {str, int, bool, float}
    assert {type(c["flag"]) for c in decoded} == {str, bool, int, type(None)}
    assert {type(c["level"]) for c in decoded} == {int, bool, float}
    space = budget_space()
    U = rng.random((2000, space.unit_dim))
    U[:300, :LAYERS] *= 0.3  # mostly the lowest bits: feasible
    raw = space.decode_unit(U)
    ok = space.feasible_unit(U)
    assert ok.tolist() == [space.is_feasible(c) for c in raw]
    assert 200 <= ok.sum() < len(U) - 200  # both kinds present
    assert [space.key(space.from_unit(u)) for u in U[ok]] == [space.key(c) for c, f in zip(raw, ok) if f]
    repaired = [space.from_unit(u, np.random.default_rng(0)) for u in U[~ok][:50]]
    infeasible = [c for c, f in zip(raw, ok) if not f]
    assert all(space.is_feasible(c) for c in repaired) and all(c != r for c, r in zip(repaired, infeasible))
    X = space.encode_unit(U, repaired=False)
    np.testing.assert_array_equal(X, space.encode_many(raw))


def test_spread_unit_keeps_the_configurations_and_parts_a_subsets_scores(rng: np.random.Generator) -> None:
    """``spread_unit`` draws a subset's item scores apart (members above 1/2, the others below)
    without changing any configuration; scalars, sequences and vectors are left as they are,
    and the draws are reproducible for a generator's seed."""
    space = mixed_space()
    configs = [space.sample(rng) for _ in range(200)]
    U = np.stack([space.to_unit(c) for c in configs])
    S = space.spread_unit(U, np.random.default_rng(3))
    np.testing.assert_array_equal(S, space.spread_unit(U, np.random.default_rng(3)))
    assert [space.key(space.from_unit(s)) for s in S] == [space.key(space.from_unit(u)) for u in U]
    ranked = np.array([p.ranked for p in space.flat_params()])
    assert ranked.sum() == 5 and [p.name for p, r in zip(space.flat_params(), ranked) if r][0] == "experts[0]"
    np.testing.assert_array_equal(S[:, ~ranked], U[:, ~ranked])
    member = space.encode_unit(U)[:, -8:-3] > 0.5  # the subset's multi-hot block (5 items, then "mix")
    scores = S[:, ranked]
    assert (scores[member] > 0.5).all() and (scores[~member] < 0.5).all()
    assert len(np.unique(np.round(scores, 6))) > 0.9 * scores.size  # drawn, not the 0 / 1 of to_unit


# -- enumeration ----------------------------------------------------------------------------
def test_enumerate_yields_only_feasible_configs() -> None:
    space = budget_space()
    configs = list(space.enumerate())
    assert len(configs) == 2 * _n_feasible_bits() == 2 * 37
    assert len({space.key(c) for c in configs}) == len(configs)
    for c in configs:
        assert space.is_feasible(c) and space.validate(c) == c
    assert space.cardinality == 2 * 3**LAYERS  # cardinality counts the unconstrained product


def test_enumerate_without_constraints_matches_cardinality() -> None:
    space = discrete_space()
    configs = list(space.enumerate())
    assert len(configs) == space.cardinality == 2 * 3 * 4 * 6
    assert len({space.key(c) for c in configs}) == len(configs)


def test_continuous_space_has_no_cardinality() -> None:
    space = mixed_space()
    assert space.cardinality is None
    with pytest.raises(ConfigError, match="'lr'"):
        next(space.enumerate())


def test_costs_and_describe() -> None:
    space = budget_space()
    cfg = {"bits": [2] * LAYERS, "act": "relu"}
    assert space.cost_values(cfg) == {"bits": 16.0}
    assert space.constraint_values(cfg) == {f"bits<={BUDGET}": 16.0 - BUDGET}
    desc = space.describe()
    assert json.loads(json.dumps(desc)) == desc
    assert desc["name"] == "quant" and [v["name"] for v in desc["variables"]] == ["bits", "act"]
    assert desc["costs"] == ["bits"] and len(desc["constraints"]) == 1


def test_infinite_bounds_and_unreachable_budgets_are_named(caplog) -> None:
    from paretoforge.spaces import BudgetConstraint, ChoiceSequence, Real, Space
    from paretoforge.spaces.variables import ConfigError

    with pytest.raises(ConfigError, match="'low' and 'high' must be finite"):
        Real("x", 0, float("inf"))
    space = Space([ChoiceSequence("b", 3, [4, 8], ordered=True)], constraints=[BudgetConstraint("size", 5)],
                  costs={"size": lambda c: float(sum(c["b"]))})
    with caplog.at_level("WARNING", logger="paretoforge"):
        out = space.repair({"b": [8, 8, 4]}, np.random.default_rng(0))
    assert out == {"b": [4, 4, 4]} and not space.is_feasible(out)
    assert "the budget 5 is below size = 12" in caplog.text
