"""Export a chosen bit-width configuration as a real quantized safetensors file, and load it back.

Each quantized linear weight ``L.weight`` is stored as ``L.weight.qcodes`` (codes bit-packed into
uint8 bytes), ``L.weight.scales`` (fp16) and ``L.weight.zeros`` (uint8), one scale and zero point
per group; every other tensor of the state dict is stored as is. The file's metadata records the
bit-width and shape of each layer and the group size. Its tensor bytes equal the space's
``size_bytes`` cost exactly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .bitwidth import BitWidthSpace
from .quantize import QuantizedWeight, dequantize, pack_codes, quantize, unpack_codes

__all__ = ["export_quantized", "load_quantized", "tensor_bytes"]

_FORMAT = "paretoforge.bitwidth/1"


def export_quantized(space: BitWidthSpace, config: dict[str, Any], path: str | Path) -> Path:
    """Write ``space.model`` quantized with ``config`` to ``path`` (safetensors)."""
    from safetensors.torch import save_file

    bits = space["bits"].validate(config["bits"])
    state = {k: v.detach().cpu().contiguous() for k, v in space.model.state_dict().items()}
    layers: dict[str, Any] = {}
    for ln, b, shape in zip(space.layer_names, bits, space.shapes):
        key = f"{ln}.weight"
        w = state.pop(key)
        if b >= 16:
            state[key] = w.half()
        else:
            q = quantize(w, b, space.group_size)
            state[f"{key}.qcodes"] = pack_codes(q.codes, b)
            state[f"{key}.scales"] = q.scales.contiguous()
            state[f"{key}.zeros"] = q.zeros.contiguous()
        layers[key] = {"bits": int(b), "shape": list(shape)}
    meta = {"format": _FORMAT, "group_size": str(space.group_size), "layers": json.dumps(layers)}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path), metadata=meta)
    umask = os.umask(0)  # safetensors writes owner-only (0600); a deployed model is read by others too
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)
    return path


def tensor_bytes(path: str | Path) -> int:
    """Total bytes of the tensors stored in a safetensors file (without its header)."""
    from safetensors import safe_open

    total = 0
    with safe_open(str(path), framework="pt") as f:
        for k in f.keys():
            t = f.get_tensor(k)
            total += t.numel() * t.element_size()
    return total


@torch.no_grad()
def load_quantized(path: str | Path, model: nn.Module) -> nn.Module:
    """Load an export into ``model`` (same architecture): dequantized weights, other tensors as
    stored. Returns ``model``. Raises ``ValueError`` naming the file when it is not an export."""
    from safetensors import safe_open

    path = Path(path)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        if meta.get("format") != _FORMAT:
            raise ValueError(f"{path}: not a paretoforge bit-width export (metadata 'format' is "
                             f"{meta.get('format')!r}, expected {_FORMAT!r}); write it with export_quantized")
        group_size = int(meta["group_size"])
        layers = json.loads(meta["layers"])
        state: dict[str, torch.Tensor] = {}
        keys = set(f.keys())
        for key, info in layers.items():
            shape = tuple(info["shape"])
            if info["bits"] >= 16:
                state[key] = f.get_tensor(key).float()
                continue
            codes = unpack_codes(f.get_tensor(f"{key}.qcodes"), info["bits"], shape[0] * shape[1]).reshape(shape)
            q = QuantizedWeight(codes, f.get_tensor(f"{key}.scales"), f.get_tensor(f"{key}.zeros"), info["bits"],
                                group_size, shape)
            state[key] = dequantize(q)
            keys -= {f"{key}.qcodes", f"{key}.scales", f"{key}.zeros"}
        for k in keys - set(layers):
            state[k] = f.get_tensor(k)
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected:
        raise ValueError(f"{path}: tensors {unexpected[:5]} do not belong to the given model")
    if missing:
        raise ValueError(f"{path}: the export lacks tensors {missing[:5]} of the given model")
    return model
