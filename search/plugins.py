"""Registries of plugins by name: spaces, evaluators, predictors, benchmark problems and
predictor features.

Third-party packages add entries through the entry-point groups ``paretoforge.spaces``,
``paretoforge.evaluators``, ``paretoforge.predictors`` and ``paretoforge.problems`` (optimizers:
``paretoforge.optimizers``, see :mod:`paretoforge.search.optimizers`; features:
``paretoforge.features``). A space entry is a callable
returning a :class:`~paretoforge.spaces.Space`; an evaluator entry returns an
:class:`~paretoforge.evaluators.Evaluator`; a problem entry returns a
:class:`~paretoforge.search.problems.base.Problem`; a feature entry maps a list of configurations
to an ``(n, k)`` array of signals known without evaluating them (zero-cost proxies), which the
``guided`` optimizer appends to its predictor's inputs (its ``features`` setting).
"""

from __future__ import annotations

from .registry import Registry

__all__ = ["EVALUATORS", "FEATURES", "PREDICTORS", "PROBLEMS", "SPACES"]

SPACES = Registry(
    "space",
    "paretoforge.spaces",
    {
        "bitwidth": "paretoforge.spaces.quantization.bitwidth:bitwidth_space",
        "layer_selection": "paretoforge.spaces.layers.selection:layer_selection_space",
        "expert_pruning": "paretoforge.spaces.experts.pruning:expert_pruning_space",
    },
)
EVALUATORS = Registry(
    "evaluator",
    "paretoforge.evaluators",
    {
        "embedding_fidelity": "paretoforge.evaluators.lm.embedding:embedding_fidelity",
        "perplexity": "paretoforge.evaluators.lm.perplexity:perplexity_evaluator",
    },
)
PREDICTORS = Registry(
    "predictor",
    "paretoforge.predictors",
    {
        "gp": "paretoforge.predictors.gp:GaussianProcess",
        "mlp_ensemble": "paretoforge.predictors.mlp_ensemble:MLPEnsemble",
        "sequence": "paretoforge.predictors.sequence:SequencePredictor",
        "dele": "paretoforge.predictors.dele:DynamicEnsemble",
    },
)
PROBLEMS = Registry(
    "problem",
    "paretoforge.problems",
    {
        "zdt1": "paretoforge.search.problems.zdt:ZDT1",
        "zdt2": "paretoforge.search.problems.zdt:ZDT2",
        "zdt3": "paretoforge.search.problems.zdt:ZDT3",
        "dtlz2": "paretoforge.search.problems.dtlz:DTLZ2",
        "nasbench201": "paretoforge.search.problems.nasbench201:NASBench201",
        "nasbench_graph": "paretoforge.search.problems.nasbench_graph:NASBenchGraph",
    },
)
FEATURES = Registry(
    "feature",
    "paretoforge.features",
    {
        "nasbench201_synflow": "paretoforge.search.problems.nasbench201_proxies:synflow_features",
        "nasbench201_zero_cost": "paretoforge.search.problems.nasbench201_proxies:zero_cost_features",
        "nasbench_graph_hops": "paretoforge.search.problems.nasbench_graph_features:hops_features",
    },
)

# diffusion spaces and the digits evaluator (issue 4)
SPACES.register("solver_schedule", "paretoforge.spaces.diffusion.solver_schedule:solver_schedule_space")
SPACES.register("model_schedule", "paretoforge.spaces.diffusion.model_schedule:model_schedule_space")
SPACES.register("checkpoint_combination",
                "paretoforge.spaces.diffusion.checkpoint_combination:checkpoint_combination_space")
EVALUATORS.register("digits_fd", "paretoforge.evaluators.diffusion.digits_fd:digits_fd")
