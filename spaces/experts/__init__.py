"""Expert pruning and merging spaces (EEP) for sparse mixture-of-experts models."""

from .blocks import find_moe_blocks, merge_experts, n_experts, prune_experts
from .pruning import (
    ExpertMergeSpace,
    ExpertPruningSpace,
    apply_expert_config,
    expert_pruning_space,
    least_routed_keep,
    random_keep,
    routing_counts,
)

__all__ = [
    "ExpertMergeSpace",
    "ExpertPruningSpace",
    "apply_expert_config",
    "expert_pruning_space",
    "find_moe_blocks",
    "least_routed_keep",
    "merge_experts",
    "n_experts",
    "prune_experts",
    "random_keep",
    "routing_counts",
]
