"""Predictor-guided multi-objective search: few real evaluations, many predicted ones.

The loop (OMS-DPM / S^3 style, with a multi-objective acquisition):

1. *Initial design*: the configurations of ``initial`` (e.g. a space's baselines), then random
   ones up to ``n_initial`` (or, with ``low_fidelity``, ``n_low`` cheap low-fidelity
   evaluations first, whose non-dominated configurations are then promoted to full fidelity as
   the initial design).
2. *Fit*: one predictor per objective on the full-fidelity results (failed ones are left out
   and never proposed again); each objective is modelled under the output warping its
   predictor's marginal likelihood prefers: identity, log (positive objectives) or a shifted log
   that spreads out the best values, where the front is. On an enumerated space whose key joins
   several configurations (isomorphic architectures: one point, one result), a result also
   trains the models as a few of its key's other configurations (``equivalents``), so that they
   learn the invariance instead of guessing it. Low-fidelity results enter as an extra input
   column (a GP's posterior mean of the low-fidelity value), or as DELE experts. With
   ``features`` (signals known without evaluating, e.g. zero-cost proxies such as synflow),
   the objectives of ``feature_objectives`` get a second predictor that also sees them.
3. *Score*: every unseen configuration when the space is small enough to enumerate
   (``enumerate_limit``; with the GP through its pool cache, O(N n) per round), otherwise a pool
   from random samples, mutations, crossovers and neighbours of the current front (an
   evolutionary search on the predictor), then ``refine`` generations of local search on the
   predictor around its best candidates. On a space of scalars, categoricals, choice
   sequences, real vectors and subsets the pool is one unit-cube matrix, encoded at once
   (:meth:`Space.encode_unit`); only the configurations sent are made. Under constraints the
   matrix keeps its feasible rows (:meth:`Space.feasible_unit`) and a few repaired ones, and
   also moves one variable a step up and another a step down (along a budget).
4. *Select*: expected hypervolume improvement (Monte Carlo over the predictive normals) over the
   front of real results, greedily for a batch: each chosen point enters the front at its
   predicted mean before the next is chosen (kriging believer), and the GPs' spreads of the
   other candidates shrink by what its result would tell about them (their posterior
   covariance with it), so a batch is diverse.
   With ``features``, a candidate scores the larger of its EHVIs under the plain and the
   featured predictors: a proxy steers part of the search (to the most accurate
   configurations, where it ranks better than a model of few results) without starving the
   rest of the front, where a model that trusts it would be wrong.
   Pending proposals count as believed points too. ``ehvi="exact"`` uses the closed form for
   two or three objectives; the default ``"auto"`` uses it for three, Monte Carlo for two. The
   acquisition's reference point is the study's, when it has one; without one, on three or more
   objectives whose random results lie far from the front, ``acquisition="parego"`` scores the
   expected improvement of a random Chebyshev scalarisation instead (:mod:`.scalarization`), which
   converges where a hypervolume box built from the worst results spreads. Candidates like those
   that failed, or like those whose result repeated an earlier result exactly (equivalent
   configurations of a deterministic evaluation, e.g. isomorphic cells), are discounted by GP
   estimates of those probabilities.

Helpers with one concept each: :mod:`.warping` (output warpings), :mod:`.unit_pool` (the
unit-cube pool's rows), :mod:`.trust_region` (``trust_region``'s boxes and side),
:mod:`.acquisition` (expected improvements) and :mod:`.scalarization` (``acquisition: parego``).

Deterministic for a seed and a history, so a study resumes by replay like every optimizer.
:meth:`state` reports the real-evaluation counts and the predictors' Kendall's tau measured on
results they had not seen (each proposal's prediction against its outcome).
"""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import norm

from ...predictors.base import Predictor, kendall_tau
from ...spaces.space import Config
from ...spaces.variables import ChoiceSequence
from ..registry import keyword_names
from ..trial import Observation, Suggestion
from .acquisition import (
    expected_hv_improvement,
    expected_hv_improvement_2d,
    expected_hv_improvement_3d,
    expected_improvement_1d,
    hv_improvement,
)
from .base import Optimizer, resolve_initial
from .scalarization import chebyshev_gain, expected_chebyshev_improvement, simplex_weights
from .trust_region import TrustRegion, improves
from .unit_pool import centred_unit_rows, draw_unit_rows
from .warping import choose_warp, unwarp, warp_targets

__all__ = ["PredictorGuided"]

log = logging.getLogger("paretoforge")


#: ``(weight, means, stds)`` of each model set over a list of candidates
_Sets = list[tuple[float, np.ndarray, np.ndarray]]


class _Rows:
    """``base[idx[i]]`` without copying: the unseen part of an enumerated space's candidates
    (``rows[array]`` gives a numpy array of the selected rows)."""

    def __init__(self, base: Any, idx: np.ndarray) -> None:
        self.base, self.idx = base, idx

    def __len__(self) -> int:
        return len(self.idx)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, np.ndarray):
            return self.base[self.idx[i]]
        return self.base[int(self.idx[i])]


class _UnitRows:
    """Configurations of the rows of a unit-cube matrix ``U``, made on access
    (:meth:`Space.from_unit`): a vectorised pool materialises only the configurations it sends."""

    def __init__(self, space: Any, U: np.ndarray) -> None:
        self.space, self.U = space, U

    def __len__(self) -> int:
        return len(self.U)

    def __getitem__(self, i: Any) -> Config:
        return self.space.from_unit(self.U[int(i)])


def _number(key: str, value: Any, low: float, integer: bool = False, positive: bool = False) -> float:
    """A numeric setting as a float, or a clear error naming it: ``value`` must be a number (a
    whole one where ``integer``) of at least ``low`` (above it where ``positive``)."""
    kind = "an integer" if integer else "a number"
    bound = f"> {low:g}" if positive else f">= {low:g}"
    try:
        v = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        v = math.nan
    if not (v > low if positive else v >= low) or (integer and not (math.isfinite(v) and v == int(v))):
        raise ValueError(f"guided: '{key}' must be {kind} {bound}, got {value!r}")
    return v


class _BatchConditioning:
    """The members of one batch as Kriging believers: each chosen member is taken as observed at
    its predicted mean, which leaves the other candidates' means as they are but shrinks their
    spread by what that observation would tell about them (their posterior covariance with it,
    from each GP: ``L^-1 k(train, candidates)`` once per round, then O(n m) per member, no refit).
    Candidates near a chosen member then expect less, and a batch spreads out. Proposals still
    being evaluated by other workers (``pending``) count as members chosen before. Models without
    covariances (other predictors than the GP) keep their spreads."""

    def __init__(self, opt: Any, X: Any, cand: np.ndarray, n_sets: int, pending: np.ndarray | None = None) -> None:
        Xc = np.asarray(X[cand], dtype=float)
        self.m = len(Xc)  # candidates; the rows after them are pending proposals (``pending``, as ``opt._x`` encodes)
        if pending is not None and len(pending):
            Xc = np.vstack([Xc, pending])
        Xc = opt._encode(Xc)
        Xp = opt._plain(Xc)
        self.columns: list[list[Any]] = []  # per set and objective: covariance columns (or None), noise variance
        for _, models in opt._model_sets()[:n_sets]:
            cols = []
            for model, featured in models:
                fn = getattr(model, "covariance_columns", None)
                cols.append((fn(Xc if featured else Xp), model.noise_std() ** 2) if fn is not None else None)
            self.columns.append(cols)
        self.n_pending = len(Xc) - self.m
        self.u: dict[tuple[int, int], list[np.ndarray]] = {}  # (set, objective) -> conditional factors

    def pending(self, spreads: list[np.ndarray]) -> list[np.ndarray]:
        """``spreads`` conditioned on every pending proposal given at construction."""
        for b in range(self.m, self.m + self.n_pending):
            spreads = self.condition(b, spreads)
        return spreads

    def condition(self, best: int, spreads: list[np.ndarray]) -> list[np.ndarray]:
        """``spreads`` (per set: candidates x objectives) after also conditioning on row ``best``
        (a candidate, or a pending proposal after the ``m`` candidates)."""
        out = []
        for si, (cols, s_c) in enumerate(zip(self.columns, spreads)):
            s_new = s_c.copy()
            for j, col in enumerate(cols):
                if col is None:
                    continue
                fn, noise = col
                r = fn(best)
                us = self.u.setdefault((si, j), [])
                for u in us:  # condition on the members chosen before
                    r = r - u * u[best]
                var = float(r[best]) + noise
                if var <= 1e-18:
                    continue
                u = r / np.sqrt(var)
                us.append(u)
                s_new[:, j] = np.sqrt(np.maximum(s_c[:, j] ** 2 - u[:self.m] * u[:self.m], 1e-18))
            out.append(s_new)
        return out


