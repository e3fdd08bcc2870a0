"""Contract tests of every variable type: operators stay in the domain, keys are canonical,
flat views round-trip, enumeration matches cardinality, and errors name the variable."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest

from paretoforge.spaces import (
    Categorical,
    ChoiceSequence,
    ConfigError,
    Integer,
    Ordinal,
    Real,
    RealVector,
    Subset,
    Variable,
    variable_from_spec,
)
from paretoforge.spaces.variables import VARIABLE_KINDS

N_DRAWS = 150


def _variables() -> list:
    return [
        pytest.param(Categorical("act", ["relu", "gelu", 3, 2.5, None, True]), id="categorical"),
        pytest.param(Ordinal("bits", [2, 3, 4, 8]), id="ordinal"),
        pytest.param(Integer("depth", -3, 7), id="integer"),
        pytest.param(Integer("width", 1, 1024, log=True), id="integer-log"),
        pytest.param(Real("x", -1.0, 2.0), id="real"),
        pytest.param(Real("lr", 1e-5, 1e-1, log=True), id="real-log"),
        pytest.param(ChoiceSequence("ops", 5, ["conv", "pool", "id"]), id="sequence-unordered"),
        pytest.param(ChoiceSequence("wbits", 6, [2, 4, 8], ordered=True), id="sequence-ordered"),
        pytest.param(ChoiceSequence("layers", 4, [2, 4, 8], ordered=True, skip=True), id="sequence-skip"),
        pytest.param(ChoiceSequence("blocks", 3, ["a", "b"], skip=True), id="sequence-skip-unordered"),
        pytest.param(ChoiceSequence("pp", 3, [[1, 2], ["a", "b", "c"], [0.5, 1.5, 2.5]]),
                     id="sequence-per-position"),
        pytest.param(ChoiceSequence("ppo", 3, [[2, 4], [2, 4, 8], [4, 8, 16]], ordered=True),
                     id="sequence-per-position-ordered"),
        pytest.param(Subset("experts", 8, k=3), id="subset-k"),
        pytest.param(Subset("keep", ["a", "b", "c", "d", "e"], k_min=1, k_max=4), id="subset-k-range"),
        pytest.param(RealVector("coef", 3, low=-2.0, high=2.0), id="vector"),
        pytest.param(RealVector("mix", 4, simplex=True), id="vector-simplex"),
    ]


VARIABLES = _variables()

# values outside each domain: validation must raise a ConfigError that names the variable
BAD_VALUES: dict[str, list] = {
    "categorical": ["swish", 4, [1], {"a": 1}, 1],  # 1 is not True
    "ordinal": [5, "2", None, [2]],
    "integer": [8, -4, 2.5, "3", True, None, float("nan"), [1]],
    "integer-log": [0, 1025, 3.5],
    "real": [2.5, -1.01, "0.5", float("nan"), float("inf"), True, None, [0.5]],
    "real-log": [0.0, 1.0, -1e-3],
    "sequence-unordered": [["conv"] * 4, ["conv"] * 6, ["conv", "pool", "id", "id", "relu"], "convpoolid", 3],
    "sequence-ordered": [[2, 4, 8, 2, 4, 16], [2] * 5, None],
    "sequence-skip": [[2, 4, 8, 3], [None] * 3],
    "sequence-skip-unordered": [["a", "b", "c"], ["a", "b"]],
    "sequence-per-position": [[1, "a", 1.0], ["a", 1, 0.5], [3, "a", 0.5]],
    "sequence-per-position-ordered": [[2, 2, 2], [8, 4, 4]],
    "subset-k": [[0, 1], [0, 1, 2, 3], [0, 1, 8], [0, 0, 1], 3, "012"],
    "subset-k-range": [[], ["a", "b", "c", "d", "e"], ["a", "z"], ["a", "a"]],
    "vector": [[0.0, 0.0], [0.0, 0.0, 3.0], [0.0, "a", 0.0], [0.0, float("nan"), 0.0], 0.5, "abc",
               [[0.0], [0.0], [0.0]]],
    "vector-simplex": [[0.5, 0.5, 0.5, 0.5], [1.2, -0.2, 0.0, 0.0], [0.25, 0.25, 0.25]],
}

# values outside the domain that repair must project onto it
REPAIRABLE: dict[str, list] = {
    "integer": [100, -100, 2.6],
    "integer-log": [0, 5000, 10.4],
    "real": [5.0, -3, 1e9],
    "real-log": [0.0, -5.0, 3.0],
    "subset-k": [[0, 1], [0, 1, 2, 3, 4, 5], []],
    "subset-k-range": [[], ["a", "b", "c", "d", "e"]],
    "vector": [[-5.0, 0.0, 5.0], [10, 10, 10]],
    "vector-simplex": [[0.5, 0.5, 0.5, 0.5], [2.0, -1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]],
}


def _ids() -> list[str]:
    return [p.id for p in VARIABLES]


def _key_json(var: Variable, value) -> str:
    return json.dumps(var.key(value), sort_keys=True)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def test_tables_cover_every_variable() -> None:
    assert set(BAD_VALUES) == set(_ids())
    kinds = {type(p.values[0]).kind for p in VARIABLES}
    assert kinds == set(VARIABLE_KINDS)


# -- operators stay in the domain ---------------------------------------------------------
@pytest.mark.parametrize("var", VARIABLES)
def test_sample_is_valid_and_canonical(var: Variable, rng: np.random.Generator) -> None:
    keys = set()
    for _ in range(N_DRAWS):
        x = var.sample(rng)
        v = var.validate(x)
        assert _key_json(var, v) == _key_json(var, x)
        keys.add(_key_json(var, x))
    # sampling explores the domain (all have well over 10 values)
    assert len(keys) >= min(10, var.cardinality or 10**9)


@pytest.mark.parametrize("var", VARIABLES)
def test_validate_is_idempotent(var: Variable, rng: np.random.Generator) -> None:
    """The canonical form is a fixed point: validating it again changes nothing (keys of stored
    configurations must not drift when they are re-validated, e.g. on resume or export)."""
    for _ in range(N_DRAWS):
        once = var.validate(var.sample(rng))
        assert var.validate(once) == once
        once = var.validate(var.mutate(once, rng))
        assert var.validate(once) == once


@pytest.mark.parametrize("var", VARIABLES)
def test_mutate_is_valid_and_moves(var: Variable, rng: np.random.Generator) -> None:
    for _ in range(N_DRAWS):
        x = var.sample(rng)
        m = var.mutate(x, rng)
        var.validate(m)
        assert _key_json(var, m) != _key_json(var, x), f"{var.name}: mutate({x!r}) returned the same value"
        # the input is not modified in place
        assert _key_json(var, x) == _key_json(var, var.validate(x))


@pytest.mark.parametrize(
    "var, value",
    [
        (Categorical("c", ["only"]), "only"),
        (Ordinal("o", [4]), 4),
        (Integer("i", 3, 3), 3),
        (Real("r", 0.5, 0.5), 0.5),
        (ChoiceSequence("s", 3, ["x"]), ["x", "x", "x"]),
        (Subset("e", 4, k=4), [0, 1, 2, 3]),
        (Subset("e0", 4, k=0), []),
    ],
    ids=["categorical", "ordinal", "integer", "real", "sequence", "subset-all", "subset-none"],
)
def test_mutate_on_a_single_point_domain(var: Variable, value, rng: np.random.Generator) -> None:
    for _ in range(10):
        assert var.mutate(value, rng) == var.validate(value)
    assert var.sample(rng) == var.validate(value)


@pytest.mark.parametrize("var", VARIABLES)
def test_crossover_is_valid(var: Variable, rng: np.random.Generator) -> None:
    for _ in range(N_DRAWS):
        a, b = var.sample(rng), var.sample(rng)
        c1, c2 = var.crossover(a, b, rng)
        var.validate(c1)
        var.validate(c2)
        # identical parents have identical children
        d1, d2 = var.crossover(a, copy.deepcopy(a), rng)
        assert _key_json(var, d1) == _key_json(var, a) == _key_json(var, d2)


@pytest.mark.parametrize("var", [p for p in VARIABLES if isinstance(p.values[0], (Categorical, ChoiceSequence))])
def test_discrete_crossover_genes_come_from_parents(var: Variable, rng: np.random.Generator) -> None:
    for _ in range(N_DRAWS):
        a, b = var.sample(rng), var.sample(rng)
        c1, c2 = var.crossover(a, b, rng)
        if isinstance(var, ChoiceSequence):
            for i in range(var.length):
                assert sorted(map(repr, (c1[i], c2[i]))) == sorted(map(repr, (a[i], b[i])))
        elif isinstance(var, Ordinal):
            lo, hi = sorted((var.choices.index(a), var.choices.index(b)))
            assert all(lo <= var.choices.index(c) <= hi for c in (c1, c2))
        else:
            assert sorted(map(repr, (c1, c2))) == sorted(map(repr, (a, b)))


@pytest.mark.parametrize("var", [p for p in VARIABLES if isinstance(p.values[0], Subset)])
def test_subset_crossover_keeps_common_items_and_sizes(var: Subset, rng: np.random.Generator) -> None:
    for _ in range(N_DRAWS):
        a, b = var.sample(rng), var.sample(rng)
        c1, c2 = var.crossover(a, b, rng)
        common, union = set(a) & set(b), set(a) | set(b)
        for c, parent in ((c1, a), (c2, b)):
            assert common <= set(c) <= union
            assert len(c) == len(parent)


@pytest.mark.parametrize("var", VARIABLES)
def test_repair_is_identity_on_valid_values(var: Variable, rng: np.random.Generator) -> None:
    for _ in range(N_DRAWS):
        x = var.sample(rng)
        assert _key_json(var, var.repair(x, rng)) == _key_json(var, x)
        assert _key_json(var, var.repair(x)) == _key_json(var, x)  # no rng given


@pytest.mark.parametrize("var", VARIABLES)
def test_repair_projects_onto_the_domain(var: Variable, rng: np.random.Generator, request) -> None:
    name = request.node.callspec.id
    values = REPAIRABLE.get(name)
    if values is None:
        # choices cannot be repaired: repair is validation
        for bad in BAD_VALUES[name]:
            with pytest.raises(ConfigError, match=f"'{var.name}'"):
                var.repair(bad, rng)
        return
    for bad in values:
        with pytest.raises(ConfigError):
            var.validate(bad)
        fixed = var.repair(bad, rng)
        assert var.validate(fixed) == fixed


def test_repair_clips_to_the_nearest_bound() -> None:
    assert Integer("i", 0, 10).repair(12) == 10 and Integer("i", 0, 10).repair(-1) == 0
    assert Integer("i", 0, 10).repair(2.6) == 3
    assert Real("r", 0.0, 1.0).repair(7) == 1.0 and Real("r", 0.0, 1.0).repair(-7) == 0.0
    assert RealVector("v", 3).repair([-1.0, 0.5, 2.0]) == [0.0, 0.5, 1.0]
    assert RealVector("w", 2, simplex=True).repair([0.6, 0.2]) == [0.75, 0.25]
    assert RealVector("w", 2, simplex=True).repair([3.0, 1.0]) == [0.5, 0.5]  # clipped first
    assert RealVector("w", 2, simplex=True).repair([0.0, 0.0]) == [0.5, 0.5]
    s = Subset("e", 6, k=2)
    assert set(s.repair([0, 1, 2, 3], np.random.default_rng(0))) <= {0, 1, 2, 3}
    assert {0} <= set(s.repair([0], np.random.default_rng(0)))


# -- numeric views ------------------------------------------------------------------------
@pytest.mark.parametrize("var", VARIABLES)
def test_encode_has_width_and_unit_range(var: Variable, rng: np.random.Generator) -> None:
    for _ in range(N_DRAWS):
        e = var.encode(var.sample(rng))
        assert isinstance(e, np.ndarray) and e.shape == (var.width,)
        assert np.all(np.isfinite(e)) and np.all(e >= -1e-12) and np.all(e <= 1 + 1e-12)


@pytest.mark.parametrize("var", [p for p in VARIABLES if p.values[0].cardinality is not None])
def test_encode_separates_distinct_values(var: Variable) -> None:
    values = list(var.enumerate())
    codes = {tuple(np.round(var.encode(v), 9)) for v in values}
    assert len(codes) == len(values)


@pytest.mark.parametrize("var", VARIABLES)
def test_key_is_stable_and_json_able(var: Variable, rng: np.random.Generator) -> None:
    twin = variable_from_spec(var.describe())
    for _ in range(N_DRAWS):
        x = var.sample(rng)
        k = var.key(x)
        assert json.loads(json.dumps(k)) == k  # JSON-able, survives a store round trip
        assert var.key(copy.deepcopy(x)) == k
        assert var.key(json.loads(json.dumps(x))) == k  # value as read back from a store
        assert twin.key(x) == k  # same definition, same key
        assert _key_json(var, var.validate(json.loads(json.dumps(x)))) == _key_json(var, x)
        if isinstance(x, list):
            assert var.key(tuple(x)) == k


def test_key_ignores_float_noise_and_representation() -> None:
    r = Real("r", 0.0, 1.0)
    assert r.key(0.1 + 0.2) == r.key(0.3)
    assert r.key(np.float32(0.5)) == r.key(0.5) and isinstance(r.key(np.float64(0.25)), float)
    i = Integer("i", 0, 10)
    assert i.key(np.int64(3)) == i.key(3) and type(i.key(np.int64(3))) is int
    s = ChoiceSequence("s", 2, [1, 2])
    assert s.key((1, np.int64(2))) == s.key([1, 2])
    sub = Subset("e", ["a", "b", "c"], k=2)
    assert sub.key(sub.validate(["c", "a"])) == sub.key(["a", "c"])


@pytest.mark.parametrize("var", VARIABLES)
def test_flat_round_trip(var: Variable, rng: np.random.Generator) -> None:
    params = var.flat_params()
    names = [p.name for p in params]
    assert len(set(names)) == len(names) and all(n.startswith(var.name) for n in names)
    for _ in range(N_DRAWS):
        x = var.sample(rng)
        flat = var.to_flat(x)
        assert len(flat) == len(params)
        for p, f in zip(params, flat):
            if p.kind == "cat":
                assert f in p.choices
            else:
                assert p.low <= f <= p.high
                if p.kind == "int":
                    assert float(f) == int(f)
        back = var.from_flat(flat)
        assert var.validate(back) == back
        assert _key_json(var, back) == _key_json(var, x)
        # and through the unit cube, which the pymoo adapter uses
        unit = [p.to_unit(f) for p, f in zip(params, flat)]
        assert all(0.0 <= u <= 1.0 for u in unit)
        again = var.from_flat([p.from_unit(u) for p, u in zip(params, unit)])
        if var.cardinality is not None:
            assert _key_json(var, again) == _key_json(var, x)
        else:
            np.testing.assert_allclose(np.atleast_1d(np.asarray(again, dtype=float)),
                                       np.atleast_1d(np.asarray(x, dtype=float)), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("var", VARIABLES)
def test_from_flat_of_any_flat_point_is_valid(var: Variable, rng: np.random.Generator) -> None:
    params = var.flat_params()
    for _ in range(N_DRAWS):
        value = var.from_flat([p.from_unit(u) for p, u in zip(params, rng.random(len(params)))])
        assert var.validate(value) == value


# -- enumeration --------------------------------------------------------------------------
@pytest.mark.parametrize("var", VARIABLES)
def test_enumerate_matches_cardinality(var: Variable) -> None:
    if var.cardinality is None:
        with pytest.raises(ConfigError, match=f"'{var.name}'"):
            list(var.enumerate())
        return
    values = list(var.enumerate())
    assert len(values) == var.cardinality
    keys = {_key_json(var, v) for v in values}
    assert len(keys) == len(values)
    for v in values:
        assert _key_json(var, var.validate(v)) == _key_json(var, v)


def test_known_cardinalities() -> None:
    assert Categorical("c", [1, 2, 3]).cardinality == 3
    assert Integer("i", -3, 7).cardinality == 11
    assert ChoiceSequence("s", 4, [2, 4, 8], skip=True).cardinality == 4**4
    assert ChoiceSequence("s", 3, [[1, 2], [1, 2, 3], [1]]).cardinality == 6
    assert Subset("e", 8, k=3).cardinality == 56
    assert Subset("e", 5, k_min=1, k_max=4).cardinality == 5 + 10 + 10 + 5
    assert Real("r", 0, 1).cardinality is None and RealVector("v", 2).cardinality is None


# -- errors -------------------------------------------------------------------------------
@pytest.mark.parametrize("var", VARIABLES)
def test_validation_errors_name_the_variable(var: Variable, request) -> None:
    for bad in BAD_VALUES[request.node.callspec.id]:
        with pytest.raises(ConfigError, match=f"'{var.name}'"):
            var.validate(bad)


@pytest.mark.parametrize(
    "build, name",
    [
        (lambda: Categorical("c1", []), "c1"),
        (lambda: Categorical("c2", [1, 1]), "c2"),
        (lambda: Categorical("c3", [[1], [2]]), "c3"),
        (lambda: Categorical("c4", "abc"), "c4"),
        (lambda: Ordinal("o1", []), "o1"),
        (lambda: Integer("i1", 5, 1), "i1"),
        (lambda: Integer("i2", 0.5, 3), "i2"),
        (lambda: Integer("i3", 0, 10, log=True), "i3"),
        (lambda: Real("r1", 1.0, 0.0), "r1"),
        (lambda: Real("r2", 0.0, 1.0, log=True), "r2"),
        (lambda: Real("r3", "a", 1.0), "r3"),
        (lambda: ChoiceSequence("s1", 0, [1, 2]), "s1"),
        (lambda: ChoiceSequence("s2", 3, [[1], [2]]), "s2"),
        (lambda: ChoiceSequence("s3", 2, [None, 1], skip=True), "s3"),
        (lambda: Subset("e1", 3, k=4), "e1"),
        (lambda: Subset("e2", 3, k=1, k_min=1), "e2"),
        (lambda: Subset("e3", 0), "e3"),
        (lambda: Subset("e4", 4, k_min=3, k_max=2), "e4"),
        (lambda: RealVector("v1", 0), "v1"),
        (lambda: RealVector("v2", 2, low=1.0, high=1.0), "v2"),
        (lambda: Real("1bad", 0.0, 1.0), "1bad"),
        (lambda: Integer("has space", 0, 1), "has space"),
    ],
)
def test_bad_definitions_raise_config_error_naming_the_variable(build, name: str) -> None:
    with pytest.raises(ConfigError, match=f"'{name}'"):
        build()


# -- specs --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "spec, cls",
    [
        ({"name": "a", "kind": "categorical", "choices": ["x", "y"]}, Categorical),
        ({"name": "b", "kind": "ordinal", "choices": [2, 4, 8]}, Ordinal),
        ({"name": "c", "kind": "integer", "low": 1, "high": 9, "log": True}, Integer),
        ({"name": "d", "kind": "real", "low": 1e-4, "high": 1.0, "log": True}, Real),
        ({"name": "e", "kind": "sequence", "length": 3, "choices": [2, 4], "ordered": True, "skip": True},
         ChoiceSequence),
        ({"name": "f", "kind": "sequence", "length": 2, "choices": [[1, 2], ["a"]]}, ChoiceSequence),
        ({"name": "g", "kind": "subset", "items": 6, "k": 2}, Subset),
        ({"name": "h", "kind": "subset", "items": ["p", "q", "r"], "k_min": 1, "k_max": 2}, Subset),
        ({"name": "i", "kind": "vector", "length": 3, "simplex": True}, RealVector),
    ],
)
def test_variable_from_spec_builds_each_kind(spec: dict, cls: type, rng: np.random.Generator) -> None:
    original = dict(spec)
    var = variable_from_spec(spec)
    assert type(var) is cls and var.name == spec["name"] and var.kind == spec["kind"]
    assert spec == original  # the caller's mapping is not consumed
    var.validate(var.sample(rng))


@pytest.mark.parametrize("var", VARIABLES)
def test_describe_round_trips_through_variable_from_spec(var: Variable, rng: np.random.Generator) -> None:
    desc = var.describe()
    assert json.loads(json.dumps(desc)) == desc
    twin = variable_from_spec(desc)
    assert type(twin) is type(var) and twin.describe() == desc
    assert twin.cardinality == var.cardinality and twin.width == var.width
    assert [p.name for p in twin.flat_params()] == [p.name for p in var.flat_params()]


def test_variable_from_spec_rejects_unknown_kind_listing_allowed_ones() -> None:
    with pytest.raises(ConfigError) as info:
        variable_from_spec({"name": "z", "kind": "quaternion"})
    msg = str(info.value)
    assert "'z'" in msg and "quaternion" in msg
    for kind in ("categorical", "ordinal", "integer", "real", "sequence", "subset", "vector"):
        assert kind in msg
    with pytest.raises(ConfigError, match="allowed"):
        variable_from_spec({"name": "z"})
    with pytest.raises(ConfigError):
        variable_from_spec(["name", "z"])  # type: ignore[arg-type]


def test_variable_from_spec_bad_arguments_name_the_variable() -> None:
    with pytest.raises(ConfigError, match="'lr'"):
        variable_from_spec({"name": "lr", "kind": "real", "low": 0.0})  # no 'high'
    with pytest.raises(ConfigError, match="'lr'"):
        variable_from_spec({"name": "lr", "kind": "real", "low": 0.0, "high": 1.0, "step": 0.1})
    with pytest.raises(ConfigError, match="'q'"):
        variable_from_spec({"name": "q", "kind": "integer", "low": 3, "high": 1})


def test_log_scale_sampling_is_log_uniform() -> None:
    rng = np.random.default_rng(0)
    lr = Real("lr", 1e-5, 1e-1, log=True)
    x = np.array([lr.sample(rng) for _ in range(4000)])
    below = np.mean(x < 1e-3)  # half of the decades
    assert 0.45 < below < 0.55
    w = Integer("w", 1, 1000, log=True)
    k = np.array([w.sample(rng) for _ in range(4000)])
    assert 0.4 < np.mean(k <= 31) < 0.6
    assert math.isclose(lr.encode(1e-3)[0], 0.5)


def test_choices_match_by_value_and_keep_bools_apart() -> None:
    """A choice is found the same way whatever the value's type: numpy scalars and float noise
    match their plain choice, a bool never matches 0 or 1 (nor they a bool), the first of two
    equal choices wins, and a NaN choice matches nothing (NaN is not equal to itself)."""
    c = Categorical("c", [1, True, "x", 2.5, None, 0])
    assert [int(np.argmax(c.encode(v))) for v in (1, np.int64(1), 1.0, True, np.bool_(True), "x", 2.5,
                                                  np.float32(2.5), 2.5000000000000004, None, 0, -0.0)] == \
        [0, 0, 0, 1, 1, 2, 3, 3, 3, 4, 5, 5]
    for bad in (False, 2, "y", float("nan")):
        with pytest.raises(ConfigError):
            c.validate(bad)
    assert Categorical("d", [1.0, 1, 0.0]).validate(1) == 1.0
    with pytest.raises(ConfigError):
        Categorical("e", [False, float("nan")]).validate(float("nan"))
    seq = ChoiceSequence("s", 3, [0, 1, True])
    assert seq.validate([np.int64(1), True, 0]) == [1, True, 0]
    with pytest.raises(ConfigError):
        seq.validate([1, False, 0])
