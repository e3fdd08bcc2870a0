"""Real weight quantization: asymmetric min-max integer codes per output channel or per group.

``quantize`` returns the integer codes with their fp16 scales and uint8 zero points;
``dequantize`` rebuilds the weight; ``fake_quantize`` does both (the weight the quantized model
computes with). ``packed_bytes`` is the exact storage of one quantized weight in the export
format of :mod:`.export`: codes bit-packed into bytes, one fp16 scale and one uint8 zero point
per group.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

__all__ = ["QuantizedWeight", "dequantize", "fake_quantize", "pack_codes", "packed_bytes", "quantize", "unpack_codes"]


@dataclass
class QuantizedWeight:
    """Integer codes (uint8, shape of the weight), fp16 scales and uint8 zero points of shape
    ``(out_features, n_groups)``; ``group_size`` 0 means one group per output channel."""

    codes: torch.Tensor
    scales: torch.Tensor
    zeros: torch.Tensor
    bits: int
    group_size: int
    shape: tuple[int, int]


def _grouped(weight: torch.Tensor, group_size: int) -> tuple[torch.Tensor, int]:
    if weight.dim() != 2:
        raise ValueError(f"quantize: expected a 2-D weight (out, in), got shape {tuple(weight.shape)}")
    out_f, in_f = weight.shape
    g = in_f if group_size <= 0 else group_size
    if in_f % g:
        raise ValueError(f"quantize: in_features {in_f} is not a multiple of group_size {g}; "
                         f"use a divisor of {in_f} or group_size 0 (per channel)")
    return weight.reshape(out_f, in_f // g, g), g


def quantize(weight: torch.Tensor, bits: int, group_size: int = 0) -> QuantizedWeight:
    """Asymmetric uniform quantization of ``weight`` to ``bits`` (1..8) with min-max ranges."""
    if not 1 <= int(bits) <= 8:
        raise ValueError(f"quantize: bits must be 1..8, got {bits}")
    w, g = _grouped(weight.detach().float(), group_size)
    qmax = 2 ** int(bits) - 1
    lo = w.amin(-1, keepdim=True).clamp(max=0.0)
    hi = w.amax(-1, keepdim=True).clamp(min=0.0)
    scale = ((hi - lo) / qmax).clamp_min(1e-8).half().float()  # stored in fp16: compute with the stored value
    zero = torch.round(-lo / scale).clamp(0, qmax)
    codes = torch.clamp(torch.round(w / scale) + zero, 0, qmax)
    return QuantizedWeight(codes.reshape(weight.shape).to(torch.uint8), scale.squeeze(-1).half(),
                           zero.squeeze(-1).to(torch.uint8), int(bits), int(group_size), tuple(weight.shape))


def dequantize(q: QuantizedWeight, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    out_f, in_f = q.shape
    g = in_f if q.group_size <= 0 else q.group_size
    codes = q.codes.reshape(out_f, in_f // g, g).float()
    w = (codes - q.zeros.float().unsqueeze(-1)) * q.scales.float().unsqueeze(-1)
    return w.reshape(out_f, in_f).to(dtype)


def fake_quantize(weight: torch.Tensor, bits: int, group_size: int = 0) -> torch.Tensor:
    """``dequantize(quantize(weight))`` in the weight's dtype; 16 bits round it to fp16 (as the export
    stores it), more leave it unchanged."""
    if bits == 16:
        return weight.detach().half().to(weight.dtype, copy=True)
    if bits > 16:
        return weight.detach().clone()
    return dequantize(quantize(weight, bits, group_size), weight.dtype)


def pack_codes(codes: torch.Tensor, bits: int) -> torch.Tensor:
    """Bit-pack uint8 codes (< 2**bits) little-endian into ``ceil(numel * bits / 8)`` bytes."""
    flat = codes.reshape(-1).to(torch.int64)
    shifts = torch.arange(bits, dtype=torch.int64)
    bitstream = ((flat.unsqueeze(-1) >> shifts) & 1).reshape(-1)
    pad = (-bitstream.numel()) % 8
    if pad:
        bitstream = torch.cat([bitstream, bitstream.new_zeros(pad)])
    weights = 2 ** torch.arange(8, dtype=torch.int64)
    return (bitstream.reshape(-1, 8) * weights).sum(-1).to(torch.uint8)


def unpack_codes(packed: torch.Tensor, bits: int, numel: int) -> torch.Tensor:
    """Inverse of :func:`pack_codes`: ``numel`` uint8 codes."""
    stream = ((packed.to(torch.int64).unsqueeze(-1) >> torch.arange(8)) & 1).reshape(-1)[: numel * bits]
    return (stream.reshape(numel, bits) * (2 ** torch.arange(bits))).sum(-1).to(torch.uint8)


def packed_bytes(shape: tuple[int, int], bits: int, group_size: int = 0) -> int:
    """Exact bytes of a quantized ``(out, in)`` weight in the export: packed codes + fp16 scale +
    uint8 zero point per group. ``bits >= 16`` means kept in fp16 (2 bytes per entry)."""
    out_f, in_f = shape
    if bits >= 16:
        return 2 * out_f * in_f
    groups = out_f * (1 if group_size <= 0 else in_f // group_size)
    return math.ceil(out_f * in_f * bits / 8) + 3 * groups
