"""Slow, exact, independent reference model of numsim's codecs (pure Python, ``Fraction`` only).

Used as the oracle the fast kernels are tested against; it shares no code with them.
"""

from numsim.reference.block import decode_block, nvfp4_tensor_scale, quantize_block
from numsim.reference.codec import decode, encode

__all__ = ["decode", "decode_block", "encode", "nvfp4_tensor_scale", "quantize_block"]
