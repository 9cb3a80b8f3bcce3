"""Weight quantizers for post-training quantization: numsim formats seen one group of columns at a
time.

A PTQ algorithm rounds a weight matrix ``W [d_out, d_in]`` (PyTorch layout, reduction axis 1) one
input column at a time, with the scale of the column's group held fixed while the rest of the
group is still changing. :class:`WeightQuantizer` splits a format into the pieces such a loop
needs: :meth:`~WeightQuantizer.groups` (which columns share a scale), :meth:`~WeightQuantizer.fit`
(the scale state of a group), :meth:`~WeightQuantizer.round` (one column on that fixed state),
:meth:`~WeightQuantizer.quantize` (round to nearest of a whole matrix) and
:meth:`~WeightQuantizer.export` (the numsim codes of a quantized matrix).

Every rounding goes through numsim's public codec (``numsim.encode`` / ``numsim.decode`` /
``numsim.quantize``), so every value returned is exactly the value of a numsim code:

* Block formats (MX, NVFP4, MX9/6/4, b4int3, any ``numsim.bfp``) block along axis 1 as
  ``numsim.encode(W, fmt, axis=1)`` does, padding a partial last block with zeros. :meth:`fit`
  *is* that encoding of the group: its state is the block's scale code (and microexponents, and
  for NVFP4 the FP32 tensor scale). :meth:`round` then divides by the element step that state
  implies (``2**(s - tau)``; NVFP4: ``float32(scale * s2)`` and a float32 quotient, as numsim's
  NVFP4 encoder does) and rounds with the element format, which reproduces ``numsim.quantize``
  exactly when the state was fitted on the same values (tests hold it to that).
* Element formats (int4, int8, fp8, fp6, fp4, any ``FloatFormat`` / ``IntFormat`` of at most 16
  bits) take one scale per tensor, per output channel (row) or per group of ``group_size``
  columns of a row: ``scale="float"`` is ``amax / max`` rounded to FP32 (so element value times
  scale is exact in float64), ``scale="pow2"`` is that rounded up to a power of two, taken from
  the bits (``frexp``), never from a float log2. An all-zero group takes scale 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import numpy as np

import numsim
from numsim import formats as _formats
from numsim import profiles as _profiles
from numsim._inputs import parse_policies
from numsim._kernels import codec as _kcodec
from numsim._kernels.lower import SOURCES, lower
from numsim._kernels.threads import serial
from numsim.block import BlockArray, decode_block
from numsim.codec import element_codes, value_table
from numsim.formats import BlockFormat, FloatFormat, IntFormat

_GRANULARITIES = ("tensor", "channel", "group")
_SCALES = ("float", "pow2")
_FP32 = _formats.fp32


@dataclass(frozen=True, eq=False)
class ScaleState:
    """The fixed scale state of one group of columns, per row.

    Attributes:
        step: ``[d_out, width]`` divisor of each element: ``2**(s - tau)`` for power-of-two block
            scales, the element format's scale for element formats, ``float32(scale * s2)`` for
            NVFP4 (0 where that underflows: the block is zero).
        scale_codes: block formats: ``[d_out]`` scale codes (numsim's encoding of the group).
        micro: MX9/6/4: ``[d_out, n_sub]`` microexponents.
        block_scale: NVFP4: ``[d_out]`` decoded block scales (UE4M3 values).
        tensor_scale: NVFP4: the FP32 tensor scale ``s2``.
    """

    step: np.ndarray
    scale_codes: np.ndarray | None = None
    micro: np.ndarray | None = None
    block_scale: np.ndarray | None = None
    tensor_scale: float | None = None


@dataclass(frozen=True)
class WeightQuantizer:
    """A numsim format applied to weights ``[d_out, d_in]`` along the reduction axis (axis 1).

    Build with :func:`weight_quantizer`. Attributes:
        format: the numsim format.
        granularity: element formats: ``"tensor"``, ``"channel"`` or ``"group"``; None for block
            formats (their block is the group).
        group_size: columns per group (``"group"`` only).
        scale: element formats: ``"float"`` (FP32 scale) or ``"pow2"``.
        tensor_amax: formats with a tensor scale (NVFP4): the amax the FP32 tensor scale is taken
            from, fixed by :meth:`for_tensor`; None: from the values at hand.
    """

    format: Any
    granularity: str | None = None
    group_size: int | None = None
    scale: str = "float"
    tensor_amax: float | None = None

    # -- structure ----------------------------------------------------------------------------
    @property
    def is_block(self) -> bool:
        """True for block formats."""
        return isinstance(self.format, BlockFormat)

    @property
    def element(self) -> FloatFormat | IntFormat:
        """The element format."""
        return self.format.element if self.is_block else self.format

    def groups(self, d_in: int) -> list[slice]:
        """Consecutive column ranges that share one scale per row (for ``"tensor"`` one range
        shared by every row as well)."""
        if not isinstance(d_in, (int, np.integer)) or d_in < 1:
            raise ValueError(f"d_in={d_in!r}: expected a positive int")
        size = (
            self.format.block_size
            if self.is_block
            else self.group_size
            if self.granularity == "group"
            else d_in
        )
        return [slice(a, min(a + size, d_in)) for a in range(0, d_in, size)]

    def for_tensor(self, W: np.ndarray) -> WeightQuantizer:
        """This quantizer with its tensor-level statistic fixed from ``W`` (NVFP4: the amax of
        the FP32 tensor scale); unchanged for formats without one. PTQ methods bind the original
        weights, so that every group they fit and :meth:`export` use one tensor scale."""
        if not (self.is_block and self.format.tensor_scale):
            return self
        return replace(self, tensor_amax=float(np.max(np.abs(_check_matrix(W, "W")), initial=0.0)))

    # -- fitting and rounding ------------------------------------------------------------------
    def fit(self, Wg: np.ndarray) -> ScaleState:
        """The per-row scale state of one group of columns ``Wg [d_out, width]``.

        Block formats: ``numsim.encode(Wg, format, axis=1)`` (``width`` at most one block; a
        shorter group is zero-padded as numsim pads); element formats: the scale of
        :func:`weight_quantizer` from the group's amax (one amax over all rows for ``"tensor"``).
        """
        Wg = _check_matrix(Wg, "Wg")
        if self.is_block:
            with serial():
                return self._fit_block(Wg)
        amax = (
            np.max(np.abs(Wg), axis=1)
            if self.granularity != "tensor"
            else np.full(Wg.shape[0], np.max(np.abs(Wg)))
        )
        s = _element_scale(amax, self.element, self.scale)
        return ScaleState(np.repeat(s[:, None], Wg.shape[1], axis=1))

    def _fit_block(self, Wg: np.ndarray) -> ScaleState:
        fmt = self.format
        if Wg.shape[1] > fmt.block_size:
            raise ValueError(
                f"Wg: {Wg.shape[1]} columns; a group of {fmt} holds at most {fmt.block_size}"
            )
        blk = self._encode(Wg)
        codes = blk.scales[:, 0]
        sval = np.asarray(numsim.decode(codes, fmt.scale), np.float64)
        if not fmt.pow2_scale:
            s2 = float(blk.tensor_scale) if fmt.tensor_scale else 1.0
            sdec = _fp32(sval * s2)
            step = np.repeat(sdec[:, None], fmt.block_size, axis=1)
            return ScaleState(step, codes, None, sval, s2)
        micro = None
        tau = np.zeros((Wg.shape[0], fmt.block_size))
        if blk.micro is not None:
            micro = blk.micro[:, 0, :]
            tau = np.repeat(micro.astype(np.float64), fmt.sub_block_size, axis=1)
        return ScaleState(np.ldexp(sval[:, None], -tau.astype(np.int64)), codes, micro)

    def round(self, v: np.ndarray, state: ScaleState, j: int) -> np.ndarray:
        """Round column ``j`` (index inside the group) of values ``v [d_out]`` on the FIXED state:
        saturating round to nearest even on the element grid, no re-fit."""
        v = np.asarray(v, dtype=np.float64)
        if v.ndim != 1 or v.shape[0] != state.step.shape[0]:
            raise ValueError(f"v: shape {v.shape}, expected ({state.step.shape[0]},)")
        if not 0 <= j < state.step.shape[1]:
            raise ValueError(f"j={j!r}: expected a column index in 0..{state.step.shape[1] - 1}")
        return self.round_group(v[:, None], state, np.array([j]))[:, 0]

    def round_group(
        self, V: np.ndarray, state: ScaleState, cols: np.ndarray | None = None
    ) -> np.ndarray:
        """:meth:`round` of several columns at once: ``V [d_out, k]`` are columns ``cols`` of the
        group (default ``0..k-1``)."""
        cols = np.arange(V.shape[1]) if cols is None else cols
        step = state.step[:, cols]
        if not np.all(np.isfinite(V)):
            raise ValueError("V: NaN or Inf values cannot be rounded onto a weight format")
        with serial():
            return self._round_on(V, state, step)

    def round_column(self, v: np.ndarray, state: ScaleState, j: int) -> np.ndarray:
        """:meth:`round` without its checks, for the per-column loops of the methods, which
        call it thousands of times per layer on values they computed themselves: ``v`` must be
        a finite float64 vector of ``d_out`` values and ``j`` a column of the group (the
        methods' inputs are validated once per layer instead). It skips numsim's public
        ``quantize`` (argument parsing and checks cost more than the rounding of a few hundred
        values) and calls the same encode and decode kernels it calls with the same (default,
        OCP) policies, so every value is identical (tests/test_ptq_quantizers.py): one element
        rounding for element and power-of-two block formats; for NVFP4 the three of
        :func:`_nvfp4_values` (FP32 of the quotient, E2M1, FP32 of the product).
        Only the finiteness check is kept: NaN or Inf raise ``ValueError`` as in :meth:`round`."""
        if not np.isfinite(v).all():
            raise ValueError("v: NaN or Inf values cannot be rounded onto a weight format")
        step = state.step[:, j]
        if state.block_scale is not None:
            return _nvfp4_values(
                v, step, state.block_scale, state.tensor_scale, self.element, _round_element
            )
        return _round_element(v / step, self.element) * step

    def _round_on(self, V: np.ndarray, state: ScaleState, step: np.ndarray) -> np.ndarray:
        """The body of :meth:`round_group` (``step``: the state's columns)."""
        if state.block_scale is None:
            return np.asarray(numsim.quantize(V / step, self.element), np.float64) * step
        return _nvfp4_values(
            V, step, state.block_scale[:, None], state.tensor_scale, self.element, _quantize
        )

    def quantize(self, W: np.ndarray) -> np.ndarray:
        """Round to nearest: the decoded values of ``W``'s numsim encoding (float64)."""
        W = _check_matrix(W, "W")
        if self.is_block:
            kw = {"tensor_amax": self._tensor_amax(W)} if self.format.tensor_scale else {}
            x = _as_float32_if_exact(W) if not self.format.pow2_scale else W
            return np.asarray(numsim.quantize(x, self.format, axis=1, **kw), np.float64)
        Q = np.empty_like(W)
        for g in self.groups(W.shape[1]):
            Q[:, g] = self.round_group(W[:, g], self.fit(W[:, g]))
        return Q

    def integer_scale(self, state: ScaleState) -> np.ndarray:
        """Per-row step ``s [d_out]`` of a group such that every value rounded on ``state`` is an
        integer multiple of it (for accumulator-aware methods): the scale times the element's
        unit (``2**-frac_bits`` for integers; ``2**(emin - man_bits)`` for floats, whose every
        value is an integer multiple of it).

        Raises:
            ValueError: formats whose step is not one number per row and group (microexponents:
                it changes inside the block; NVFP4: values are float32 roundings of a product).
        """
        fmt = self.format
        if self.is_block and (fmt.sub_block_size or not fmt.pow2_scale):
            raise ValueError(
                f"format {fmt}: its values are not integers times one step per block "
                "(microexponents or a float32-rounded scale); expected an integer or "
                "power-of-two-scaled format"
            )
        elem = self.element
        unit = (
            2.0**-elem.frac_bits
            if isinstance(elem, IntFormat)
            else 2.0 ** (elem.emin - elem.man_bits)
        )
        return state.step[:, 0] * unit

    # -- export --------------------------------------------------------------------------------
    def export(self, Q: np.ndarray) -> BlockArray | tuple[np.ndarray, np.ndarray]:
        """The numsim codes of a quantized matrix; their decode equals ``Q`` bit for bit.

        Block formats: a :class:`~numsim.BlockArray` along axis 1 (``d_in`` padded as numsim pads);
        a block whose own encoding does not give back ``Q`` (a scale fitted before the values
        changed) takes the smallest scale code that represents it exactly. Element formats:
        ``(codes [d_out, d_in], scales [d_out, n_groups])``, value = decode(code) * scale (for
        ``"tensor"`` every row holds the same scale).

        Raises:
            ValueError: ``Q`` is not on the format's grid; NVFP4 without a fixed tensor amax
                (use :meth:`for_tensor` with the original weights).
        """
        Q = _check_matrix(Q, "Q")
        with serial():  # the searches below make many small codec calls
            if self.is_block:
                return self._export_block(Q)
            return self._export_element(Q)

    def _export_element(self, Q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`export` for element formats."""
        codes = np.empty(Q.shape, self.element.code_dtype)
        groups = self.groups(Q.shape[1])
        scales = np.empty((Q.shape[0], len(groups)))
        for k, g in enumerate(groups):
            Qg = Q[:, g] if self.granularity != "tensor" else Q[:, g].reshape(1, -1)
            s = self._element_scales_for(Qg)
            codes[:, g] = np.asarray(numsim.encode(Qg / s[:, None], self.element)).reshape(
                Q[:, g].shape
            )
            scales[:, k] = s if self.granularity != "tensor" else s[0]
        got = np.asarray(numsim.decode(codes, self.element), np.float64)
        got = got * np.repeat(scales, [g.stop - g.start for g in groups], axis=1)
        if not np.array_equal(got, Q):
            raise ValueError(
                f"Q is not on the grid of {self.describe()}: {int(np.sum(got != Q))} values differ"
            )
        return codes, scales

    def _element_scales_for(self, Qg: np.ndarray) -> np.ndarray:
        """Per row of ``Qg``: a scale on which every value is exact (the fitted one if it works,
        else amax / v for the largest element value v that works)."""
        s = self.fit(Qg).step[:, 0]
        bad = ~self._exact(Qg, s[:, None])
        if not np.any(bad):
            return s
        grid = np.unique(np.abs(value_table(self.element).astype(np.float64)))
        grid = grid[np.isfinite(grid) & (grid > 0)][::-1]
        for r in np.flatnonzero(bad):
            amax = np.max(np.abs(Qg[r]))
            cand = amax / grid
            if self.scale == "pow2":
                cand = cand[np.frexp(cand)[0] == 0.5]
            ok = self._exact(np.broadcast_to(Qg[r], (cand.size, Qg.shape[1])), cand[:, None])
            if not np.any(ok):
                raise ValueError(f"Q row {r}: not on the grid of {self.describe()} for any scale")
            s[r] = cand[np.argmax(ok)]
        return s

    def _exact(self, V: np.ndarray, step: np.ndarray) -> np.ndarray:
        """Per row: every value of ``V`` is exactly an element value times ``step``."""
        e = np.asarray(numsim.quantize(V / step, self.element), np.float64)
        return np.all(e * step == V, axis=1)

    def _export_block(self, Q: np.ndarray) -> BlockArray:
        fmt = self.format
        if fmt.tensor_scale and self.tensor_amax is None:
            raise ValueError(
                f"export of {fmt}: the FP32 tensor scale must be the one the weights were "
                "quantized with; call quantizer.for_tensor(W_original).export(Q)"
            )
        blk = self._encode(Q)
        bs = fmt.block_size
        got = decode_block(blk, np.float64)
        pad = -Q.shape[1] % bs
        diff = np.pad(got != Q, ((0, 0), (0, pad))).reshape(Q.shape[0], -1, bs).any(axis=2)
        if not np.any(diff):
            return blk
        codes, scales = blk.codes.copy(), blk.scales.copy()
        micro = None if blk.micro is None else blk.micro.copy()
        Qp = np.pad(Q, ((0, 0), (0, pad))).reshape(Q.shape[0], -1, bs)
        for r, b in zip(*np.nonzero(diff)):
            sc, el, mi = self._search_block(Qp[r, b], int(scales[r, b]), blk.tensor_scale)
            scales[r, b], codes[r, b] = sc, el
            if micro is not None:
                micro[r, b] = mi
        out = BlockArray(codes, scales, fmt, 1, Q.shape, micro, blk.tensor_scale)
        if not np.array_equal(decode_block(out, np.float64), Q):
            raise ValueError(f"Q is not on the grid of {fmt}")
        return out

    def _search_block(
        self, vb: np.ndarray, code0: int, s2: float | None
    ) -> tuple[int, np.ndarray, Any]:
        """The smallest scale code (from ``code0`` up; NVFP4: any) that holds block ``vb`` exactly,
        with its element codes and microexponents."""
        fmt = self.format
        top = fmt.scale.max_code_magnitude
        codes = np.arange(code0 if fmt.pow2_scale else 0, top + 1)
        sval = np.asarray(numsim.decode(codes.astype(fmt.scale.code_dtype), fmt.scale), np.float64)
        V = np.broadcast_to(vb, (codes.size, vb.size))
        if not fmt.pow2_scale:
            state = ScaleState(
                np.repeat(_fp32(sval * s2)[:, None], vb.size, axis=1), None, None, sval, s2
            )
            ok = np.all(self.round_group(V, state) == V, axis=1)
            if np.any(ok):
                k = int(np.argmax(ok))
                return int(codes[k]), self._element_codes(vb / state.step[k]), None
        elif not fmt.sub_block_size:
            ok = self._exact(V, sval[:, None])
            if np.any(ok):
                k = int(np.argmax(ok))
                return int(codes[k]), self._element_codes(vb / sval[k]), None
        else:
            sub, nsub = fmt.sub_block_size, fmt.block_size // fmt.sub_block_size
            taus = np.arange((1 << fmt.sub_scale_bits) - 1, -1, -1)  # finest first
            fits = np.stack(
                [
                    self._exact(
                        V.reshape(-1, sub), np.repeat(np.ldexp(sval, -t), nsub)[:, None]
                    ).reshape(codes.size, nsub)
                    for t in taus
                ]
            )  # [tau, code, sub]
            ok = fits.any(axis=0).all(axis=1)
            if np.any(ok):
                k = int(np.argmax(ok))
                mi = taus[np.argmax(fits[:, k, :], axis=0)]
                step = np.repeat(np.ldexp(sval[k], -mi), sub)
                return int(codes[k]), self._element_codes(vb / step), mi.astype(np.uint8)
        raise ValueError(f"a block of Q is not on the grid of {fmt} for any scale: {vb!r}")

    def _element_codes(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(numsim.encode(x, self.element))

    # -- helpers --------------------------------------------------------------------------------
    def _tensor_amax(self, W: np.ndarray) -> float:
        return (
            self.tensor_amax
            if self.tensor_amax is not None
            else float(np.max(np.abs(W), initial=0.0))
        )

    def _encode(self, W: np.ndarray) -> BlockArray:
        kw = {"tensor_amax": self._tensor_amax(W)} if self.format.tensor_scale else {}
        x = _as_float32_if_exact(W) if not self.format.pow2_scale else W
        return numsim.encode(x, self.format, axis=1, **kw)

    def describe(self) -> str:
        """A short name, e.g. ``"int4/channel/float"`` or ``"mxfp4_e2m1"``."""
        if self.is_block:
            return str(self.format)
        g = f"group{self.group_size}" if self.granularity == "group" else self.granularity
        return f"{self.format}/{g}/{self.scale}"


def weight_quantizer(
    format: Any,
    *,
    granularity: str | None = None,
    group_size: int | None = None,
    scale: str = "float",
) -> WeightQuantizer:
    """A :class:`WeightQuantizer` for ``format``.

    Args:
        format: a numsim format name or descriptor. Block formats block along the reduction axis;
            element formats need a signed format of at most 16 bits.
        granularity: element formats: ``"tensor"``, ``"channel"`` (default) or ``"group"``; must
            be None for block formats.
        group_size: columns per group (``granularity="group"`` only).
        scale: element formats: ``"float"`` (FP32 ``amax / max``) or ``"pow2"`` (that rounded up
            to a power of two).

    Raises:
        KeyError: unknown format name. ValueError: an option that does not fit the format.
    """
    fmt = _formats.get(format)
    if isinstance(fmt, BlockFormat):
        if granularity is not None or group_size is not None:
            raise ValueError(
                f"granularity={granularity!r}, group_size={group_size!r}: block format {fmt} "
                f"always groups by its block of {fmt.block_size}; expected None"
            )
        if scale != "float":
            raise ValueError(
                f"scale={scale!r}: block format {fmt} carries its own {fmt.scale} scale; "
                "expected the default"
            )
        return WeightQuantizer(fmt)
    if not fmt.signed or fmt.total_bits > 16 or (isinstance(fmt, FloatFormat) and not fmt.has_zero):
        raise ValueError(
            f"format={fmt}: expected a signed element format with zero, of at most 16 bits"
        )
    granularity = "channel" if granularity is None else granularity
    if granularity not in _GRANULARITIES:
        raise ValueError(f"granularity={granularity!r}: expected one of {_GRANULARITIES}")
    if scale not in _SCALES:
        raise ValueError(f"scale={scale!r}: expected one of {_SCALES}")
    if granularity == "group":
        if (
            not isinstance(group_size, (int, np.integer))
            or isinstance(group_size, bool)
            or group_size < 1
        ):
            raise ValueError(f"group_size={group_size!r}: granularity='group' needs a positive int")
        group_size = int(group_size)
    elif group_size is not None:
        raise ValueError(f"group_size={group_size!r}: only granularity='group' takes a group size")
    return WeightQuantizer(fmt, granularity, group_size, scale)


def _as_float32_if_exact(W: np.ndarray) -> np.ndarray:
    """``W`` as float32 when that holds every value exactly (weights of a float32 model, values
    already on an FP32-scaled grid such as NVFP4's), else ``W`` itself. A code depends only on
    the value encoded, so the codes are the same; float32 input takes numsim's NVFP4 fast path
    (one fused kernel for codes and values, a few times faster than the general one and a
    smaller Numba compilation on first use) instead of the general float64 encoder."""
    with np.errstate(over="ignore"):  # beyond float32: not exact, W itself
        W32 = W.astype(np.float32)
    return W32 if np.array_equal(W32, W) else W


def _check_matrix(W: Any, name: str) -> np.ndarray:
    """``W`` as a finite float64 2-D array."""
    arr = np.asarray(W)
    if arr.dtype.kind != "f":
        raise TypeError(f"{name}: dtype {arr.dtype}, expected a float array")
    arr = arr.astype(np.float64, copy=False)
    if arr.ndim != 2:
        raise ValueError(f"{name}: shape {arr.shape}, expected 2-D [d_out, d_in]")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: contains NaN or Inf; weights must be finite")
    return arr


@cache
def _ocp_policies() -> Any:
    """The parsed default (OCP profile) policies of ``numsim.quantize``, parsed once."""
    prof = _profiles.get("ocp")
    return parse_policies(prof.rounding, prof.overflow, prof.nan, None, None, 32, ())


def _round_element(x: np.ndarray, elem: FloatFormat | IntFormat) -> np.ndarray:
    """``numsim.quantize(x, elem)`` of a finite float64 array, as float64, without the public
    entry's argument handling: the encoder ``numsim.quantize`` runs for float64 input into an
    element format under the default profile
    (:func:`numsim.codec.element_codes`), then the decoder ``numsim.decode`` runs (the value
    table up to 16 bits, the arithmetic decoder above: FP32)."""
    bits = np.ascontiguousarray(x, np.float64).reshape(-1).view(np.uint64)
    with serial():
        codes, _ = element_codes(bits, SOURCES["float64"][1], elem, _ocp_policies())
        out = np.empty(bits.size, elem.decode_dtype)
        if elem.total_bits <= 16:
            _kcodec.gather(codes, value_table(elem), out)
        else:
            _kcodec.decode_array(codes, lower(elem), out)
    return out.reshape(np.shape(x)).astype(np.float64)


def _quantize(x: np.ndarray, elem: FloatFormat | IntFormat) -> np.ndarray:
    """``numsim.quantize(x, elem)`` as float64: the public entry with all its checks (the
    rounder of :meth:`WeightQuantizer.round_group`; :func:`_round_element` is the same rounding
    without them)."""
    return np.asarray(numsim.quantize(x, elem), np.float64)


def _nvfp4_values(
    V: np.ndarray,
    step: np.ndarray,
    block_scale: np.ndarray,
    s2: float,
    elem: FloatFormat | IntFormat,
    rnd: Callable[..., np.ndarray],
) -> np.ndarray:
    """NVFP4 values of ``V`` on fixed steps, as numsim's NVIDIA reference quantizer computes them:
    element = E2M1(float32(v / step)), value = float32(element * block_scale * s2); 0 where the
    step is 0 (the block scale times ``s2`` underflowed: the block is zero). ``block_scale``
    broadcasts against ``V``; ``rnd(x, format)`` rounds to nearest even as ``numsim.quantize``
    does (:func:`_quantize` or :func:`_round_element`: the same values)."""
    live = step > 0
    quot = _div_fp32(np.where(live, V, 0.0), np.where(live, step, 1.0), rnd)
    e = rnd(quot, elem)
    return np.where(live, rnd(e * block_scale * s2, _FP32), 0.0)


def _fp32(x: np.ndarray) -> np.ndarray:
    """Round to FP32 (nearest even) through numsim, as float64."""
    return _quantize(np.asarray(x, np.float64), _FP32)


def _element_scale(amax: np.ndarray, elem: FloatFormat | IntFormat, kind: str) -> np.ndarray:
    """``amax / max`` rounded to FP32 (``"float"``) or up to a power of two (``"pow2"``); 1 for
    an all-zero group; at least the smallest FP32 subnormal."""
    r = amax / elem.max
    if kind == "float":
        s = _fp32(r)
        s = np.where(s > 0, s, 2.0**-149)
    else:
        m, e = np.frexp(r)
        s = np.ldexp(1.0, e - (m == 0.5))  # the smallest power of two >= r
        s = np.where(amax > elem.max * s, 2 * s, s)  # r itself was rounded down: never clip
    return np.where(amax > 0, s, 1.0)


def _div_fp32(v: np.ndarray, d: np.ndarray, rnd: Callable[..., np.ndarray]) -> np.ndarray:
    """``v / d`` rounded once to FP32 (nearest even) from the exact quotient; ``v`` finite float64,
    ``d`` FP32 values > 0; ``rnd(x, format)`` rounds as ``numsim.quantize`` does.

    Rounding the float64 quotient to FP32 gives exactly that. A second rounding differs from one
    rounding of the exact quotient only where the float64 quotient lands on an FP32 midpoint
    ``m`` (at most 25 significant bits) that the exact quotient misses, and here it cannot: for a
    power-of-two ``d`` the float64 quotient is exact; otherwise ``m * d`` (at most 25 + 24 bits,
    not a power of two) is exact in float64, so a float64 ``v`` other than it lies at least one
    ulp of ``m * d`` away, which puts ``v / d`` more than half a float64 ulp of ``m`` from ``m``,
    and the float64 quotient is not ``m``. (For FP32 ``v`` this is Figueroa's condition for
    division, 53 >= 2 * 24 + 2; the argument above holds for any float64 ``v``.) A quotient that
    underflows float64 rounds to zero, as the exact one does; above float64's range (``|v| / d
    > 2**1024``, far beyond any weight over its step) the float64 quotient is Inf."""
    return np.copysign(rnd(np.abs(v) / d, _FP32), v)