def _ordered_sequences_only(space: Any) -> bool:
    """Whether every variable of ``space`` is an ordered choice sequence (per-layer bit-widths,
    per-step model sizes): the spaces where centred draws pay off (``centred_rows="auto"``,
    ``initial_design="auto"``)."""
    return all(isinstance(v, ChoiceSequence) and v.ordered for v in space.variables)


def _make_predictor(name: str | Predictor, settings: dict[str, Any], seed: int) -> Predictor:
    """A model of one objective: a copy of a template, or the registered predictor built from its
    settings. A model with ``warm_start`` (the GP) refits warm: guided refits it after every result
    on the same rows plus the new ones, and it keeps its hyperparameters until the data grew
    (``warm_start: false`` in ``predictor_settings`` searches them at every refit)."""
    if isinstance(name, Predictor):  # a template: each objective's model is a copy of it
        model = copy.deepcopy(name)
        if isinstance(getattr(model, "warm_start", None), bool):
            model.warm_start = True  # type: ignore[attr-defined]
        return model
    from ..plugins import PREDICTORS

    cls = PREDICTORS.get(name)
    if "warm_start" not in settings and "warm_start" in (keyword_names(cls) or set()):
        settings = {**settings, "warm_start": True}
    try:
        return cls(seed=seed, **settings)
    except TypeError as exc:
        known = keyword_names(cls)
        unknown = sorted(set(settings) - known) if known is not None else []
        if unknown:
            raise TypeError(f"predictor '{name}': unknown predictor_settings {unknown}; "
                            f"allowed: {sorted((known or set()) - {'seed'})}") from None
        raise TypeError(f"predictor '{name}': bad predictor_settings {sorted(settings)}: {exc}") from None


