"""Weight quantization spaces: per-layer bit-width allocation, MixDQ-style sensitivity + MILP,
and a real quantized export."""

from .bitwidth import BitWidthSpace, bitwidth_space, quantizable_linears
from .export import export_quantized, load_quantized, tensor_bytes
from .quantize import QuantizedWeight, dequantize, fake_quantize, pack_codes, packed_bytes, quantize, unpack_codes

__all__ = [
    "BitWidthSpace",
    "QuantizedWeight",
    "bitwidth_space",
    "dequantize",
    "export_quantized",
    "fake_quantize",
    "load_quantized",
    "pack_codes",
    "packed_bytes",
    "quantizable_linears",
    "quantize",
    "tensor_bytes",
    "unpack_codes",
]
