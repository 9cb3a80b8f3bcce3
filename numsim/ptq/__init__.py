"""Post-training quantization of torch models on numsim formats and datapaths (needs torch).

::

    qmodel, report = numsim.ptq.quantize_model(model, batches, weight_format="mxfp4_e2m1",
    method="rtn")

Public names: :func:`quantize_model`, :class:`PTQReport`, ``METHODS`` (the algorithms) and
:func:`weight_quantizer`. Models and metrics for experiments live in :mod:`numsim.ptq.models`.
"""

try:
    import torch  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError("numsim.ptq needs torch: pip install 'numsim[torch]'") from exc

from .api import PTQReport, quantize_model
from .methods import METHODS, LayerStats, Method, run_method
from .quantizers import ScaleState, WeightQuantizer, weight_quantizer

__all__ = [
    "METHODS",
    "LayerStats",
    "Method",
    "PTQReport",
    "ScaleState",
    "WeightQuantizer",
    "quantize_model",
    "run_method",
    "weight_quantizer",
]