class PredictorGuided(Optimizer):
    """Predictor-guided search. Settings: ``predictor`` (registered name, default ``"gp"``, or a
    :class:`Predictor` instance used as a template: each objective's model is a copy of it) and
    ``predictor_settings`` (for the GP on a space with a float parameter: a real, a vector, or a
    subset, whose items' scores are floats, ``ard`` defaults to
    ``"auto"``: per-input relevances (each variable, sequence position or vector entry) where they
    raise the evidence by more than the BIC penalty); ``n_initial`` random full-fidelity evaluations; ``enumerate_limit``
    (score every unseen configuration of a space at most this large); ``pool_size`` candidates
    per round otherwise; ``n_samples`` Monte-Carlo draws; ``log_transform`` (``"auto"``, True:
    the log of each objective whose minimised values are all positive, False) and
    ``warp_shifts`` (extra shifted-log warpings ``log(y - min + s * range)`` that ``"auto"`` may
    pick, default ``s`` = 0.3, 0.1, 0.03; ``()`` leaves identity and log); ``ehvi`` (``"mc"``,
    ``"exact"``: the closed form for one to three objectives, Monte Carlo beyond, or ``"auto"``:
    exact for three, Monte Carlo otherwise); ``failure_aversion``, ``duplicate_aversion`` and
    ``constraint_aversion`` (exponents of the discounts: by the estimated probabilities that a
    candidate fails or repeats an earlier result, and by its probability to meet each constraint
    that some result broke, a study's metric bound or a space constraint that repair does not meet,
    from a GP of that constraint's value, as in constrained expected improvement);
    ``initial_design`` (``"random"``, ``"maximin"``, ``"centred"``:
    every second random configuration of the initial design drawn around one random centre as a
    centred pool row is, or ``"auto"``, the default: centred where ``centred_rows="auto"`` centres,
    random elsewhere);
    ``initial``: configurations evaluated first, before the initial design fills up to
    ``n_initial`` (all of them are sent even when they are more): a list, or ``"space"`` for the
    space's ``initial_configs`` (known good points such as existing solvers or baselines; unlike
    NSGA-II, guided takes them only on request);
    ``low_fidelity`` and ``n_low`` for the multi-fidelity start; ``features`` (a name of
    :data:`~paretoforge.search.plugins.FEATURES` or a callable of a list of configurations
    returning an ``(n, k)`` array): signals known without evaluation, e.g. zero-cost proxies;
    the objectives named in ``feature_objectives`` (default: all) get a second predictor whose
    inputs also hold them, and a candidate scores the larger of its two EHVIs; ``equivalents``
    (default 6; 1 turns it off) and ``equivalent_rows`` (default 300): on an enumerated space
    whose key joins several configurations into one point (isomorphic architectures), each
    result also trains the models as up to ``equivalents - 1`` other configurations of its key,
    while the training rows stay under ``equivalent_rows``; ``refine`` (default 1; 0 turns it off),
    ``refine_top`` and ``refine_children``: on a space too large to enumerate, generations of
    local search on the predictor around the pool's best candidates (:meth:`_refined`);
    ``observation_noise`` (``"auto"``: for the objectives marked ``noisy``; true: all; false:
    none): the acquisition scores the result a candidate will get, its predictive spread
    including the noise the model fitted
    (:meth:`~paretoforge.predictors.base.Predictor.noise_std`), as a front is made of results;
    ``centred_rows`` (a fraction, or ``"auto"``, the default: 0.5 on a space made only of ordered
    choice sequences, such as per-layer bit-widths or per-step model sizes, 0 otherwise): on a
    unit-cube pool, the fraction of its random rows drawn with every coordinate near one random
    centre per row (normal, sd 0.15), so that sums over many coordinates (e.g. average bits over
    layers) reach their extremes, which independent uniform coordinates almost never do;
    ``trust_region`` (default 0: off; a side such as 0.8 turns it on): on a unit-cube pool, every
    candidate is drawn in a box of that side around one of the best results (a constraint's repair
    may move a drawn row out of its box; TuRBO's trust region,
    :class:`~.trust_region.TrustRegion`: the side doubles after 3 proposals in a row that improve
    the front, halves after ``max(4, ceil(d / 4))`` in a row that do not, and starts again from the
    initial side when under 0.5**7; a round whose boxes hold no unseen configuration, as when they
    are narrower than a step of the discrete variables, doubles them for that round), so that a
    model of few results in many dimensions refines where it is right instead of chasing its
    uncertainty far away; ``acquisition`` (``"ehvi"``, the default, or ``"parego"``: each proposal
    draws a weight vector and scores the expected improvement of ParEGO's augmented Chebyshev
    scalarisation, :mod:`.scalarization`; for searches without a reference point whose box of
    hypervolume would be built from far-off results; a pool larger than ``prefilter``, as an
    enumerated space's, is screened first by the optimistic point's scalarised gain under the
    round's weights instead of its hypervolume improvement); ``batch_conditioning`` (default True:
    the members of a batch, and the proposals still being evaluated by other workers, shrink the
    GPs' spreads of the candidates near them, so that several workers are sent apart; False: they
    only enter the front at their predicted means)."""

    name = "guided"
    #: ``centred_rows`` where it is ``"auto"`` and the space holds only ordered choice sequences
    AUTO_CENTRED_ROWS = 0.5

    def __init__(self, *args, predictor: str | Predictor = "gp", predictor_settings: dict[str, Any] | None = None,
                 n_initial: int = 10, enumerate_limit: int = 100_000, pool_size: int = 100_000,
                 score_budget: float = 2e8, evolve_size: int = 1500, failure_length_scale: float = 0.1,
                 failure_aversion: float = 2.0, ref_margin: float | None = None,
                 reference_point: Sequence[float] | None = None,
                 n_samples: int = 32, prefilter: int = 1500, log_transform: bool | str = "auto",
                 low_fidelity: float | None = None, n_low: int = 0, max_retries: int = 50,
                 warp_shifts: Sequence[float] = (0.3, 0.1, 0.03), ehvi: str = "auto", duplicate_aversion: float = 4.0,
                 initial_design: str = "auto", initial: str | Sequence[Config] | None = None,
                 features: str | Callable[[Sequence[Config]], np.ndarray] | None = None,
                 feature_objectives: Sequence[str] | None = None, equivalents: int = 6,
                 equivalent_rows: int = 300, refine: int = 1, refine_top: int = 8, refine_children: int = 8,
                 observation_noise: bool | str = "auto", centred_rows: float | str = "auto", trust_region: float = 0.0,
                 acquisition: str = "ehvi", batch_conditioning: bool = True, constraint_aversion: float = 1.0,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if log_transform not in (True, False, "auto"):
            raise ValueError(f"guided: 'log_transform' must be true, false or 'auto', got {log_transform!r}")
        if (low_fidelity is None) != (n_low == 0):
            raise ValueError("guided: give both 'low_fidelity' and 'n_low' > 0 for a multi-fidelity start, or neither")
        if low_fidelity is not None:
            _number("low_fidelity", low_fidelity, 0.0, positive=True)
            _number("n_low", n_low, 1, integer=True)
        if isinstance(predictor, str):
            from ..plugins import PREDICTORS

            PREDICTORS.get(predictor)  # an unknown name fails here, listing the allowed ones
        elif not isinstance(predictor, Predictor):
            raise TypeError(f"guided: 'predictor' must be a registered name or a Predictor, got {predictor!r}")
        self.predictor_name = predictor
        if predictor_settings is not None and not isinstance(predictor_settings, Mapping):
            raise ValueError(f"guided: 'predictor_settings' must be a mapping of the predictor's settings, e.g. "
                             f"{{ard: true}}, got {predictor_settings!r}")
        self.predictor_settings = dict(predictor_settings or {})
        if predictor == "gp" and any(p.kind == "float" for p in self.space.flat_params()):
            # continuous variables: per-variable relevances where the evidence supports them
            self.predictor_settings.setdefault("ard", "auto")
        if isinstance(predictor, str):  # a bad setting fails here, before any evaluation
            _make_predictor(predictor, self.predictor_settings, 0)
        self.n_initial = int(_number("n_initial", n_initial, 1, integer=True))
        self.equivalents = int(_number("equivalents", equivalents, 1, integer=True))
        self.equivalent_rows = int(_number("equivalent_rows", equivalent_rows, 1, integer=True))
        self.enumerate_limit = int(_number("enumerate_limit", enumerate_limit, 0, integer=True))
        self.pool_size = int(_number("pool_size", pool_size, 1, integer=True))
        self.score_budget = _number("score_budget", score_budget, 0.0, positive=True)
        self.evolve_size = int(_number("evolve_size", evolve_size, 1, integer=True))
        self.failure_length_scale = _number("failure_length_scale", failure_length_scale, 0.0, positive=True)
        self.failure_aversion = _number("failure_aversion", failure_aversion, 0.0)
        self.ref_margin = None if ref_margin is None else _number("ref_margin", ref_margin, 0.0)
        self.reference_point = None if reference_point is None else np.asarray(reference_point, dtype=float)
        if self.reference_point is not None and (self.reference_point.shape != (self.n_objectives,)
                                                 or not np.all(np.isfinite(self.reference_point))):
            raise ValueError(f"guided: 'reference_point' must be {self.n_objectives} finite numbers in minimised units "
                             f"(a maximised objective's value negated), got {reference_point!r}; or give the study's "
                             "reference_point, in the objectives' own units")
        self._own_reference = reference_point is not None
        self._ref_warned = False
        self.n_samples = int(_number("n_samples", n_samples, 1, integer=True))
        self.prefilter = int(_number("prefilter", prefilter, 1, integer=True))
        self.refine = int(_number("refine", refine, 0, integer=True))
        self.refine_top = int(_number("refine_top", refine_top, 1, integer=True))
        self.refine_children = int(_number("refine_children", refine_children, 1, integer=True))
        if not (isinstance(observation_noise, bool) or observation_noise == "auto"):
            raise ValueError(f"guided: 'observation_noise' must be true, false or 'auto', got {observation_noise!r}")
        self.observation_noise = observation_noise
        if centred_rows == "auto":
            centred_rows = self.AUTO_CENTRED_ROWS if _ordered_sequences_only(self.space) else 0.0
        elif not isinstance(centred_rows, (int, float)) or isinstance(centred_rows, bool) \
                or not 0.0 <= centred_rows <= 1.0:
            raise ValueError(f"guided: 'centred_rows' must be a fraction in [0, 1] or 'auto', got {centred_rows!r}")
        self.centred_rows = float(centred_rows)
        if isinstance(trust_region, bool) or not isinstance(trust_region, (int, float)) \
                or not 0.0 <= float(trust_region) <= TrustRegion.MAX_SIDE:
            raise ValueError(f"guided: 'trust_region' must be a box side in (0, {TrustRegion.MAX_SIDE:g}] (0: off), "
                             f"got {trust_region!r}")
        self.trust_region = float(trust_region)
        self._trust = TrustRegion(self.trust_region, self.space.unit_dim) if self.trust_region else None
        #: the last unit-cube pool's trust boxes (centres, side), which its local search's children keep to
        self._pool_boxes: tuple[np.ndarray, float] | None = None
        self.log_transform = log_transform
        self._log_refused: set[int] = set()  # objectives told that log_transform: true cannot apply
        if isinstance(warp_shifts, (str, bytes)) or not isinstance(warp_shifts, Sequence) \
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) or not v > 0 for v in warp_shifts):
            raise ValueError(f"guided: 'warp_shifts' must be a list of positive fractions of the range, e.g. "
                             f"[0.3, 0.1, 0.03], got {warp_shifts!r}")
        self.warp_shifts = tuple(float(v) for v in warp_shifts)
        if ehvi not in ("mc", "exact", "auto"):
            raise ValueError(f"guided: 'ehvi' must be 'mc', 'exact' or 'auto', got {ehvi!r}")
        self.ehvi = ehvi
        if acquisition not in ("ehvi", "parego"):
            raise ValueError(f"guided: 'acquisition' must be 'ehvi' or 'parego', got {acquisition!r}")
        self.acquisition = acquisition
        if not isinstance(batch_conditioning, bool):
            raise ValueError(f"guided: 'batch_conditioning' must be true or false, got {batch_conditioning!r}")
        self.batch_conditioning = batch_conditioning
        self.duplicate_aversion = _number("duplicate_aversion", duplicate_aversion, 0.0)
        self.constraint_aversion = _number("constraint_aversion", constraint_aversion, 0.0)
        if initial_design not in ("random", "maximin", "centred", "auto"):
            raise ValueError(f"guided: 'initial_design' must be 'random', 'maximin', 'centred' or 'auto', "
                             f"got {initial_design!r}")
        if initial_design == "auto":
            initial_design = "centred" if _ordered_sequences_only(self.space) else "random"
        self.initial_design = initial_design
        given: dict[str, Config] = {}
        for c in resolve_initial(self.space, initial, "guided"):
            given.setdefault(self.space.key(c), c)
        self._given = list(given.values())  # proposed first, in order, each key once
        self._n_start = max(self.n_initial, len(self._given))  # evaluations before the first fit
        if isinstance(features, str):
            from ..plugins import FEATURES

            features = FEATURES.get(features)  # an unknown name fails here, listing the allowed ones
        if features is not None and not callable(features):
            raise TypeError(f"guided: 'features' must be a registered name or a callable of a list of "
                            f"configurations, got {features!r}")
        self.features = features
        names = [getattr(o, "name", str(o)) for o in self.objectives]
        if feature_objectives is not None and (isinstance(feature_objectives, (str, bytes))
                                               or not isinstance(feature_objectives, Sequence)):
            raise ValueError(f"guided: 'feature_objectives' must be a list of objective names, e.g. [{names[0]}], "
                             f"got {feature_objectives!r}")
        unknown = [n for n in (feature_objectives or []) if n not in names]
        if unknown:
            raise ValueError(f"guided: 'feature_objectives' names unknown objectives {unknown}; allowed: {names}")
        self._featured = set() if features is None else {j for j, n in enumerate(names)
                                                          if feature_objectives is None or n in feature_objectives}
        self._n_features = 0
        self._features_warned = False
        self._design: list[Config] | None = None
        self.low_fidelity = None if low_fidelity is None else float(low_fidelity)
        self.n_low = int(n_low)
        self.max_retries = int(_number("max_retries", max_retries, 1, integer=True))
        # what was proposed / heard
        self._seen_high: set[str] = set()   # full-fidelity keys proposed or told (never proposed again)
        self._seen_low: set[str] = set()
        self._pending: dict[str, Config] = {}  # full-fidelity proposals without a result yet
        self._high: dict[str, Observation] = {}  # successful full-fidelity results by key
        self._low: dict[str, Observation] = {}
        self._n_high_told = 0
        self._low_told: set[str] = set()  # keys of the low-fidelity results told (each counts once)
        self._n_failed = 0
        self._failed_cfg: dict[str, Config] = {}
        self._n_low_proposed = 0
        self._promoted: list[Config] | None = None
        # models
        self._models: list[Predictor] = []
        self._fmodels: dict[int, Predictor] = {}  # objective -> model that also sees the features
        self._logs: list[str | float] = []  # per objective: "id", "log" or the shift fraction of log(y - c)
        self._shifts: list[float | None] = []  # per objective: c of log(y - c), None for the identity
        self._low_models: list[Predictor] = []
        self._fitted_on = -1
        self.round = 0
        self._predicted: dict[str, np.ndarray] = {}  # key -> predicted means at proposal time
        self._tau_pairs: list[tuple[np.ndarray, np.ndarray]] = []
        # candidate pool of an enumerable space
        self._all: list[Config] | None = None
        self._all_keys: list[str] = []
        self._all_X: np.ndarray | None = None
        card = self.space.cardinality
        if card is not None and card <= self.enumerate_limit:
            self._all = list(self.space.enumerate())
            self._all_keys = [self.space.key(c) for c in self._all]
            # configurations that share a key (e.g. isomorphic architectures) are one point: all
            # stay candidates (the predictor may rank one of them best), all are seen together
            members: dict[str, list[int]] = {}
            for i, k in enumerate(self._all_keys):
                members.setdefault(k, []).append(i)
            self._all_index = {k: np.asarray(v, dtype=np.int64) for k, v in members.items()}
            self._all_X = self._x(self._all)
            self._unseen = np.ones(len(self._all), dtype=bool)
        self._log_choice: dict[int, tuple[int, str | float]] = {}  # objective -> (n at decision, warp)
        self._fail_model: Predictor | None = None
        self._dup_model: Predictor | None = None
        self._constraint_models: list[Predictor] = []
        self._outcomes: set[tuple[float, ...]] = set()  # every successful full-fidelity result
        self._duplicates: set[str] = set()  # keys whose result repeated an earlier one exactly
        self._enc_cache: dict[str, np.ndarray] = {}
        self._siblings: dict[tuple[str, int], np.ndarray] = {}  # (key, rows per result) -> rows of _all
        self._all_plain: np.ndarray | None = None
        # a space too large to enumerate whose encoding is a closed form of the unit cube: the
        # pool is built as one matrix (under constraints: its feasible rows, and a few repaired)
        self._unit_pool_ok = (self._all is None and self.features is None and self.space.encode_unit(
            np.full((1, self.space.unit_dim), 0.5), repaired=False) is not None)
        if self.trust_region and not self._unit_pool_ok:
            why = (f"it is enumerated ({len(self._all)} configurations <= 'enumerate_limit')" if self._all is not None
                   else "'features' are set" if self.features is not None else "its variables have no unit-cube form")
            raise ValueError(f"guided: 'trust_region' applies to a candidate pool built in the unit cube, and space "
                             f"{self.space.name!r} has none: {why}; remove 'trust_region'")

    def use_fidelity(self, fidelity: float) -> None:
        """The study's full fidelity: the multi-fidelity start's ``low_fidelity`` must lie below it,
        or its screens could not be told from real evaluations."""
        if self.low_fidelity is not None and not self.low_fidelity < fidelity:
            raise ValueError(f"guided: 'low_fidelity' {self.low_fidelity:g} must be below the study's fidelity "
                             f"{fidelity:g}: lower it, or raise the study's 'fidelity'")

    def use_reference_point(self, reference_point: np.ndarray) -> None:
        """The study's reference point becomes the acquisition's, unless the ``reference_point``
        setting gave one."""
        ref = np.asarray(reference_point, dtype=float)
        if not self._own_reference and ref.shape == (self.n_objectives,):
            self.reference_point = ref

    # -- proposals ----------------------------------------------------------------------------
    def _random_unseen(self, seen: set[str]) -> Config:
        for _ in range(self.max_retries):
            cfg = self.space.sample(self.rng)
            if self.space.key(cfg) not in seen:
                return cfg
        if seen is self._seen_high and self._all is not None and self._unseen.any():  # the few left, drawn directly
            return self._all[int(self.rng.choice(np.flatnonzero(self._unseen)))]
        return cfg

    def _exhausted(self) -> bool:
        """Whether every configuration of an enumerated space has been proposed at full fidelity
        (guided then proposes nothing more, and the study stops)."""
        return self._all is not None and not self._unseen.any()

    def ask(self, n: int) -> list[Config | Suggestion]:
        out: list[Config | Suggestion] = []
        while len(out) < n and self.low_fidelity is not None and self._n_low_proposed < self.n_low:
            cfg = self._random_unseen(self._seen_low)
            self._seen_low.add(self.space.key(cfg))
            self._n_low_proposed += 1
            out.append(Suggestion(cfg, self.low_fidelity))
        if len(out) >= n:
            return out
        if self.low_fidelity is not None and len(self._low_told) < self.n_low:
            return out  # wait for the low-fidelity screen before promoting
        if self._exhausted():
            return out
        n_high = len(self._seen_high)
        k = min(n - len(out), max(0, self._n_start - n_high))
        if k:
            out.extend(self._initial(k))
        if len(out) < n and len(self._high) >= 2:
            out.extend(self._guided(n - len(out)))
        elif len(out) < n and n_high >= self._n_start:  # too few successes to fit: keep sampling
            out.extend(self._initial(n - len(out), promote=False))
        return out

    def _mark_seen(self, key: str) -> None:
        self._seen_high.add(key)
        if self._all is not None and key in self._all_index:
            self._unseen[self._all_index[key]] = False

    def _take(self, cfg: Config) -> Config:
        key = self.space.key(cfg)
        self._mark_seen(key)
        self._pending[key] = cfg
        return cfg

    def _initial(self, k: int, promote: bool = True) -> list[Config]:
        out = []
        if promote and self.low_fidelity is not None and self._promoted is None:
            self._promoted = self._finalists()
        if promote and self.low_fidelity is None and self.initial_design == "maximin" and self._design is None:
            self._design = self._maximin_design()
        for _ in range(k):
            if self._exhausted():
                break
            cfg = None
            while promote and self._given:
                c = self._given.pop(0)
                if self.space.key(c) not in self._seen_high:
                    cfg = c
                    break
            while cfg is None and promote and self._promoted:
                c = self._promoted.pop(0)
                if self.space.key(c) not in self._seen_high:
                    cfg = c
                    break
            while cfg is None and promote and self._design:
                c = self._design.pop(0)
                if self.space.key(c) not in self._seen_high:
                    cfg = c
            if cfg is None:
                centred = self.initial_design == "centred" and len(self._seen_high) % 2 == 1
                cfg = self._centred_unseen(self._seen_high) if centred else self._random_unseen(self._seen_high)
            out.append(self._take(cfg))
        return out

    def _centred_unseen(self, seen: set[str]) -> Config:
        """A configuration not in ``seen`` from a unit-cube point whose coordinates all lie near
        one random centre (normal, sd 0.15, clipped), as the pool's centred rows: on ordered
        choice sequences, an allocation of mostly low, middle or high choices."""
        for _ in range(self.max_retries):
            cfg = self.space.from_unit(centred_unit_rows(self.rng, 1, self.space.unit_dim)[0], self.rng)
            if self.space.key(cfg) not in seen:
                break
        return cfg

    def _maximin_design(self, n_designs: int = 32) -> list[Config]:
        """``n_initial`` distinct random configurations, the best of ``n_designs`` random sets by
        the smallest (then the mean) pairwise distance of their encodings: a space-filling start."""
        best: list[Config] = []
        best_score = (-np.inf, -np.inf)
        for _ in range(n_designs):
            seen: set[str] = set(self._seen_high)
            cfgs = []
            for _ in range(self.n_initial):
                c = self._random_unseen(seen)
                seen.add(self.space.key(c))
                cfgs.append(c)
            X = self._x(cfgs)
            sq = np.add.outer((X * X).sum(1), (X * X).sum(1)) - 2.0 * X @ X.T
            off = sq[np.triu_indices(len(cfgs), 1)] if len(cfgs) > 1 else np.zeros(1)
            score = (float(off.min()), float(off.mean()))
            if score > best_score:
                best, best_score = cfgs, score
        return best

    def _finalists(self) -> list[Config]:
        """Low-fidelity results in order of promotion: non-dominated rank, then crowding."""
        from .nsga2 import rank_and_crowding

        obs = [o for o in self._low.values()]
        if not obs:
            return []
        F = np.stack([o.values for o in obs])
        rank, crowd = rank_and_crowding(F, np.array([o.violation for o in obs]))
        order = np.lexsort((-crowd, rank))
        return [obs[i].config for i in order]

    # -- model --------------------------------------------------------------------------------
    def _x(self, configs: Sequence[Config]) -> np.ndarray:
        """The space's encoding of ``configs``, with the ``features`` columns appended."""
        X = self.space.encode_many(list(configs))
        if self.features is None or not len(configs):
            return X
        F = np.asarray(self.features(list(configs)), dtype=float)
        if F.ndim not in (1, 2) or len(F) != len(configs) or not np.all(np.isfinite(F)):
            raise ValueError(f"guided: 'features' must give one row of finite numbers per configuration, an array of "
                             f"shape ({len(configs)}, k); it gave shape {F.shape}"
                             + ("" if np.all(np.isfinite(F)) else " with NaN or infinite values"))
        F = F.reshape(len(configs), -1)
        self._n_features = F.shape[1]
        big = float(np.abs(F).max())
        if big > 10.0 and not self._features_warned:  # the encoding's columns lie in [0, 1]
            self._features_warned = True
            log.warning("guided: 'features' gives values up to %.3g; the models read them beside the space's encoding "
                        "(columns in [0, 1]), so a feature on a large scale outweighs every variable: give "
                        "standardised values (mean 0, sd 1 over the space, as the registered features are)", big)
        return np.hstack([X, F])

    def _plain(self, X: np.ndarray) -> np.ndarray:
        """``X`` without the feature columns (the enumerated pool keeps one fixed copy, so that
        the models' pool caches stay valid)."""
        if not self._n_features:
            return X
        w = self.space.width
        if X is self._all_X:
            if self._all_plain is None:
                self._all_plain = np.delete(X, np.s_[w:w + self._n_features], axis=1)
            return self._all_plain
        return np.delete(X, np.s_[w:w + self._n_features], axis=1)

    def _encode(self, X: np.ndarray) -> np.ndarray:
        """Append the low-fidelity models' predicted objectives as input columns."""
        if not self._low_models:
            return X
        cols = [m.predict(X)[0] for m in self._low_models]
        Z = np.column_stack(cols)
        return np.hstack([X, (Z - self._low_mu) / self._low_sd])

    def _encoded(self, obs: Sequence[Observation]) -> np.ndarray:
        """Encodings of observed configurations (kept by key: each is encoded once)."""
        rows = []
        for o in obs:
            row = self._enc_cache.get(o.key)
            if row is None:
                row = self._enc_cache[o.key] = self._x([o.config])[0]
            rows.append(row)
        return np.stack(rows) if rows else np.zeros((0, self.space.width))

    def _fit(self) -> None:
        if self._fitted_on == self._n_high_told + len(self._low_told):
            return
        self._fitted_on = self._n_high_told + len(self._low_told)
        self.round += 1
        obs = list(self._high.values())
        X0 = self._encoded(obs)
        Y = np.stack([o.values for o in obs])
        # low-fidelity side models (GP), if there are enough low-fidelity results
        self._low_models = []
        dele = hasattr(_make_predictor(self.predictor_name, self.predictor_settings, self.seed), "pretrain")
        low = list(self._low.values())
        if len(low) >= 3 and not dele:
            from ...predictors.gp import GaussianProcess

            XL = self._x([o.config for o in low])
            YL = np.stack([o.values for o in low])
            self._low_models = [GaussianProcess(seed=self.seed).fit(XL, YL[:, j]) for j in range(self.n_objectives)]
            self._low_mu, self._low_sd = YL.mean(0), np.where(YL.std(0) > 0, YL.std(0), 1.0)
        X = self._encode(X0)
        Xm, Y = self._with_equivalents(obs, X0, Y)
        Xm = X if Xm is X0 else self._encode(Xm)
        Xmp = self._plain(Xm)
        old_models, old_logs, old_featured = self._models, self._logs, self._fmodels
        self._models, self._logs, self._shifts, self._fmodels = [], [], [], {}
        for j in range(self.n_objectives):
            y = Y[:, j]
            warp: str | float = "log" if self.log_transform is True and bool(np.all(y > 0)) else "id"
            if self.log_transform is True and warp == "id" and j not in self._log_refused:
                self._log_refused.add(j)
                log.warning("guided: log_transform is true, but objective %r has a result at or below zero "
                            "(minimised units: a maximised objective is negated), so it is modelled without the "
                            "log; use log_transform: auto to pick a shifted log by evidence",
                            getattr(self.objectives[j], "name", self.objectives[j]))
            if self.log_transform == "auto" and len(y) >= 3:
                n_at, warp = self._log_choice.get(j, (0, "id"))
                # chosen again once the data grew by 15%, or when a log no longer applies (a new
                # result at or below zero)
                if len(y) >= 1.15 * n_at or (warp == "log" and not bool(np.all(y > 0))):
                    warp = self._choose_warp(Xmp, y)
                    self._log_choice[j] = (len(y), warp)
            z, shift = warp_targets(warp, y)
            if j < len(old_models) and old_logs[j] == warp:
                model = old_models[j]  # keeps its hyperparameters until the data grew enough
            else:
                model = _make_predictor(self.predictor_name, self.predictor_settings, self.seed)
                model.bind(self.space)
            if dele and low:
                XL = self._x([o.config for o in low])
                YL = np.stack([o.values for o in low])
                model.pretrain([(XL, YL[:, i]) for i in range(self.n_objectives)])  # type: ignore[attr-defined]
            model.fit(Xmp, z)
            self._models.append(model)
            if j in self._featured:  # a second model that also sees the features
                fmodel = old_featured.get(j) if j < len(old_logs) and old_logs[j] == warp else None
                if fmodel is None:
                    fmodel = _make_predictor(self.predictor_name, self.predictor_settings, self.seed)
                    fmodel.bind(self.space)
                self._fmodels[j] = fmodel.fit(Xm, z)
            self._logs.append(warp)
            self._shifts.append(shift)
        self._dup_model = None
        if self._duplicates and self.duplicate_aversion > 0:
            yd = np.array([1.0 if o.key in self._duplicates else 0.0 for o in obs])
            self._dup_model = self._indicator_gp(X, yd)
        # constraints that some result broke (a study's metric bound, a space constraint that repair does
        # not meet): a GP of each one's value, for the probability that a candidate meets it
        self._constraint_models = []
        if self.constraint_aversion > 0:
            from ...predictors.gp import GaussianProcess

            broken = sorted({k for o in obs for k, v in o.constraints.items() if v > 0})
            for name in broken:
                yc = np.array([o.constraints.get(name, 0.0) for o in obs], dtype=float)
                self._constraint_models.append(GaussianProcess(seed=self.seed).fit(X, yc))
        self._fail_model = None
        if self._n_failed:
            failed = [k for k in self._failed_cfg if k not in self._high]
            cfgs = [o.config for o in obs] + [self._failed_cfg[k] for k in failed]
            yf = np.r_[np.zeros(len(obs)), np.ones(len(failed))]
            self._fail_model = self._indicator_gp(self._encode(self._x(cfgs)), yf)

    def _with_equivalents(self, obs: Sequence[Observation], X0: np.ndarray,
                          Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Training rows and targets of the objective models: each result once, or (with
        ``equivalents`` > 1 on an enumerated space) also as up to ``equivalents - 1`` other
        configurations of its key (e.g. isomorphic architectures, which are one point and have
        one result), so that the models learn the invariance. Fewer per result as the results
        grow, to keep the rows under ``equivalent_rows``; one each from ``equivalent_rows / 2``
        results on (the plain rows, at the plain cost)."""
        per = min(self.equivalents, self.equivalent_rows // max(len(obs), 1))
        if per < 2 or self._all is None:
            return X0, Y
        rows, idx = [], []  # each result's row, then its equivalents: rows only grow by appending
        for i, o in enumerate(obs):
            rows.append(X0[i:i + 1])
            idx.append(i)
            others = self._siblings.get((o.key, per))
            if others is None:
                members = self._all_index.get(o.key)
                others = np.zeros(0, dtype=np.int64)
                if members is not None and len(members) > 1:
                    others = members[~np.all(self._all_X[members] == X0[i], axis=1)]
                    if len(others) >= per:  # evenly spread over the key's configurations, deterministic
                        others = others[np.linspace(0, len(others) - 1, per - 1).astype(np.int64)]
                self._siblings[(o.key, per)] = others
            if not len(others):
                continue
            rows.append(self._all_X[others])
            idx.extend([i] * len(others))
        if len(idx) == len(obs):  # no result has another configuration of its key
            return X0, Y
        order = np.asarray(idx, dtype=np.int64)
        return np.vstack(rows), Y[order]

    def _indicator_gp(self, X: np.ndarray, y: np.ndarray) -> Predictor:
        """A GP on a 0/1 indicator (failed; repeated an earlier result): its mean estimates the
        probability that a candidate near the data shares the property."""
        from ...predictors.gp import GaussianProcess

        return GaussianProcess(seed=self.seed, weights=(0.0, 0.5, 0.95),
                               length_scales=(self.failure_length_scale, 0.4), noises=(1e-2,)).fit(X, y)

    def _choose_warp(self, X: np.ndarray, y: np.ndarray) -> str | float:
        """The output warping with the highest GP evidence (:func:`~.warping.choose_warp`): the
        identity, ``log y`` (positive objectives) or ``log(y - min + s * range)`` for each ``s`` in
        ``warp_shifts``; with another predictor than the GP, a log where ``y`` spans over 5x."""
        gp = isinstance(self.predictor_name, str) and self.predictor_name == "gp"
        return choose_warp(X, y, self.warp_shifts, self.space, self.seed, self.predictor_settings, gp=gp)

    def _model_sets(self) -> list[tuple[float, list[tuple[Predictor, bool]]]]:
        """``(weight, [(model, sees the features) per objective])``: the plain models and, with
        ``features``, the featured ones (the objectives of ``feature_objectives`` predicted from
        the features too). A candidate's acquisition is the larger of its EHVIs under the two
        sets, and its predicted objectives the sets' weighted mean."""
        plain = [(m, False) for m in self._models]
        if not self._fmodels:
            return [(1.0, plain)]
        featured = [(self._fmodels[j], True) if j in self._fmodels else (m, False) for j, m in enumerate(self._models)]
        return [(0.5, plain), (0.5, featured)]

    def _predict_sets(self, X0: np.ndarray) -> list[tuple[float, np.ndarray, np.ndarray]]:
        """``(weight, means, stds)`` of each model set of :meth:`_model_sets` at ``X0``."""
        X = self._encode(X0)
        Xp = self._plain(X)
        out = []
        for weight, models in self._model_sets():
            pred = [m.predict(X if full else Xp) for m, full in models]
            out.append((weight, np.column_stack([p[0] for p in pred]),
                        self._result_std(models, np.column_stack([p[1] for p in pred]))))
        return out

    def _result_std(self, models: Sequence[tuple[Predictor, bool]], std: np.ndarray) -> np.ndarray:
        """Per objective, the spread of the *result* a candidate will get: the model's uncertainty
        and its fitted noise, added in variance, for the objectives that ``observation_noise``
        covers (``"auto"``: those marked ``noisy``); the underlying value's for the others. A
        front is made of results: where labels carry noise (training seeds, timings), a
        candidate's chance to beat the front includes that noise."""
        if self.observation_noise is False:
            return std
        noise = np.array([m.noise_std() if self.observation_noise is True or getattr(o, "noisy", False) else 0.0
                          for (m, _), o in zip(models, self.objectives)])
        if not np.any(noise > 0):
            return std
        return np.sqrt(std * std + noise * noise)

    @staticmethod
    def _mixture_mean(sets: Sequence[tuple[float, np.ndarray, np.ndarray]]) -> np.ndarray:
        mean = sets[0][0] * sets[0][1]
        for weight, m, _ in sets[1:]:
            mean = mean + weight * m
        return mean

    def _inverse(self, Y: np.ndarray) -> np.ndarray:
        return unwarp(Y, self._shifts)

    # -- candidates ---------------------------------------------------------------------------
    def _pool(self) -> tuple[list[Config], np.ndarray]:
        if self._all is not None:
            idx = np.flatnonzero(self._unseen)
            size = self._pool_cap()
            if len(idx) > size:  # a random share of the space plus the front's neighbours
                near = set()
                for p in self._parents()[:10]:
                    for nb in self.space.neighbors(p):
                        ii = self._all_index.get(self.space.key(nb))
                        if ii is not None and self._unseen[ii[0]]:
                            near.add(int(ii[0]))
                sub = self.rng.choice(len(idx), size, replace=False)
                idx = np.union1d(idx[sub], np.fromiter(near, dtype=np.int64, count=len(near)))
            return [self._all[i] for i in idx], self._all_X[idx]  # type: ignore[index]
        if self._unit_pool_ok:
            return self._unit_pool()
        # evolutionary pool: neighbours, mutations and crossovers of the best, plus random samples
        parents = self._parents()
        cands: dict[str, Config] = {}

        def add(c: Config) -> None:
            k = self.space.key(c)
            # a constraint that repair does not meet (a FunctionConstraint without repair): such
            # candidates are left out, as the unit-cube pool leaves them out
            if k not in self._seen_high and k not in cands and (not self.space.constraints or self.space.is_feasible(c)):
                cands[k] = c

        for p in parents[:10]:
            for i, nb in enumerate(self.space.neighbors(p)):
                if i >= 50:
                    break
                add(self.space.repair(nb, self.rng))
        tries = 0
        size = min(self._pool_cap(), self.evolve_size)
        while len(cands) < size and tries < 4 * size:
            tries += 1
            r = self.rng.random()
            if r < 0.25 or not parents:
                add(self.space.sample(self.rng))
            elif r < 0.6:
                a = parents[int(self.rng.integers(len(parents)))]
                add(self.space.mutate(a, self.rng))
            else:
                a = parents[int(self.rng.integers(len(parents)))]
                b = parents[int(self.rng.integers(len(parents)))]
                add(self.space.crossover(a, b, self.rng)[0])
        configs = list(cands.values())
        return configs, self._x(configs)

    def _unit_pool(self) -> tuple[_UnitRows, np.ndarray]:
        """:meth:`_pool`'s evolutionary pool built in the unit cube, all at once
        (:func:`~.unit_pool.draw_unit_rows`: neighbours, random points, mutations and crossovers of
        the 20 best results, up to ``evolve_size`` or the pool cap), kept in the trust boxes when
        ``trust_region`` is on; rows that miss the space's constraints are repaired or dropped
        (:meth:`_feasible_rows`), and rows whose encoding repeats an earlier one or a seen
        configuration's are dropped. A subset's item scores (``ranked``) are first drawn apart
        (:meth:`Space.spread_unit`), then stepped by half the cube and redrawn when mutated: one
        such move swaps a member for a non-member, a step of the size adds or drops one."""
        space, rng = self.space, self.rng
        P = np.stack([space.to_unit(c) for c in self._parents()]) if self._high else np.zeros((0, space.unit_dim))
        if any(p.ranked for p in space.flat_params()):  # members' scores high and the others' low, in a random order
            P = space.spread_unit(P, rng)
        trust = self._trust
        centres = self._trust_centres(P) if trust is not None and len(P) else None
        side = trust.side if trust is not None else 0.0
        self._pool_boxes = None if centres is None else (centres, side)
        U0, boxed = draw_unit_rows(space, P, rng, min(self._pool_cap(), self.evolve_size), self.centred_rows,
                                   centres, side)
        U = U0 if centres is None else TrustRegion.clip(U0, centres, side)
        U, X = self._feasible_rows(U)
        keep = self._new_rows(X)
        while centres is not None and not len(keep) and side < TrustRegion.MAX_SIDE:
            # boxes narrower than a step of the discrete variables hold only seen configurations:
            # this pool's boxes (not the trust region's state) double until they hold new ones
            side = min(2.0 * side, TrustRegion.MAX_SIDE)
            U = U0.copy()
            U[boxed] = TrustRegion.random(centres, boxed.stop - boxed.start, side, rng)
            U, X = self._feasible_rows(TrustRegion.clip(U, centres, side))
            keep = self._new_rows(X)
            self._pool_boxes = (centres, side)
        return _UnitRows(space, U[keep]), X[keep]

    def _trust_centres(self, P: np.ndarray) -> np.ndarray:
        """Centres of the trust boxes: the unit-cube rows of the parents ``P`` (best first) that
        are on the first front of the results (one objective: the best one), at most 10."""
        from ..pareto import non_dominated

        obs = [o for o in self._high.values() if o.violation <= 0] or list(self._high.values())
        n_front = int(non_dominated(np.stack([o.values for o in obs])).sum()) if self.n_objectives > 1 else 1
        return P[: max(1, min(n_front, 10, len(P)))]

    def _trust_update(self, o: Observation) -> None:
        """Grow or shrink the trust box after a guided proposal's result ``o`` (failed or
        infeasible: a failure), before ``o`` joins the results: it improves when no earlier
        feasible result (all results while none is feasible) is as good or better
        (:func:`~.trust_region.improves`)."""
        if self._trust is None or self._n_high_told <= self._n_start:
            return
        better = False
        if o.ok and self._high and o.violation <= 0:
            F = np.stack([r.values for r in self._high.values() if r.violation <= 0] or
                         [r.values for r in self._high.values()])
            better = improves(F, o.values)
        self._trust.record(better)

    #: infeasible rows of a unit-cube pool that are repaired per call (the first ones: the best
    #: results' neighbours), or more while under a quarter of the rows are feasible; the others
    #: are dropped
    unit_repairs = 32

    def _feasible_rows(self, U: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(U, encodings)`` of the rows of a unit-cube matrix that meet the space's constraints
        (all of them without constraints, in order), followed by some of the others, repaired by
        the space (:meth:`Space.from_unit`) and mapped back to the cube: :attr:`unit_repairs`, or
        as many as bring the feasible rows to a quarter of ``U`` (a budget few points meet)."""
        space = self.space
        X = space.encode_unit(U, repaired=False)
        if not space.constraints:
            return U, X
        ok = space.feasible_unit(U)
        bad = np.flatnonzero(~ok)[: max(self.unit_repairs, len(U) // 4 - int(ok.sum()))]
        fixed = [c for c in (space.from_unit(U[i], self.rng) for i in bad) if space.is_feasible(c)]
        if not fixed:
            return U[ok], X[ok]
        return (np.vstack([U[ok], np.stack([space.to_unit(c) for c in fixed])]),
                np.vstack([X[ok], space.encode_many(fixed)]))

    def _new_rows(self, X: np.ndarray, also: np.ndarray | None = None) -> np.ndarray:
        """Indices of the rows of ``X`` (encodings) that repeat neither an earlier row, nor a
        configuration already proposed or evaluated, nor a row of ``also``, in order."""
        seen = [*self._high.values()]
        rows = self._encoded(seen) if seen else np.zeros((0, X.shape[1]))
        if also is not None:
            rows = np.vstack([rows, also])
        other = [*self._pending.values(), *self._failed_cfg.values()]
        if other:
            rows = np.vstack([rows, self.space.encode_many(other)])
        known = {r.tobytes() for r in np.round(rows, 9) + 0.0}  # + 0.0: no negative zeros
        R = np.round(X, 9) + 0.0
        _, first = np.unique(R, axis=0, return_index=True)
        return np.array([i for i in np.sort(first) if R[i].tobytes() not in known], dtype=np.int64)

    def _pool_cap(self) -> int:
        """Candidates scored per round: as many as keep ``candidates * n^2`` (a GP's predictive
        variance cost with n results) under ``score_budget``, between 500 and ``pool_size``."""
        n = max(len(self._high), 1)
        return int(min(self.pool_size, max(500, self.score_budget / n**2)))

    def _parents(self) -> list[Config]:
        from .nsga2 import rank_and_crowding

        obs = list(self._high.values())
        if not obs:
            return []
        F = np.stack([o.values for o in obs])
        rank, crowd = rank_and_crowding(F, np.array([o.violation for o in obs]))
        order = np.lexsort((-crowd, rank))[:20]
        return [obs[i].config for i in order]

    # -- selection ----------------------------------------------------------------------------
    def _front_and_ref(self) -> tuple[np.ndarray, np.ndarray]:
        """Feasible results and the acquisition's reference point: ``reference_point`` if
        given, else the nadir of their front plus ``ref_margin`` of its range (with
        ``ref_margin = None``: the worst value seen plus 10% of the range)."""
        obs = [o for o in self._high.values() if o.violation <= 0] or list(self._high.values())
        F = np.stack([o.values for o in obs])
        if self.reference_point is not None:
            if not self._ref_warned and len(F) >= self._n_start and not np.any(np.all(F < self.reference_point, axis=1)):
                self._ref_warned = True
                log.warning("guided: none of the %d results is better than the reference point %s in every objective "
                            "(minimised units); improvements then come only from predicted tails: check the "
                            "reference point", len(F), self.reference_point.tolist())
            return F, self.reference_point
        if self.ref_margin is None:
            lo, hi = F.min(0), F.max(0)
            span = np.where(hi > lo, hi - lo, np.maximum(np.abs(hi), 1.0))
            return F, hi + 0.1 * span
        from ..pareto import infer_reference_point

        return F, infer_reference_point(F, margin=self.ref_margin)

    def _pool_cached(self) -> bool:
        """Whether every unseen configuration of an enumerated space is scored through the
        models' pool caches (:meth:`GaussianProcess.predict_pool`: cost O(N n) per round)."""
        if self._all is None or self._low_models or not self._models:
            return False
        n, N = len(self._high), len(self._all)
        models = [*self._models, *self._fmodels.values()]
        return all(hasattr(m, "predict_pool") and n * N <= getattr(m, "pool_cache", 0) for m in models)

    def _scored_pool(self) -> tuple[Sequence[Config], Any, list[tuple[float, np.ndarray, np.ndarray]]]:
        """Candidates, their encoding, and ``(weight, means, stds)`` of each model set."""
        if self._pool_cached():
            idx = np.flatnonzero(self._unseen)
            full, plain = self._all_X, self._plain(self._all_X)  # type: ignore[arg-type]
            sets = []
            for weight, models in self._model_sets():
                pred = [m.predict_pool(full if f else plain) for m, f in models]  # type: ignore[attr-defined]
                sets.append((weight, np.column_stack([p[0] for p in pred])[idx],
                             self._result_std(models, np.column_stack([p[1] for p in pred])[idx])))
            return _Rows(self._all, idx), _Rows(self._all_X, idx), sets  # type: ignore[arg-type]
        configs, X = self._pool()
        if not configs:
            return configs, X, []
        return configs, X, self._predict_sets(X)

    def _guided(self, k: int) -> list[Config]:
        self._fit()
        configs, X, sets = self._scored_pool()
        if not len(configs):
            if self._all is not None:  # an enumerated space with nothing left unseen
                return []
            return [self._take(self._random_unseen(self._seen_high)) for _ in range(k)]
        front, ref = self._front_and_ref()
        pend = [c for key, c in self._pending.items() if key not in self._high]
        if pend:  # pending proposals enter the front at their predicted means
            pm = self._mixture_mean(self._predict_sets(self._x(pend)))
            front = np.vstack([front, self._inverse(pm)])
        mc = np.random.default_rng([self.seed, self.round, len(self._seen_high)])
        weights: list[np.ndarray] = []
        if self.acquisition == "parego":  # this round's weight vectors, one per proposal
            wrng = np.random.default_rng([self.seed, self.round, len(self._seen_high), 3])
            weights = [simplex_weights(self.n_objectives, wrng) for _ in range(k)]
        if self._all is None and self.refine:
            configs, X, sets = self._refined(configs, X, sets, front, ref, weights[0] if weights else None)
        # cheap optimistic screen, then Monte-Carlo EHVI on the most promising
        mean = self._mixture_mean(sets)
        cand = self._screened(len(configs), sets, front, ref, weights)
        p_ok = np.ones(len(cand))
        discounts = ((self._fail_model, self.failure_aversion), (self._dup_model, self.duplicate_aversion))
        Xc = self._encode(X[cand]) if self._constraint_models or any(m is not None for m, _ in discounts) else None
        for model in self._constraint_models:  # the probability to meet each constraint (as constrained EI)
            mu, sd = model.predict(Xc)
            sd = np.sqrt(sd ** 2 + model.noise_std() ** 2)  # of the value a result will show
            p_ok = p_ok * norm.cdf(-mu / np.maximum(sd, 1e-12)) ** self.constraint_aversion
        for model, aversion in discounts:
            if model is not None:
                p_ok = p_ok * (1.0 - np.clip(model.predict(Xc)[0], 0.0, 1.0)) ** aversion
        out: list[Config] = []
        chosen: set[int] = set()
        spreads = [s_s[cand] for _, _, s_s in sets]  # shrink near a batch's chosen members (_BatchConditioning)
        batch_cov = None
        if self.batch_conditioning and (k > 1 or pend):
            batch_cov = _BatchConditioning(self, X, cand, len(sets), self._x(pend) if pend else None)
            spreads = batch_cov.pending(spreads)  # other workers' proposals, still being evaluated
        for i in range(k):
            weight = weights[i] if weights else None  # parego: each proposal of a batch has its own weight vector
            ehvi = np.zeros(len(cand))
            for (_, m_s, _), s_c in zip(sets, spreads):  # a candidate's EHVI under the set that expects the most of it
                ehvi = np.maximum(ehvi, p_ok * self._ehvi(m_s[cand], s_c, front, ref, mc, weight))
            # chosen in this batch, or the same point (key) as a chosen one (a unit-cube pool's
            # rows are distinct points, none of them seen: only the chosen ones are blocked)
            if isinstance(configs, _UnitRows):
                blocked = np.isin(cand, np.fromiter(chosen, dtype=np.int64, count=len(chosen)))
            else:
                blocked = np.array([bool(chosen) and (int(c) in chosen or self.space.key(configs[c]) in self._seen_high)
                                    for c in cand], dtype=bool)
            ehvi[blocked] = -np.inf
            if not np.isfinite(ehvi).any():
                if self._exhausted():
                    break
                out.append(self._take(self._random_unseen(self._seen_high)))
                continue
            if np.nanmax(ehvi) <= 0:  # nothing expected to improve: explore the most uncertain
                rel = p_ok * (spreads[0] / np.maximum(spreads[0].max(0), 1e-12)).sum(1)
                rel[blocked] = -np.inf
                best = int(np.argmax(rel))
            else:
                best = int(np.argmax(ehvi))
            c = int(cand[best])
            chosen.add(c)
            cfg = configs[c]
            self._predicted[self.space.key(cfg)] = self._inverse(mean[c])
            front = np.vstack([front, self._inverse(mean[c])])
            out.append(self._take(cfg))
            if batch_cov is not None and i < k - 1:
                spreads = batch_cov.condition(best, spreads)
        return out

    def _screened(self, n: int, sets: _Sets, front: np.ndarray, ref: np.ndarray,
                  weights: Sequence[np.ndarray] = ()) -> np.ndarray:
        """Indices (sorted) of the candidates that the acquisition scores: all ``n`` up to
        ``prefilter``, else the ``prefilter`` whose optimistic point (mean - 2 sd under some model
        set) scores best: under ``weights`` (parego) its largest scalarised gain, else its
        hypervolume improvement (up to three objectives) or its best normalised step below the front."""
        if n <= self.prefilter:
            return np.arange(n)
        screen = np.full(n, -np.inf)
        for _, m_s, s_s in sets:  # a candidate passes if it looks promising to any model set
            opt = self._inverse(m_s - 2.0 * s_s)
            if len(weights):
                for w in weights:
                    screen = np.maximum(screen, chebyshev_gain(opt, front, w))
            elif len(ref) <= 3:  # exact and vectorised up to three objectives
                screen = np.maximum(screen, hv_improvement(opt, front, ref))
            else:
                screen = np.maximum(screen, -np.min((opt - front.min(0)) / np.maximum(
                    front.max(0) - front.min(0), 1e-12), axis=1))
        return np.sort(np.argpartition(-screen, self.prefilter - 1)[: self.prefilter])

    def _ehvi(self, mean: np.ndarray, std: np.ndarray, front: np.ndarray, ref: np.ndarray,
              draws: np.random.Generator, weight: np.ndarray | None = None) -> np.ndarray:
        """Expected hypervolume improvement of candidates under one model set's predictions:
        the closed form (``ehvi: exact``, one to three objectives; ``auto``: three) or Monte
        Carlo with ``draws``; given ``weight`` (``acquisition: parego``), the expected improvement of
        the proposal's Chebyshev scalarisation under it instead (:mod:`.scalarization`)."""
        if weight is not None:  # parego
            return expected_chebyshev_improvement(mean, std, front, weight, draws, self.n_samples, self._inverse)
        if self.ehvi == "exact" and len(ref) == 1:
            return expected_improvement_1d(mean, std, front, ref, self._shifts)
        if self.ehvi == "exact" and len(ref) == 2:
            return expected_hv_improvement_2d(mean, std, front, ref, self._shifts)
        if self.ehvi in ("exact", "auto") and len(ref) == 3:
            return expected_hv_improvement_3d(mean, std, front, ref, self._shifts)
        return expected_hv_improvement(mean, std, front, ref, draws, self.n_samples, self._inverse)

    def _refined(self, configs: list[Config], X: np.ndarray, sets: _Sets, front: np.ndarray,
                 ref: np.ndarray, weight: np.ndarray | None = None) -> tuple[list[Config], np.ndarray, _Sets]:
        """The evolved pool plus ``refine`` generations of local search on the predictor: the
        ``refine_top`` candidates of highest EHVI each get ``refine_children`` children, moved in
        the space's unit-cube view by normal steps (scale 0.05, then a quarter of it per
        generation) on about half of the variables; the best ``refine_top`` of parents and
        children breed the next generation. All children join the candidates. With parego, the
        EHVI is the expected improvement of the scalarisation under ``weight`` (the batch's first)."""
        def score(m_sets: _Sets) -> np.ndarray:
            best = np.zeros(len(m_sets[0][1]))
            for _, m_s, s_s in m_sets:  # the same draws for every call (common random numbers)
                draws = np.random.default_rng([self.seed, self.round, len(self._seen_high), 1])
                best = np.maximum(best, self._ehvi(m_s, s_s, front, ref, draws, weight))
            return best

        rng = np.random.default_rng([self.seed, self.round, len(self._seen_high), 2])
        scores = score(sets)
        top = list(np.argsort(-scores)[: self.refine_top])
        if isinstance(configs, _UnitRows):
            return self._refined_unit(configs, X, sets, scores, top, score, rng)
        pop = [(float(scores[i]), self.space.to_unit(configs[i])) for i in top]
        new_cfgs: list[Config] = []
        new_X: list[np.ndarray] = []
        new_sets: list[_Sets] = []
        keys: set[str] = set()
        for gen in range(self.refine):
            step = 0.05 / 4 ** gen
            kids, units = [], []
            for _, u in pop:
                for _ in range(self.refine_children):
                    move = rng.random(len(u)) < 0.5
                    if not move.any():
                        move[int(rng.integers(len(u)))] = True
                    v = np.clip(u + move * rng.normal(0.0, step, len(u)), 0.0, 1.0)
                    c = self.space.from_unit(v, rng)
                    key = self.space.key(c)
                    if key not in self._seen_high and key not in keys and (
                            not self.space.constraints or self.space.is_feasible(c)):
                        keys.add(key)
                        kids.append(c)
                        units.append(v)
            if not kids:
                break
            kid_X = self._x(kids)
            kid_sets = self._predict_sets(kid_X)
            kid_scores = score(kid_sets)
            new_cfgs.extend(kids)
            new_X.append(kid_X)
            new_sets.append(kid_sets)
            pop = sorted(pop + [(float(sc), v) for sc, v in zip(kid_scores, units)], key=lambda t: -t[0])
            pop = pop[: self.refine_top]
        if not new_cfgs:
            return configs, X, sets
        return list(configs) + new_cfgs, np.vstack([X, *new_X]), self._merged(sets, new_sets)

    def _refined_unit(self, configs: _UnitRows, X: np.ndarray, sets: _Sets, scores: np.ndarray, top: list[int],
                      score: Callable[[_Sets], np.ndarray],
                      rng: np.random.Generator) -> tuple[_UnitRows, np.ndarray, _Sets]:
        """:meth:`_refined` on a unit-cube pool: every generation's children as one matrix."""
        pop_s, pop_u = scores[top], configs.U[top]
        new_U, new_X, new_sets = [], [], []
        for gen in range(self.refine):
            step = 0.05 / 4 ** gen
            V = np.repeat(pop_u, self.refine_children, axis=0)
            move = rng.random(V.shape) < 0.5
            none = np.flatnonzero(~move.any(1))
            move[none, rng.integers(V.shape[1], size=len(none))] = True
            V = np.clip(V + move * rng.normal(0.0, step, V.shape), 0.0, 1.0)
            if self._pool_boxes is not None:  # children stay in the pool's trust boxes
                V = TrustRegion.clip(V, *self._pool_boxes)
            V, XV = self._feasible_rows(V)
            keep = self._new_rows(XV, np.vstack([X, *new_X]))  # children that are no candidate yet
            if not len(keep):
                break
            V, XV = V[keep], XV[keep]
            kid_sets = self._predict_sets(XV)
            kid_scores = score(kid_sets)
            new_U.append(V)
            new_X.append(XV)
            new_sets.append(kid_sets)
            order = np.argsort(-np.concatenate([pop_s, kid_scores]), kind="stable")[: self.refine_top]
            pop_s, pop_u = np.concatenate([pop_s, kid_scores])[order], np.vstack([pop_u, V])[order]
        if not new_U:
            return configs, X, sets
        return _UnitRows(self.space, np.vstack([configs.U, *new_U])), np.vstack([X, *new_X]), self._merged(sets, new_sets)

    @staticmethod
    def _merged(sets: _Sets, more: list[_Sets]) -> _Sets:
        """Each model set's predictions for the candidates of ``sets`` followed by those of ``more``."""
        return [(w, np.vstack([m, *[ks[i][1] for ks in more]]), np.vstack([sd, *[ks[i][2] for ks in more]]))
                for i, (w, m, sd) in enumerate(sets)]

    # -- results ------------------------------------------------------------------------------
    def tell(self, observations: Sequence[Observation]) -> None:
        for o in observations:
            if self.low_fidelity is not None and o.fidelity == self.low_fidelity:
                self._seen_low.add(o.key)
                self._low_told.add(o.key)  # a result told again (e.g. on resume) counts once
                # results told without being asked (an asynchronous resume) count as proposed
                self._n_low_proposed = max(self._n_low_proposed, len(self._low_told))
                if o.ok:
                    self._low[o.key] = o
                continue
            self._mark_seen(o.key)
            self._pending.pop(o.key, None)
            if o.key in self._high:  # told before: nothing new (not a second evaluation, not a repeat of itself)
                continue
            again = o.key in self._failed_cfg
            if not again:
                self._n_high_told += 1
                self._trust_update(o)
            if not o.ok:
                if not again:
                    self._n_failed += 1
                self._failed_cfg[o.key] = o.config
                continue
            self._failed_cfg.pop(o.key, None)  # failed before, succeeded now
            self._high[o.key] = o
            vals = tuple(np.asarray(o.values, dtype=float).tolist())
            if vals in self._outcomes:  # the same result as an earlier configuration
                self._duplicates.add(o.key)
            self._outcomes.add(vals)
            pred = self._predicted.pop(o.key, None)
            if pred is not None:
                self._tau_pairs.append((pred, np.asarray(o.values, dtype=float)))

    def kendall_tau(self, last: int = 30) -> list[float]:
        """Per objective: Kendall's tau between the predictions made when proposing and the
        results, over the last ``last`` guided proposals (``nan`` before there are two)."""
        pairs = self._tau_pairs[-last:]
        if len(pairs) < 2:
            return [float("nan")] * self.n_objectives
        P = np.stack([p for p, _ in pairs])
        Y = np.stack([y for _, y in pairs])
        return [kendall_tau(P[:, j], Y[:, j]) for j in range(self.n_objectives)]

    def state(self) -> dict[str, Any]:
        tau = self.kendall_tau()
        return {"name": self.name, "round": self.round, "real_evals": self._n_high_told,
                "low_fidelity_evals": len(self._low_told), "failed": self._n_failed,
                "duplicates": len(self._duplicates),
                "kendall_tau": [None if math.isnan(t) else round(t, 3) for t in tau],
                "log_space": [w if isinstance(w, str) else f"log(y - min + {w:g} range)" for w in self._logs],
                "featured_objectives": [getattr(self.objectives[j], "name", str(self.objectives[j]))
                                        for j in sorted(self._featured)]}
