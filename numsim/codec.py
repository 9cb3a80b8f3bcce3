"""Public encode / decode / quantize for element and block formats.

Each function validates its arguments, lowers the format to ints and makes one kernel call. Block
formats are handled by :mod:`numsim.block`; this module dispatches to it. Per-format code tables
live in :mod:`numsim._tables`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import formats as _formats
from . import profiles as _profiles
from ._inputs import as_array, as_source, parse_policies, to_float_dtype, to_output
from ._kernels import codec as _k
from ._kernels.lower import lower
from ._kernels.threads import SMALL_VALUES, serial
from ._tables import encode_table, quantize_value_table, table_ok, value_table
from .block import BlockArray, decode_block, encode_block
from .formats import BlockFormat, FloatFormat, IntFormat
from .policies import RoundMode


def _resolve(
    profile: Any, rounding: Any, overflow: Any, nan: Any
) -> tuple[Any, Any, Any, _profiles.Profile]:
    prof = _profiles.get(profile)
    return (
        prof.rounding if rounding is None else rounding,
        prof.overflow if overflow is None else overflow,
        prof.nan if nan is None else nan,
        prof,
    )


def encode(
    x: Any,
    format: Any,
    *,
    axis: int = -1,
    rounding: Any = None,
    overflow: Any = None,
    scale_rule: Any = None,
    nan: Any = None,
    seed: int | None = None,
    random_bits: Any = None,
    sr_bits: int = 32,
    tensor_amax: float | None = None,
    profile: Any = "ocp",
) -> Any:
    """Encode ``x`` into the codes of ``format``.

    Args:
        x: float16, bfloat16 (torch or ml_dtypes), float32 or float64 array or tensor.
        format: a format name or descriptor (element or block).
        axis: block axis (block formats only).
        rounding: a :class:`~numsim.policies.RoundMode` (default from ``profile``: nearest_even).
        overflow: an :class:`~numsim.policies.Overflow` (default from ``profile``: saturate).
        scale_rule: a :class:`~numsim.policies.ScaleRule` for power-of-two block scales.
        nan: a :class:`~numsim.policies.NanPolicy` for NaN into a format without NaN
            (default ``"raise"``).
        seed: seed of the stochastic-rounding stream (element ``i`` of the C-ordered input draws
            its own counter-based random word).
        random_bits: explicit unsigned random integers, one per element (instead of ``seed``).
        sr_bits: random bits per stochastic rounding (1..32).
        tensor_amax: NVFP4 only: the per-tensor amax to derive the FP32 tensor scale from
            (default: the input's finite max).
        profile: a compatibility profile supplying the defaults (:mod:`numsim.profiles`).

    Returns:
        Element formats: unsigned integer codes of ``x``'s shape (torch in, torch out).
        Block formats: a :class:`~numsim.block.BlockArray`.

    Raises:
        KeyError: unknown format name. TypeError: unsupported input dtype.
        ValueError: bad policy, NaN into a format without NaN under ``nan="raise"``, stochastic
            rounding without ``seed``/``random_bits``.
    """
    return _encode(
        x,
        format,
        axis,
        rounding,
        overflow,
        scale_rule,
        nan,
        seed,
        random_bits,
        sr_bits,
        tensor_amax,
        profile,
        None,
    )


def _encode(
    x: Any,
    format: Any,
    axis: int,
    rounding: Any,
    overflow: Any,
    scale_rule: Any,
    nan: Any,
    seed: Any,
    random_bits: Any,
    sr_bits: int,
    tensor_amax: Any,
    profile: Any,
    values_out: Any,
) -> Any:
    """:func:`encode`; with ``values_out`` a block encoding also returns the decoded values."""
    fmt = _formats.get(format)
    rounding, overflow, nan, prof = _resolve(profile, rounding, overflow, nan)
    if isinstance(fmt, BlockFormat):
        if scale_rule is not None and not fmt.pow2_scale:
            raise ValueError(
                f"scale_rule applies to power-of-two scales; {fmt} rounds its {fmt.scale} scale to "
                "nearest as NVIDIA's reference quantizer does"
            )
        return encode_block(
            x,
            fmt,
            axis=axis,
            rounding=rounding,
            overflow=overflow,
            scale_rule=prof.scale_rule if scale_rule is None else scale_rule,
            nan=nan,
            seed=seed,
            random_bits=random_bits,
            sr_bits=sr_bits,
            tensor_amax=tensor_amax,
            values_out=values_out,
        )
    if scale_rule is not None or tensor_amax is not None:
        raise ValueError(
            f"scale_rule/tensor_amax apply to block formats only; {fmt} is an element format"
        )
    return _encode_element(x, fmt, rounding, overflow, nan, seed, random_bits, sr_bits)


def element_codes(
    bits: np.ndarray, src: Any, fmt: FloatFormat | IntFormat, pol: Any
) -> tuple[np.ndarray, int]:
    """Codes of the flat input ``bits`` (a source of :data:`numsim._kernels.lower.SOURCES`) in
    the element format ``fmt`` under the parsed policies ``pol``, and the count of NaN inputs
    refused: the general element encoder, without argument handling (for callers that parse
    their arguments once, such as the per-column rounding of numsim.ptq). Codes of at most 32
    bits go through a uint32 buffer: one ``encode_array`` specialization per input dtype (a
    parallel kernel, tens of seconds of Numba compilation on a cold cache) instead of one per
    input and code dtype."""
    buf = np.empty(bits.size, dtype=np.uint32)
    nerr = _k.encode_array(
        bits,
        src,
        lower(fmt),
        int(pol.mode),
        int(pol.overflow),
        int(pol.nan),
        pol.seed,
        pol.rbits,
        pol.rand,
        buf,
    )
    return buf.astype(fmt.code_dtype, copy=False), nerr


def _encode_element(
    x: Any,
    fmt: FloatFormat | IntFormat,
    rounding: Any,
    overflow: Any,
    nan: Any,
    seed: Any,
    random_bits: Any,
    sr_bits: int,
) -> Any:
    source = as_source(x)
    pol = parse_policies(rounding, overflow, nan, seed, random_bits, sr_bits, source.bits.shape)
    bits = np.ascontiguousarray(source.bits).reshape(-1)
    table = source.dtype == "float32" and pol.mode != RoundMode.stochastic and table_ok(fmt)
    with serial(bits.size < SMALL_VALUES):  # small calls: no thread start-up
        if table:
            out = np.empty(bits.size, dtype=fmt.code_dtype)
            nerr = _k.encode_table(bits, encode_table(fmt, pol.mode, pol.overflow, pol.nan), out)
        else:
            out, nerr = element_codes(bits, source.src, fmt, pol)
    if nerr:
        raise ValueError(
            f"x contains {nerr} NaN value(s) but format {fmt} has no NaN; pass nan='zero' (or "
            "another numsim.NanPolicy) to choose what they become"
        )
    return to_output(out.reshape(source.bits.shape), source.torch)


def decode(codes: Any, format: Any = None) -> Any:
    """Decode element codes (or a :class:`~numsim.block.BlockArray`) into values.

    Args:
        codes: unsigned integer codes (numpy or torch) or a BlockArray.
        format: the element format (not needed for a BlockArray).

    Returns:
        float32 values (float64 for formats that float32 cannot hold exactly), same shape.
    """
    if isinstance(codes, BlockArray):
        if format is not None and _formats.get(format) != codes.format:
            raise ValueError(
                f"format={format!r} does not match the BlockArray's format {codes.format}"
            )
        return decode_block(codes)
    if format is None:
        raise TypeError("decode() needs format= for element codes")
    fmt = _formats.get(format)
    if isinstance(fmt, BlockFormat):
        raise TypeError(
            f"format {fmt} is a block format: decode its BlockArray instead of bare codes"
        )
    given = as_array(codes, "codes")
    arr = given.values
    if given.dtype == "bfloat16" or arr.dtype.kind not in "ui":
        raise TypeError(f"codes: {given.describe()}: expected unsigned integer codes")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >> fmt.total_bits):
        raise ValueError(
            f"codes: values outside 0..{(1 << fmt.total_bits) - 1} for the {fmt.total_bits}-bit "
            f"format {fmt}"
        )
    flat = np.ascontiguousarray(arr).reshape(-1).astype(fmt.code_dtype, copy=False)
    out = np.empty(flat.size, dtype=fmt.decode_dtype)
    with serial(flat.size < SMALL_VALUES):
        if fmt.total_bits <= 16:
            _k.gather(flat, value_table(fmt), out)
        else:
            _k.decode_array(flat, lower(fmt), out)
    return to_output(out.reshape(arr.shape), given.torch)


def quantize(
    x: Any,
    format: Any,
    *,
    axis: int = -1,
    rounding: Any = None,
    overflow: Any = None,
    scale_rule: Any = None,
    nan: Any = None,
    seed: int | None = None,
    random_bits: Any = None,
    sr_bits: int = 32,
    tensor_amax: float | None = None,
    profile: Any = "ocp",
) -> Any:
    """Round ``x`` onto ``format`` and return the values in ``x``'s dtype and shape (fake
    quantization).

    Equal to ``decode(encode(x, format, ...))`` cast to ``x``'s dtype; raises ValueError when a
    quantized value is not exact in that dtype (e.g. bf16 values into float16). Arguments as
    :func:`encode`. Float32 and float64 inputs take one fused pass.
    """
    source = as_source(x)
    fmt = _formats.get(format)
    if not isinstance(fmt, BlockFormat):
        if scale_rule is not None or tensor_amax is not None:
            raise ValueError(
                f"scale_rule/tensor_amax apply to block formats only; {fmt} is an element format"
            )
        fast = _quantize_fast(
            source, fmt, profile, rounding, overflow, nan, seed, random_bits, sr_bits
        )
        if fast is not None:
            return to_output(fast, source.torch)
    elif (
        source.dtype == "float32" and fmt.pow2_scale
    ):  # fused float32 pass (numsim.block.quantize_pow2_fast)
        from .block import quantize_pow2_fast

        r, o, n, prof = _resolve(profile, rounding, overflow, nan)
        fast = quantize_pow2_fast(
            x,
            fmt,
            axis=axis,
            rounding=r,
            overflow=o,
            nan=n,
            seed=seed,
            random_bits=random_bits,
            sr_bits=sr_bits,
            tensor_amax=tensor_amax,
            scale_rule=prof.scale_rule if scale_rule is None else scale_rule,
        )
        if fast is not None:
            return to_output(fast, source.torch)
    values_out = source.dtype if source.dtype in ("float32", "float64") else None
    encoded = _encode(
        x,
        fmt,
        axis,
        rounding,
        overflow,
        scale_rule,
        nan,
        seed,
        random_bits,
        sr_bits,
        tensor_amax,
        profile,
        values_out if isinstance(fmt, BlockFormat) else None,
    )
    if isinstance(fmt, BlockFormat):
        vals = encoded[1] if values_out else decode(encoded)
    else:
        vals = decode(encoded, fmt)
    return to_float_dtype(as_array(vals).values, source)


def _quantize_fast(
    source: Any,
    fmt: Any,
    profile: Any,
    rounding: Any,
    overflow: Any,
    nan: Any,
    seed: Any,
    random_bits: Any,
    sr_bits: Any,
) -> np.ndarray | None:
    """One-pass fake quantization of float32 input into a table-encodable element format."""
    if source.dtype != "float32" or not table_ok(fmt) or fmt.decode_dtype != "float32":
        return None
    rounding, overflow, nan, _ = _resolve(profile, rounding, overflow, nan)
    pol = parse_policies(rounding, overflow, nan, seed, random_bits, sr_bits, source.bits.shape)
    if pol.mode == RoundMode.stochastic:
        return None
    bits = np.ascontiguousarray(source.bits).reshape(-1)
    out = np.empty(bits.size, np.float32)
    table = quantize_value_table(fmt, pol.mode, pol.overflow, pol.nan)
    with serial(bits.size < SMALL_VALUES):
        nnan = _k.quantize_table(bits, table, out)
    if nnan and not fmt.has_nan:
        raise ValueError(
            f"x contains {nnan} NaN value(s) but format {fmt} has no NaN; pass nan='zero' (or "
            "another numsim.NanPolicy) to choose what they become"
        )
    return out.reshape(source.bits.shape)
