"""Weight quantizers (minimal RTN stand-in; the full version replaces this module).

Only what the model half calls: :func:`weight_quantizer`, ``WeightQuantizer.quantize``,
``.groups`` and ``.export``. Block formats block along axis 1 of a weight [d_out, d_in]; element
formats take a per-tensor, per-channel (row) or per-group scale, ``amax / format max`` or that
rounded up to a power of two.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import formats as _formats
from ..codec import decode, encode
from ..formats import BlockFormat, FloatFormat, IntFormat


@dataclass(frozen=True)
class WeightQuantizer:
    """RTN onto ``format`` with the given scale granularity (see :func:`weight_quantizer`)."""

    format: Any
    granularity: str | None
    group_size: int | None
    scale: str

    def groups(self, d_in: int) -> list[slice]:
        """Column ranges sharing one scale per row."""
        step = self.format.block_size if isinstance(self.format, BlockFormat) else (
            self.group_size if self.granularity == "group" else d_in)
        return [slice(i, min(i + step, d_in)) for i in range(0, d_in, step)]

    def _scales(self, W: np.ndarray) -> np.ndarray:
        """Scales [d_out or 1, n_groups]."""
        fmax = float(self.format.max)
        amax = np.stack([np.max(np.abs(W[:, g]), axis=1) for g in self.groups(W.shape[1])], axis=1)
        if self.granularity == "tensor":
            amax = np.max(amax, keepdims=True)
        s = np.where(amax > 0, amax / fmax, 1.0)
        if self.scale == "pow2":
            m, e = np.frexp(s)
            s = np.ldexp(1.0, np.where(m == 0.5, e - 1, e))
        return s

    def export(self, Q: np.ndarray) -> Any:
        """numsim codes of ``Q``: a BlockArray (block formats) or ``(codes, scales [d_out|1, G])``."""
        if isinstance(self.format, BlockFormat):
            return encode(np.asarray(Q, np.float64), self.format, axis=1)
        s = self._scales(Q)
        full = np.repeat(s, [g.stop - g.start for g in self.groups(Q.shape[1])], axis=1)
        return encode(Q / full, self.format), s

    def quantize(self, W: np.ndarray) -> np.ndarray:
        """Round to nearest even, saturating; returns decoded float64 values."""
        W = np.asarray(W, np.float64)
        if isinstance(self.format, BlockFormat):
            return decode(encode(W, self.format, axis=1)).astype(np.float64)
        s = self._scales(W)
        full = np.repeat(s, [g.stop - g.start for g in self.groups(W.shape[1])], axis=1)
        return decode(encode(W / full, self.format), self.format).astype(np.float64) * full


def weight_quantizer(format: Any, *, granularity: str | None = None, group_size: int | None = None,
                     scale: str = "float") -> WeightQuantizer:
    """A :class:`WeightQuantizer` for ``format``."""
    fmt = _formats.get(format) if isinstance(format, str) else format
    if isinstance(fmt, BlockFormat):
        if granularity is not None:
            raise ValueError(f"granularity={granularity!r}: block format {fmt.name} has its own blocks")
        return WeightQuantizer(fmt, None, None, scale)
    if not isinstance(fmt, (FloatFormat, IntFormat)):
        raise TypeError(f"format={format!r}: expected a numsim format")
    granularity = granularity or "channel"
    if granularity not in ("tensor", "channel", "group"):
        raise ValueError(f"granularity={granularity!r}: expected 'tensor', 'channel' or 'group'")
    if granularity == "group" and not group_size:
        raise ValueError("granularity='group' needs group_size")
    if scale not in ("float", "pow2"):
        raise ValueError(f"scale={scale!r}: expected 'float' or 'pow2'")
    return WeightQuantizer(fmt, granularity, group_size, scale)
