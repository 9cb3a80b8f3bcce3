"""Block formats: encode into a :class:`BlockArray`, decode, pack.

Semantics (OCP MX v1.0 §5-§6.3 and arXiv 2310.10537 Algorithm 1; NVFP4: arXiv 2509.25149 App. B
and NVIDIA/TensorRT-Model-Optimizer nvfp4_tensor.py; MX9/MX6/MX4: arXiv 2302.08007):

* Blocks run along ``axis``; a length that is not a multiple of the block is zero-padded (padding
  never changes a scale: zeros do not raise a block maximum).
* Power-of-two scales: the scale exponent follows the :class:`~numsim.policies.ScaleRule` from
  the block maximum's bits, clamped to the scale format's range; an all-zero block takes the
  smallest scale. A NaN or Inf anywhere in a block makes its scale NaN and the whole block NaN.
* Microexponents (MX9/MX6/MX4): each sub-block shifts its scale down by
  ``tau = min(2**bits - 1, s - (floor(log2 amax_sub) - emax))`` binades (the largest shift when the
  sub-block is zero).
* Elements are rounded once, from the exact input value divided by the scale.
* Floating-point scales (NVFP4): NVIDIA's reference quantizer, float32 arithmetic throughout,
  with the FP32 tensor scale ``amax_tensor / (6 * 448)`` from the finite values of the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np

from . import formats as _formats
from ._inputs import as_source, float_values, parse_policies
from ._kernels import block as _kb
from ._kernels import codec as _k
from ._kernels import mxfast as _mxf
from ._kernels.lower import lower
from ._tables import encode_table, float64_values, table_ok
from .formats import BlockFormat, Specials
from .packing import pack as _pack
from .packing import packed_size
from .packing import unpack as _unpack
from .policies import Overflow, RoundMode, ScaleRule

#: The empty value table passed to the block kernels when they write no values (read-only, as
#: :func:`float64_values` tables are, so both calls have one Numba type).
_NO_VALUES = np.empty(0, np.float64)
_NO_VALUES.flags.writeable = False


@dataclass(frozen=True, eq=False)
class BlockArray:
    """Encoded block-format data.

    Attributes:
        codes: element codes, shape ``(*rest, nblocks, block_size)`` where ``rest`` is ``shape``
            without ``axis`` (the block axis moved last and zero-padded).
        scales: scale codes, shape ``(*rest, nblocks)``.
        format: the block format.
        axis: the block axis of the original array (non-negative).
        shape: the original shape.
        micro: microexponents, shape ``(*rest, nblocks, block_size // sub_block_size)``, or None.
        tensor_scale: the FP32 per-tensor scale (NVFP4), or None.
    """

    codes: np.ndarray
    scales: np.ndarray
    format: BlockFormat
    axis: int
    shape: tuple[int, ...]
    micro: np.ndarray | None = None
    tensor_scale: float | None = None

    def __post_init__(self) -> None:
        """Normalise ``format`` (a name or descriptor), ``shape`` and ``axis``, then check every
        invariant (:func:`validate_block_array`), so that no kernel reads past an array."""
        fmt = _block_format(self.format)
        shape = _check_shape(self.shape, "shape")
        object.__setattr__(self, "format", fmt)
        object.__setattr__(self, "shape", shape)
        object.__setattr__(self, "axis", _check_axis(self.axis, len(shape)))
        for name, width, dtype in _code_fields(fmt):
            arr = getattr(self, name)
            if arr is None:
                continue
            if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "ui":
                kind = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
                raise TypeError(f"{name}: {kind}: expected a numpy array of unsigned integer codes")
            _check_range(arr, name, width, fmt)
            if arr.dtype != np.dtype(dtype):
                object.__setattr__(self, name, arr.astype(dtype))
        if fmt.tensor_scale and self.tensor_scale is not None:
            ts = self.tensor_scale
            if isinstance(ts, bool) or not isinstance(ts, (int, float, np.floating, np.integer)):
                raise TypeError(f"tensor_scale={ts!r}: expected a float")
            object.__setattr__(self, "tensor_scale", float(ts))
        validate_block_array(self)

    @property
    def nblocks(self) -> int:
        """Blocks along the block axis."""
        return self.scales.shape[-1]

    def pack(self) -> bytes:
        """Serialize to bytes.

        Layout: [tensor scale: float32 little-endian, NVFP4 only] [scale codes, one per block, each
        in the format's scale storage width] [microexponents, ``sub_scale_bits`` each] [element
        codes, ``element.total_bits`` each, padding included]. Blocks are in C order of the array
        with the block axis moved last; every section is a bit stream as :mod:`numsim.packing`
        describes.

        Raises:
            ValueError, TypeError: the arrays were changed after construction so that an
                invariant no longer holds (checked again here, as decode does: bytes of a
                BlockArray that disagrees with its own shape would unpack to other values).
        """
        validate_block_array(self)
        fmt = self.format
        parts = []
        if fmt.tensor_scale:
            parts.append(np.float32(self.tensor_scale).astype("<f4").tobytes())
        parts.append(_pack(self.scales, fmt.scale_storage_bits or fmt.scale.total_bits))
        if self.micro is not None:
            parts.append(_pack(self.micro, fmt.sub_scale_bits))
        parts.append(_pack(self.codes, fmt.element.total_bits))
        return b"".join(parts)

    @staticmethod
    def unpack(data: bytes, format: Any, shape: tuple[int, ...], axis: int = -1) -> BlockArray:
        """Inverse of :meth:`pack`.

        Raises:
            ValueError: ``data`` has the wrong length for ``format``, ``shape`` and ``axis``.
        """
        fmt = _block_format(format)
        shape = _check_shape(shape, "shape")
        if isinstance(data, np.ndarray) and data.dtype == np.uint8:
            data = data.tobytes()
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: {type(data).__name__}: expected bytes (or a uint8 array)")
        data = bytes(data)
        ax = _check_axis(axis, len(shape))
        rest = shape[:ax] + shape[ax + 1 :]
        nblocks = -(-shape[ax] // fmt.block_size) if shape else 0
        nrest = int(np.prod(rest)) if rest else 1
        nb = nrest * nblocks
        sbits = fmt.scale_storage_bits or fmt.scale.total_bits
        sizes = [4 if fmt.tensor_scale else 0, packed_size(nb, sbits)]
        nsub = fmt.block_size // fmt.sub_block_size if fmt.sub_block_size else 0
        sizes.append(packed_size(nb * nsub, fmt.sub_scale_bits) if nsub else 0)
        sizes.append(packed_size(nb * fmt.block_size, fmt.element.total_bits))
        if len(data) != sum(sizes):
            raise ValueError(
                f"data: {len(data)} bytes, expected {sum(sizes)} for {fmt} with shape {shape}, "
                f"axis {axis}"
            )
        off = np.cumsum([0, *sizes])
        tensor_scale = float(np.frombuffer(data[: off[1]], "<f4")[0]) if fmt.tensor_scale else None
        scales = _unpack(data[off[1] : off[2]], sbits, nb, fmt.scale.code_dtype).reshape(
            *rest, nblocks
        )
        micro = (
            _unpack(data[off[2] : off[3]], fmt.sub_scale_bits, nb * nsub).reshape(
                *rest, nblocks, nsub
            )
            if nsub
            else None
        )
        codes = _unpack(
            data[off[3] : off[4]],
            fmt.element.total_bits,
            nb * fmt.block_size,
            fmt.element.code_dtype,
        ).reshape(*rest, nblocks, fmt.block_size)
        return BlockArray(codes, scales, fmt, ax, shape, micro, tensor_scale)


def _check_shape(shape: Any, argument: str) -> tuple[int, ...]:
    """``shape`` as a tuple of ints >= 0 with at least one dimension, else ValueError/TypeError."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{argument}={shape!r}: expected a tuple of ints") from None
    if any(isinstance(n, bool) or not isinstance(n, (int, np.integer)) for n in dims):
        raise TypeError(f"{argument}={shape!r}: expected a tuple of ints")
    dims = tuple(int(n) for n in dims)
    if not dims or min(dims) < 0:
        raise ValueError(f"{argument}={dims}: expected at least one dimension, none negative")
    return dims


