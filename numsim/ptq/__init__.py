"""Post-training quantization of weights on numsim formats (algorithm half: numpy only)."""

from .methods import METHODS, LayerStats, Method, run_method
from .quantizers import ScaleState, WeightQuantizer, weight_quantizer

__all__ = ["METHODS", "LayerStats", "Method", "ScaleState", "WeightQuantizer", "run_method", "weight_quantizer"]
