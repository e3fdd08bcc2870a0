"""Layer-selection spaces over a model's list of blocks, with the ShortGPT baseline."""

from .influence import block_influence, shortgpt_keep
from .selection import LayerSelectionSpace, find_blocks, layer_selection_space

__all__ = ["LayerSelectionSpace", "block_influence", "find_blocks", "layer_selection_space", "shortgpt_keep"]
