"""paretoforge: search for the Pareto front of compressed or accelerated model configurations.

Subpackages:

* :mod:`paretoforge.spaces` - variables, search spaces, constraints (the configuration model);
* :mod:`paretoforge.search` - studies, optimizers, storage, backends, Pareto tools, CLI;
* :mod:`paretoforge.evaluators` - the batch-first evaluator protocol;
* :mod:`paretoforge.predictors` - learned quality predictors;
* :mod:`paretoforge.kernels` - fast evaluation kernels.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
