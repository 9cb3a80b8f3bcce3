"""numsim: bit-exact models of block-scaled number formats.

Public surface: :mod:`numsim.formats` (descriptors and the registry), the policies, the
compatibility :mod:`numsim.profiles`, ``encode`` / ``decode`` / ``quantize`` for element and
block formats (:class:`BlockArray`), ``pack`` / ``unpack`` for sub-byte codes, and
:mod:`numsim.datapath` (dot-product units).
"""

from . import datapath, formats, profiles
from .block import BlockArray, nvfp4_tensor_scale
from .codec import decode, encode, quantize
from .formats import BlockFormat, FloatFormat, IntFormat, Specials, bfp
from .packing import pack, unpack
from .policies import NanPolicy, Overflow, RoundMode, ScaleRule

__version__ = "0.1.0"

__all__ = [
    "BlockArray",
    "BlockFormat",
    "FloatFormat",
    "IntFormat",
    "NanPolicy",
    "Overflow",
    "RoundMode",
    "ScaleRule",
    "Specials",
    "bfp",
    "datapath",
    "decode",
    "encode",
    "formats",
    "nvfp4_tensor_scale",
    "pack",
    "profiles",
    "quantize",
    "unpack",
]
