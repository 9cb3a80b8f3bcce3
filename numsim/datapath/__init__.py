"""Hardware dot-product units: the generic block-FMA model and the NVIDIA tensor-core presets.

Public API (model: Khattak & Mikaitis, arXiv 2512.07004;
north-numerical-computing/MATLAB-tensor-core models/*.m; the NVIDIA presets follow MMA-Sim,
arXiv 2511.10909, microsoft/MMA-Sim, where the two differ)::

    unit = numsim.datapath.get("h100-e4m3")          # a DotUnit; out="fp16" for the FP16-out mode
    d = unit.dot(a, b, c=None)                       # [..., K] -> [...] float32
    D = numsim.datapath.matmul(A, B, unit, C=None)   # [M, K] @ [K, N] -> [M, N] float32
    D = numsim.datapath.matmul(A, B, unit, C, c_entry="epilogue")  # C in an FP32 RNE epilogue
    D = numsim.datapath.matmul(A, B, numsim.datapath.get("fma-fp64"), C)  # float64 in and out
    numsim.datapath.names()
"""

from .api import dot, matmul
from .mx import mx_dot, mx_matmul
from .presets import fp9_e5m3, fp32_m13, get, int_acc, names
from .torch_hook import Scaling, emulate
from .unit import Accumulator, DotUnit

__all__ = [
    "Accumulator",
    "DotUnit",
    "Scaling",
    "dot",
    "emulate",
    "fp9_e5m3",
    "fp32_m13",
    "get",
    "int_acc",
    "matmul",
    "mx_dot",
    "mx_matmul",
    "names",
]
