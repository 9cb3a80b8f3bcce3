"""Exact, slow reference quantizer for one block of a block-scaled format (pure Python).

Power-of-two scales (MX, BFP, MX9/6/4) follow OCP MX v1.0 §6.3 with the scale rules of
:class:`~numsim.policies.ScaleRule`; floating-point scales (NVFP4) emulate NVIDIA's reference
quantizer (TensorRT-Model-Optimizer ``nvfp4_tensor.py``) step by step in float32 arithmetic, each
float32 operation modelled as an exact result rounded to :data:`numsim.formats.fp32`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from fractions import Fraction

from numsim.formats import BlockFormat, fp32
from numsim.policies import NanPolicy, Overflow, RoundMode, ScaleRule
from numsim.reference.codec import Value, _policy, decode, encode, floor_log2, max_value, pow2


def _is_special(v: Value) -> bool:
    return isinstance(v, float) and (math.isnan(v) or math.isinf(v))


def fl32(q: Value) -> Value:
    """Round an exact value to float32 (nearest-even, overflow to Inf), as a float32 op would."""
    code = encode(fp32, q, rounding=RoundMode.nearest_even, overflow=Overflow.nonsaturate)
    return decode(fp32, code)


def nvfp4_tensor_scale(amax_t: Fraction) -> Fraction:
    """NVFP4 per-tensor scale ``s2 = fl32(amax_t / fl32(6 * 448))``.

    Args:
        amax_t: largest magnitude over the finite values of the tensor.
    """
    return fl32(Fraction(amax_t) / fl32(Fraction(6 * 448)))  # type: ignore[return-value]


def _floor_log2f(amax: Fraction) -> int:
    """``floor(fl32(log2(amax)))`` with a correctly rounded float32 log2 (microxcaling's path)."""
    e = floor_log2(amax)
    k = e + 1  # log2(amax) lies in [k - 1, k); it rounds up to k iff it is within half an ulp
    if k == 0:
        return e
    if k > 0:
        h = pow2(k.bit_length() - (26 if k & (k - 1) == 0 else 25))  # below a power of two: finer
    else:
        h = pow2((-k).bit_length() - 25)
    # Floats only here: 2**-h is irrational; a float64 threshold is far finer (2**-53) than the
    # float32 spacing of any amax this emulates, and an exact tie is impossible (log2 irrational).
    threshold = Fraction(math.ldexp(math.exp2(-float(h)), k))
    return k if amax >= threshold else e


def _shared_exponent(fmt: BlockFormat, amax: Fraction, rule: ScaleRule) -> int:
    """Unclamped shared exponent ``s`` of a block with positive maximum magnitude ``amax``."""
    elem = fmt.element
    e, emax = floor_log2(amax), elem.emax
    if rule == ScaleRule.floor:
        return e - emax
    if rule == ScaleRule.ceil:
        s = e - emax
        return s + 1 if amax > max_value(elem) * pow2(s) else s
    if rule == ScaleRule.even:
        quantum = pow2(e - elem.man_bits)
        r = math.floor(amax / quantum + Fraction(1, 2)) * quantum  # half-up
        return floor_log2(r) - emax
    return _floor_log2f(amax) - emax


def _tensor_scale(fmt: BlockFormat, tensor_scale: Fraction | None) -> Fraction:
    if not fmt.tensor_scale:
        return Fraction(1)
    if tensor_scale is None:
        raise ValueError(
            f"{fmt.name} has a per-tensor scale: pass tensor_scale (see nvfp4_tensor_scale)"
        )
    return Fraction(tensor_scale)


def _quantize_fp_scale(
    fmt: BlockFormat, vals: list[Value], s2: Fraction, elem: Callable[[int, Value], int]
) -> tuple[int, list[int]]:
    """NVFP4-style block (no specials in ``vals``): ModelOpt's float32 steps, exactly rounded."""
    zeros = [0] * len(vals)
    if s2 == 0:
        return encode(fmt.scale, Fraction(1)), zeros
    big_e = max_value(fmt.element)
    # Every float32 step is applied to the exact inputs: for float32 data this is ModelOpt's
    # arithmetic; for wider data the encoding is decided on the exact values.
    amax_b = max(abs(v) for v in vals)
    r = fl32(amax_b / fl32(big_e * s2))
    if r == 0:
        r = Fraction(1)
    scale_code = encode(fmt.scale, r, rounding=RoundMode.nearest_even, overflow=Overflow.saturate)
    sdec = fl32(decode(fmt.scale, scale_code) * s2)
    if sdec == 0:
        return scale_code, zeros
    return scale_code, [elem(i, fl32(v / sdec)) for i, v in enumerate(vals)]


def _as_value(v: Value) -> Value:
    return v if _is_special(v) else Fraction(v)


def quantize_block(
    fmt: BlockFormat,
    values: Sequence[Value],
    *,
    rounding: RoundMode = RoundMode.nearest_even,
    overflow: Overflow = Overflow.saturate,
    scale_rule: ScaleRule = ScaleRule.floor,
    nan: NanPolicy = NanPolicy.raise_error,
    tensor_scale: Fraction | None = None,
    randoms: Sequence[int] | None = None,
    random_bits: int = 0,
) -> tuple[int, list[int], list[int]]:
    """Quantize one block.

    Args:
        fmt: block format.
        values: ``fmt.block_size`` values (Fractions, or float nan/+-inf); zeros are +0.
        rounding: element rounding mode.
        overflow: element overflow policy.
        scale_rule: power-of-two scale rule (ignored for floating-point scales).
        nan: element NaN policy (NaN inputs never reach an element: the block becomes NaN).
        tensor_scale: NVFP4's per-tensor scale ``s2`` (see :func:`nvfp4_tensor_scale`); required
            when ``fmt.tensor_scale``, ignored otherwise.
        randoms: one stochastic-rounding integer per element.
        random_bits: their width R.

    Returns:
        ``(scale_code, element_codes, micro_exponents)``; ``micro_exponents`` has one entry per
        sub-block (empty without sub-blocks).
    """
    if len(values) != fmt.block_size:
        raise ValueError(f"expected {fmt.block_size} values, got {len(values)}")
    scale_rule = _policy(ScaleRule, scale_rule, "scale_rule")
    vals = [_as_value(v) for v in values]
    rnd = list(randoms) if randoms is not None else [0] * len(vals)
    n_sub = fmt.block_size // fmt.sub_block_size if fmt.sub_block_size else 0
    if any(_is_special(v) for v in vals):
        return fmt.scale.nan_code, [0] * len(vals), [0] * n_sub

    def elem(i: int, x: Value) -> int:
        return encode(
            fmt.element,
            x,
            rounding=rounding,
            overflow=overflow,
            nan=nan,
            random=rnd[i],
            random_bits=random_bits,
        )

    if not fmt.pow2_scale:
        return (*_quantize_fp_scale(fmt, vals, _tensor_scale(fmt, tensor_scale), elem), [])

    amax = max(abs(v) for v in vals)
    if amax == 0:
        s = fmt.scale.emin
    else:
        s = min(max(_shared_exponent(fmt, amax, scale_rule), fmt.scale.emin), fmt.scale.emax)
    taus = [0] * (n_sub or 1)
    size = fmt.sub_block_size or fmt.block_size
    for j in range(n_sub):
        sub_amax = max(abs(v) for v in vals[j * size : (j + 1) * size])
        if sub_amax == 0:
            taus[j] = 2**fmt.sub_scale_bits - 1
        else:
            t = floor_log2(sub_amax) - fmt.element.emax
            taus[j] = min(2**fmt.sub_scale_bits - 1, max(0, s - t))
    codes = [elem(i, v / pow2(s - taus[i // size])) for i, v in enumerate(vals)]
    return encode(fmt.scale, pow2(s)), codes, taus[:n_sub]


def decode_block(
    fmt: BlockFormat,
    scale_code: int,
    codes: Sequence[int],
    micro: Sequence[int] = (),
    tensor_scale: Fraction | None = None,
) -> list[Value]:
    """Exact values of one block: element * scale (* 2**-micro) (* tensor scale).

    Args:
        fmt: block format.
        scale_code: the block's scale code; a NaN scale makes every element NaN.
        codes: element codes.
        micro: one microexponent per sub-block (ignored without sub-blocks).
        tensor_scale: NVFP4's ``s2``; required when ``fmt.tensor_scale``.

    Returns:
        Fractions, or float nan/+-inf.
    """
    scale = decode(fmt.scale, scale_code)
    if _is_special(scale):
        return [math.nan] * len(codes)
    if not fmt.pow2_scale:
        scale *= _tensor_scale(fmt, tensor_scale)
    out: list[Value] = []
    for i, c in enumerate(codes):
        v = decode(fmt.element, c)
        if not _is_special(v):  # Inf/NaN elements stay as they are (the scale is positive)
            tau = micro[i // fmt.sub_block_size] if fmt.sub_block_size else 0
            v = v * scale * pow2(-tau)
        out.append(v)
    return out