def _code_fields(fmt: BlockFormat) -> list[tuple[str, int, str]]:
    """``(field, bits, dtype)`` of the code arrays of a BlockArray of ``fmt``."""
    return [
        ("codes", fmt.element.total_bits, fmt.element.code_dtype),
        ("scales", fmt.scale.total_bits, fmt.scale.code_dtype),
        ("micro", fmt.sub_scale_bits, "uint8"),
    ]


def _check_range(arr: np.ndarray, name: str, bits: int, fmt: BlockFormat) -> None:
    """ValueError if a code of ``arr`` does not fit ``bits`` bits (one vectorised pass)."""
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >> bits):
        raise ValueError(
            f"{name}: values in {int(arr.min())}..{int(arr.max())}; expected codes in "
            f"0..{(1 << bits) - 1} ({bits} bits) for {fmt}"
        )


def validate_block_array(blk: BlockArray, argument: str = "BlockArray") -> BlockArray:
    """Check the invariants of ``blk`` that the kernels rely on, O(1) in the array sizes except
    for one vectorised range check per code array (arrays are mutable after construction).

    Raises:
        TypeError: a field of the wrong type. ValueError: shapes that disagree with ``shape``,
        ``axis`` and the format, codes out of range, a bad tensor scale.
    """
    fmt = blk.format
    if not isinstance(fmt, BlockFormat):
        raise TypeError(f"{argument}.format={fmt!r}: expected a block format")
    shape, ax = blk.shape, blk.axis
    if not isinstance(shape, tuple) or not shape or not 0 <= ax < len(shape):
        raise ValueError(f"{argument}: axis={ax!r} does not index shape={shape!r}")
    rest = shape[:ax] + shape[ax + 1 :]
    nblocks = -(-shape[ax] // fmt.block_size)
    nsub = fmt.block_size // fmt.sub_block_size if fmt.sub_block_size else 0
    want = {
        "codes": (*rest, nblocks, fmt.block_size),
        "scales": (*rest, nblocks),
        "micro": (*rest, nblocks, nsub) if nsub else None,
    }
    for name, bits, dtype in _code_fields(fmt):
        arr = getattr(blk, name)
        if want[name] is None:
            if arr is not None:
                raise ValueError(f"{argument}.{name}: {fmt} has no microexponents; expected None")
            continue
        if not isinstance(arr, np.ndarray) or arr.dtype != np.dtype(dtype):
            got = arr.dtype if isinstance(arr, np.ndarray) else type(arr).__name__
            raise TypeError(f"{argument}.{name}: {got}: expected a numpy {dtype} array")
        if arr.shape != want[name]:
            raise ValueError(
                f"{argument}.{name}: shape {arr.shape}, expected {want[name]} for shape {shape} "
                f"blocked along axis {ax} in blocks of {fmt.block_size} ({fmt})"
            )
        _check_range(arr, f"{argument}.{name}", bits, fmt)
    ts = blk.tensor_scale
    if fmt.tensor_scale:
        if ts is None or not (isinstance(ts, float) and np.isfinite(ts) and ts >= 0):
            raise ValueError(
                f"{argument}.tensor_scale={ts!r}: expected a finite float >= 0 for {fmt}"
            )
    elif ts is not None:
        raise ValueError(
            f"{argument}.tensor_scale={ts!r}: {fmt} has no tensor scale; expected None"
        )
    return blk


def _block_format(format: Any) -> BlockFormat:
    fmt = _formats.get(format)
    if not isinstance(fmt, BlockFormat):
        raise ValueError(f"format {fmt} is an element format; expected a block format")  # noqa: TRY004
    return fmt


def _check_axis(axis: Any, ndim: int) -> int:
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        # ValueError, as for an axis out of range (callers catch one type for a bad axis)
        raise ValueError(f"axis={axis!r}: expected an int, got {type(axis).__name__}")  # noqa: TRY004
    if not -ndim <= axis < ndim:
        raise ValueError(f"axis={axis!r} is out of range for an array of {ndim} dimension(s)")
    return int(axis) % ndim


def _blocked(a: np.ndarray, ax: int, bs: int) -> np.ndarray:
    """Move ``ax`` last, zero-pad it to a multiple of ``bs``, return rows of ``bs``."""
    a = np.moveaxis(a, ax, -1)
    pad = -a.shape[-1] % bs
    if pad:
        a = np.concatenate([a, np.zeros(a.shape[:-1] + (pad,), a.dtype)], axis=-1)
    return np.ascontiguousarray(a).reshape(-1, bs)


@cache
def _pow2_params(fmt: BlockFormat) -> _kb.Pow2:
    elem = fmt.element
    if isinstance(elem, _formats.IntFormat):
        sig = elem.max_int
    else:
        sig = (1 << elem.man_bits) | (elem.max_code_magnitude & ((1 << elem.man_bits) - 1))
    sig62 = sig << (62 - (sig.bit_length() - 1))
    return _kb.Pow2(
        elem.emax,
        elem.man_bits,
        sig62,
        fmt.scale.emin,
        fmt.scale.emax,
        fmt.scale.nan_code,
        fmt.sub_block_size,
        (1 << fmt.sub_scale_bits) - 1 if fmt.sub_block_size else 0,
    )


@cache
def _fp_params(fmt: BlockFormat) -> _kb.FpScale:
    one = fmt.scale.bias << fmt.scale.man_bits  # exponent field = bias, fraction 0: 1.0
    return _kb.FpScale(fmt.element.max, fmt.scale.nan_code, one)


def _nvfp4_fast(fmt: BlockFormat) -> bool:
    """True if ``fmt`` can take the float32 fast path
    (:func:`numsim._kernels.block.encode_nvfp4_f32`): E2M1 elements, UE4M3 scales, blocks of 16."""
    return (
        fmt.block_size == 16
        and lower(fmt.element) == lower(_formats.fp4_e2m1)
        and lower(fmt.scale) == lower(_formats.ue4m3)
    )


# --- fused float32 fake quantization of power-of-two formats (numsim._kernels.mxfast) ------------


@lru_cache
def _mx_fast_params(fmt: BlockFormat) -> _mxf.MxFast | None:
    """The fused kernel's parameters for ``fmt``, or None if it does not cover ``fmt``: it needs
    power-of-two scales without microexponents and a signed float element with subnormals (not
    fnuz) or a symmetric signed integer element, either exact in float32."""
    elem = fmt.element
    if not fmt.pow2_scale or fmt.sub_block_size or elem.decode_dtype != "float32":
        return None
    if isinstance(elem, _formats.IntFormat):
        if not (elem.signed and elem.symmetric and elem.bits <= 24):
            return None
        lo_exp, k_exp, neg_zero = 23 - elem.frac_bits, 0, 0
    elif (
        isinstance(elem, _formats.FloatFormat)
        and elem.signed
        and elem.subnormals
        and elem.specials != Specials.fnuz
        and elem.man_bits <= 22
    ):
        lo_exp, k_exp, neg_zero = elem.emin, 23 - elem.man_bits, 1
    else:
        return None
    top = np.float32(elem.max)
    if float(top) != elem.max or not top >= np.float32(2.0**-126):
        return None
    return _mxf.MxFast(lo_exp, k_exp, int(top.view(np.uint32)), neg_zero)


def quantize_pow2_fast(
    x: Any,
    fmt: BlockFormat,
    *,
    axis: int,
    rounding: Any,
    overflow: Any,
    scale_rule: Any,
    nan: Any,
    seed: Any,
    random_bits: Any,
    sr_bits: int,
    tensor_amax: Any,
) -> np.ndarray | None:
    """Fake quantization of float32 ``x`` into ``fmt`` in one fused pass (arguments as
    :func:`encode_block`), or None where the fused kernel does not apply: other input dtypes,
    roundings other than nearest-even, overflow other than saturate, formats
    :func:`_mx_fast_params` refuses, or arguments the general path must reject. Blocks the kernel
    leaves (at the edges of the float32 range) go through :func:`encode_block`, bit for bit the same
    as the general path.
    """
    source = as_source(x)
    shape = source.bits.shape
    fp = _mx_fast_params(fmt)
    if fp is None or source.dtype != "float32" or not shape or tensor_amax is not None:
        return None
    pol = parse_policies(rounding, overflow, nan, seed, random_bits, sr_bits, shape)
    if pol.mode != RoundMode.nearest_even or pol.overflow != Overflow.saturate:
        return None
    rule = ScaleRule.parse(scale_rule, "scale_rule")
    ax = _check_axis(axis, len(shape))
    xb = _blocked(source.bits, ax, fmt.block_size).view(np.float32)
    vout = np.empty(xb.shape, np.float32)
    bad = np.empty(xb.shape[0], np.uint8)
    if _mxf.quantize_pow2_f32(xb, _pow2_params(fmt), fp, int(rule), vout, bad):
        rows = np.flatnonzero(bad)
        vout[rows] = encode_block(
            xb[rows],
            fmt,
            axis=1,
            rounding=pol.mode,
            overflow=pol.overflow,
            scale_rule=rule,
            nan=pol.nan,
            seed=None,
            random_bits=None,
            sr_bits=sr_bits,
            tensor_amax=None,
            values_out=np.float32,
        )[1]
    return _unblocked(vout, shape, ax)


def nvfp4_tensor_scale(amax: float, fmt: Any = "nvfp4") -> float:
    """The FP32 per-tensor scale ``float32(amax / float32(elem_max * scale_max))`` (NVFP4: /2688),
    one rounding from the exact ``amax``."""
    fmt = _block_format(fmt)
    a = _check_amax(amax, "amax")
    den = float(np.float32(fmt.element.max) * np.float32(fmt.scale.max))
    scale = float(_kb.div_f32(a, den))
    if not np.isfinite(scale):
        raise ValueError(
            f"amax={amax!r}: the FP32 tensor scale amax / {den:g} overflows float32; {fmt} "
            f"covers magnitudes below about {float(np.finfo(np.float32).max) * den:.3g}"
        )
    return scale


def encode_block(
    x: Any,
    fmt: BlockFormat,
    *,
    axis: int,
    rounding: Any,
    overflow: Any,
    scale_rule: Any,
    nan: Any,
    seed: Any,
    random_bits: Any,
    sr_bits: int,
    tensor_amax: Any,
    values_out: Any = None,
) -> BlockArray:
    """Encode ``x`` into ``fmt`` (arguments as :func:`numsim.encode`, already defaulted).

    With ``values_out`` (a float dtype) a power-of-two format (and NVFP4 on its float32 fast path)
    also computes the decoded values in the same pass and returns ``(BlockArray, values)``.
    """
    fused_values = None
    source = as_source(x)
    shape = source.bits.shape
    if not shape:
        raise ValueError("x: a block format needs at least one dimension")
    ax = _check_axis(axis, len(shape))
    pol = parse_policies(rounding, overflow, nan, seed, random_bits, sr_bits, shape)
    rule = ScaleRule.parse(scale_rule, "scale_rule")
    bs = fmt.block_size
    rest = shape[:ax] + shape[ax + 1 :]
    nblocks = -(-shape[ax] // bs)
    rand = pol.rand
    if pol.mode == RoundMode.stochastic and not rand.size:
        # the seeded stream follows the input's C order, as for element formats
        rand = np.empty(int(np.prod(shape)), np.uint64)
        _k.random_words(pol.seed, rand)
    rand = _blocked(rand.reshape(shape), ax, bs) if rand.size else rand.reshape(0, 0)
    elem = fmt.element
    table = (
        encode_table(elem, pol.mode, pol.overflow, pol.nan)
        if pol.mode != RoundMode.stochastic and table_ok(elem)
        else np.empty(0, np.int16)
    )
    pe = lower(elem)
    micro = None
    if fmt.pow2_scale:
        if tensor_amax is not None:
            raise ValueError(f"tensor_amax applies to formats with a tensor scale; {fmt} has none")
        bits = _blocked(source.bits, ax, bs)
        if source.dtype != "float32":
            table = np.empty(0, np.int16)
        codes = np.empty(bits.shape, elem.code_dtype)
        scales = np.empty(bits.shape[0], fmt.scale.code_dtype)
        nsub = bs // fmt.sub_block_size if fmt.sub_block_size else 0
        micro_flat = np.zeros((bits.shape[0], nsub), np.uint8)
        fused = values_out is not None and elem.total_bits <= 16
        # unfused placeholders typed as a fused call's arrays (the read-only value table, the
        # input's float dtype), so fused and plain encodes share one Numba specialization
        values = float64_values(elem) if fused else _NO_VALUES
        vout = (
            np.empty(bits.shape, values_out)
            if fused
            else np.empty((0, 0), np.float32 if source.dtype == "float32" else np.float64)
        )
        if table.size and not nsub:
            arith_float = (
                isinstance(elem, _formats.FloatFormat)
                and elem.signed
                and elem.subnormals
                and elem.specials != Specials.fnuz
            )
            arith_int = isinstance(elem, _formats.IntFormat) and elem.signed and elem.bits <= 24
            rne = (
                pol.mode == RoundMode.nearest_even
                and pol.overflow == Overflow.saturate
                and (arith_float or arith_int)
            )
            inexact = _kb.encode_pow2_f32(
                bits,
                pe,
                _pow2_params(fmt),
                int(rule),
                int(pol.mode),
                int(pol.overflow),
                int(pol.nan),
                rne,
                table,
                codes,
                scales,
                values,
                vout,
            )
        else:
            inexact = _kb.encode_pow2(
                bits,
                source.src,
                pe,
                _pow2_params(fmt),
                int(rule),
                int(pol.mode),
                int(pol.overflow),
                int(pol.nan),
                pol.seed,
                pol.rbits,
                rand.reshape(-1),
                table,
                codes,
                scales,
                micro_flat,
                values,
                vout,
            )
        if fused:
            if inexact:
                raise ValueError(
                    f"{inexact} quantized value(s) are outside the {np.dtype(values_out)} range"
                )
            fused_values = _unblocked(vout, shape, ax)
        if nsub:
            micro = micro_flat.reshape(*rest, nblocks, nsub)
        tensor_scale = None
    else:
        xf = float_values(source)
        wide = xf.dtype == np.float64
        xb = _blocked(xf, ax, bs)
        if not fmt.tensor_scale:
            tensor_scale = 1.0
        elif tensor_amax is not None:
            tensor_scale = nvfp4_tensor_scale(_check_amax(tensor_amax), fmt)
        elif wide:
            tensor_scale = nvfp4_tensor_scale(_kb.tensor_amax(xf.reshape(-1)), fmt)
        else:  # the padding zeros of xb leave the largest finite magnitude as it is
            tensor_scale = nvfp4_tensor_scale(
                _kb.tensor_amax_f32(xb.reshape(-1).view(np.uint32)), fmt
            )
        codes = np.empty(xb.shape, elem.code_dtype)
        scales = np.empty(xb.shape[0], fmt.scale.code_dtype)
        if (
            not wide
            and pol.mode == RoundMode.nearest_even
            and pol.overflow == Overflow.saturate
            and 0.0 < tensor_scale < np.inf
            and _nvfp4_fast(fmt)
        ):
            fused = values_out is not None and np.dtype(values_out) == np.float32
            vout = np.empty(xb.shape, np.float32) if fused else np.empty((0, 0), np.float32)
            _kb.encode_nvfp4_f32(
                xb,
                tensor_scale,
                pe,
                _fp_params(fmt),
                lower(fmt.scale),
                int(pol.nan),
                table,
                codes,
                scales,
                vout,
            )
            if fused:
                fused_values = _unblocked(vout, shape, ax)
        else:
            _kb.encode_fpscale(
                xb,
                wide,
                tensor_scale,
                pe,
                _fp_params(fmt),
                lower(fmt.scale),
                int(pol.mode),
                int(pol.overflow),
                int(pol.nan),
                pol.seed,
                pol.rbits,
                rand.reshape(-1),
                table,
                codes,
                scales,
            )
        if not fmt.tensor_scale:
            tensor_scale = None
    blk = BlockArray(
        codes.reshape(*rest, nblocks, bs),
        scales.reshape(*rest, nblocks),
        fmt,
        ax,
        tuple(shape),
        micro,
        tensor_scale,
    )
    if values_out is not None:
        return blk, (fused_values if fused_values is not None else decode_block(blk, values_out))
    return blk


def _check_amax(v: Any, argument: str = "tensor_amax") -> float:
    """``v`` as a finite float >= 0, else ValueError (TypeError if it is not a real number)."""
    if isinstance(v, (bool, str, bytes)) or np.ndim(v) != 0:
        raise TypeError(f"{argument}={v!r}: expected a finite number >= 0")
    try:
        a = float(v)
    except (TypeError, ValueError):
        raise TypeError(f"{argument}={v!r}: expected a finite number >= 0") from None
    if not (a >= 0 and np.isfinite(a)):
        raise ValueError(f"{argument}={v!r}: expected a finite number >= 0")
    return a


def decode_block(blk: BlockArray, dtype: Any = np.float32) -> Any:
    """Decode a :class:`BlockArray` to ``dtype`` values of the original shape.

    Raises:
        ValueError: a value is not exact in float32 (beyond its range); pass ``dtype=np.float64``.
    """
    validate_block_array(blk)
    fmt = blk.format
    dtype = np.dtype(dtype)
    if dtype not in (np.float32, np.float64):
        raise TypeError(f"dtype={dtype}: expected float32 or float64")
    bs = fmt.block_size
    codes = blk.codes.reshape(-1, bs)
    out = np.empty(codes.shape, dtype)
    pe = lower(fmt.element)
    if fmt.pow2_scale:
        micro = (
            blk.micro.reshape(codes.shape[0], blk.micro.shape[-1])
            if blk.micro is not None
            else np.zeros((codes.shape[0], 0), np.uint8)
        )
        values = (
            float64_values(fmt.element) if fmt.element.total_bits <= 16 else np.empty(0, np.float64)
        )
        inexact = _kb.decode_pow2(
            codes,
            blk.scales.reshape(-1),
            micro,
            pe,
            values,
            fmt.scale.emin,
            fmt.scale.nan_code,
            fmt.sub_block_size,
            out,
        )
        if inexact:
            raise ValueError(
                f"{inexact} decoded value(s) are outside the float32 range; pass dtype=np.float64"
            )
    else:
        s2 = blk.tensor_scale if fmt.tensor_scale else 1.0
        _kb.decode_fpscale(
            codes, blk.scales.reshape(-1), float(s2), pe, lower(fmt.scale), fmt.scale.nan_code, out
        )
    return _unblocked(out, blk.shape, blk.axis)


def _unblocked(rows: np.ndarray, shape: tuple[int, ...], ax: int) -> np.ndarray:
    """Inverse of :func:`_blocked`: drop the padding and move the block axis back."""
    rest = shape[:ax] + shape[ax + 1 :]
    bs = rows.shape[-1]
    width = -(-shape[ax] // bs) * bs  # explicit: an empty ``rest`` leaves -1 undetermined
    vals = rows.reshape(*rest, width)[..., : shape[ax]]
    return np.ascontiguousarray(np.moveaxis(vals, -1, ax))
