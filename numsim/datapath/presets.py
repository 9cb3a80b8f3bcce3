"""Presets of :class:`DotUnit`: NVIDIA tensor cores, AMD matrix cores, exact MX, MXDOTP, integer and
chunked accumulators. Every preset is a plain ``DotUnit`` value.

NVIDIA (``v100``, ``t4``, ``a100``, ``ada``, ``h100``, ``b200``, ``rtxpro6000``; aliases ``a2``,
``l40s``, ``h200``): block size N and F = 23 + neab fractional bits from Khattak & Mikaitis' MATLAB
models (arXiv 2512.07004; north-numerical-computing/MATLAB-tensor-core models/*.m), RZ to FP32
(RNE to FP16). FP8 on Ada/Hopper keeps 13 fractional bits and a 14-bit result significand
(``FloatFormat(8, 13)``, returned as float32). Turing (``t4-fp16``: N = 8, F = 24) and RTX
Blackwell (``rtxpro6000-*``: the B200 rows) come from MMA-Sim (Xie et al., arXiv 2511.10909;
microsoft/MMA-Sim ``mmasim/simulator/nv_ptx.py``), which models every ``mma``, ``wgmma`` and
``tcgen05.mma`` kernel and was validated bit for bit on the GPUs; every NVIDIA preset follows it
where it differs from the MATLAB models (``mmasim/simulator/arithmetic.py``,
``nv_fused_dot_add``): a zero operand has exponent -126 and its product joins the alignment
maximum (``zero_exponent=-126``; not on Hopper, where an H200 drops zero products: outputs
recorded on the GPU, tests/data/h200; ``{h100 preset}-mmasim``, e.g. ``h100-bf16-mmasim``, is
the Hopper unit as MMA-Sim models it, zero products kept), the eta floor is -126 in both output
modes (a zero c joins at -126), a result rounded to zero is +0 (``underflow_zero="positive"``).
``out="fp16"`` is the FP16-accumulating instruction: C and D in FP16 (``c_format=fp16``), RNE;
the FP8 presets have it too (Ada ``mma .f16.e4m3``, Hopper ``wgmma``, Blackwell
``kind::f8f6f4``). Mixed operands:
``{gpu}-e4m3xe5m2`` and ``{gpu}-e5m2xe4m3`` on every GPU with FP8 rows, ``b200-fp16xbf16`` and
``b200-bf16xfp16`` (``tcgen05.mma kind::f16``), the row of ``a``'s format with ``b_format``.

Where C enters: every NVIDIA preset is the bare instruction (``c_placement == "inside"``: C is
the accumulator input of the first block), as MMA-Sim and the Fasi et al. vectors have it.
``{preset}-epilogue`` (e.g. ``b200-e4m3-epilogue``) is the preset inside a GEMM whose epilogue
adds C with ``beta = 1``: a zero accumulator through the K loop, then one FP32 RNE addition of C
(``c_entry="epilogue"``); it is what dot products measured on a B200 through a library GEMM
(FP8, K = 32, FP32 C) match in every case (the bare instruction: 64 %).

B200 FP8: the published MATLAB models disagree (B200TC: RZ, F = 25; B200TCRN: RNE); the preset
follows B200TC (RZ, F = 25, FP32 out), which is also MMA-Sim's model; build a ``DotUnit`` with
``out_rounding="nearest_even"`` for the other reading. ``{preset}-promote{N}`` (e.g.
``h100-e4m3-promote128``) is DeepSeek-V3's recipe (arXiv 2412.19437 §3.3.2): the preset's chained
blocks restart from
zero every N products and each partial is added to an FP32 accumulator with one RNE rounding.

Others (C enters as ``c_inside`` says, ``DotUnit.c_placement``: ``"late"`` for ``mi210-*`` and
``mi300-*``, ``"inside"`` for the rest; ``{preset}-epilogue`` applies to the ``"inside"`` ones):
Block-scaled NVIDIA instructions, through :func:`numsim.datapath.mx_matmul` (MMA-Sim,
microsoft/MMA-Sim ``mmasim/simulator/arithmetic.py``, validated bit for bit on the GPUs, arXiv
2511.10909; PTX ISA, ``tcgen05.mma`` / ``mma`` with ``.block_scale``). Both have zero operands at
exponent -126 joining the alignment maximum, the eta floor -126 (a zero c joins at -126), a result
rounded to zero is +0, RZ to FP32:

- ``b200-mxf8f6f4`` (alias ``rtxpro6000-mxf8f6f4``; ``kind::mxf8f6f4``): N = 32, F = 25; each
  product ``a_i * b_i * X_A * X_B`` has exponent ``e(a_i) + e(b_i) + e(X_A) + e(X_B)`` with each
  element's exponent in its own format, so A and B may hold different element formats (E4M3,
  E5M2, E3M2, E2M3, E2M1; MXFP8/6/4 BlockArrays with E8M0 scales per 32). FP9 E5M3 is the
  container that holds all of them exactly.
- ``b200-mxf4nvf4`` (alias ``rtxpro6000-mxf4nvf4``; ``kind::mxf4nvf4``): N = 64 as four exact
  groups of 16 products; a group is one term at the exponent of its two scales, F = 35. MXFP4
  (E8M0 per 32), E8M0 per 16 and NVFP4 (UE4M3 per 16; NVFP4's FP32 tensor scale is not part of the
  instruction: ``mx_matmul`` applies it to the result as a GEMM epilogue does).

Others:

- ``ocp-mx-exact``: OCP MX Dot/DotGeneral (§6.1-6.2) with exact internal precision: blocks of 32
  exact products summed exactly, together with c, over all of K, and one RNE rounding to FP32 at
  the end (the spec leaves the internal precision open; this is its exact reading).
- ``ocp-mx-fp32acc``: each block of 32 summed exactly and rounded once (RNE) to FP32, the block
  results added in FP32 with RNE (DotGeneral as a sum of FP32 Dots).
- ``mxdotp``: MXDOTP (arXiv 2505.13159; pulp-platform/cvfpu): blocks of 8 FP8 products (FP9 E5M3
  internal format) summed exactly
  together with the FP32 accumulator ("early accumulation"), one RNE rounding per block.
- ``fma-fp32``: IEEE 754 sequential fused multiply-add in FP32 (``d = RNE(c + a*b)`` per product,
  an exact zero -0 only for ``-0 + -0``: ``exact_zero="ieee"``), the FP32 ``mfma`` of CDNA1-3
  (MMA-Sim ``amd.py``, libm ``fmaf``) and the behaviour the Fasi et al. suite expects of A100's
  binary64 DMMA (Fasi et al., PeerJ CS 7:e330), in FP32.
- ``fma-fp64``: the same sequential fused multiply-add in IEEE binary64 (``acc = C``, then
  ``acc = RNE_64(acc + a_k * b_k)`` for k = 0 .. K - 1, one rounding per step, subnormals kept,
  IEEE signed zeros and specials); A, B, C and D are float64 (``numsim.datapath.dot`` /
  ``matmul`` take and return float64; the FP32 consumers refuse it). C is the first accumulator
  (no epilogue). It is MMA-Sim's model of every FP64 kernel (``acc = fma(a, b, acc)`` with libm's
  ``fma``; microsoft/MMA-Sim ``mmasim/simulator/nv_ptx.py``, the float64 branch, and
  ``mmasim/simulator/amd.py``, ``operation_type = "fma"``, ``group_size = 1``), 12 kernels, all
  reproduced bit for bit (tests/test_mmasim.py): NVIDIA ``mma.m8n8k4.f64.f64.f64.f64`` on Ampere,
  Ada Lovelace, Hopper, Blackwell and RTX Blackwell, ``mma.m16n8k4``, ``m16n8k8`` and ``m16n8k16``
  ``.f64`` on Hopper (``mmasim/isa/nv_ptx/nv_mma.py``, the sm_80 and sm_90a f64 lists); AMD
  ``mfma_f64_16x16x4f64`` and ``mfma_f64_4x4x4f64`` on CDNA2, ``mfma_f64_16x16x4_f64`` and
  ``mfma_f64_4x4x4_4b_f64`` on CDNA3 (``mmasim/isa/amd.py``).
- ``int8-acc{P}`` / ``int8-acc{P}-sat``: int8 products added one by one into a P-bit register that
  wraps (or saturates); every overflow is counted (P = 2N + ceil(log2 K) bits never
  overflow).
- ``fp8-chunked``: Wang et al. 2018 (arXiv 1812.08011): E5M2 products (exact in FP16), FP16 RNE
  accumulation in chunks of 64, chunk sums added in FP16 RNE.
- AMD: microsoft/MMA-Sim (``mmasim/simulator/amd.py``, ``arithmetic.py``; validated bit for bit
  on MI100, MI210/MI250 and MI300, arXiv 2511.10909), which every AMD ``mfma`` kernel with a
  preset reproduces bit for bit (tests/test_mmasim.py); where the MATLAB-tensor-core models
  (``models/MI100MC.m``, ``MI210MC.m``, ``MI300AMC.m``/``MI300XMC.m`` and
  ``models/tools/Generic_BFMA_TC.m``) differ, numsim follows MMA-Sim (docs/semantics.md):

  - ``mi100-fp16`` (N = 4) and ``mi100-bf16`` (N = 2): every product rounded to FP32 (RNE), the
    block summed as a binary tree of FP32 RNE additions, c added last; subnormals kept
    (``MI100MC.m`` sums each block exactly with one rounding instead).
  - ``mi210-fp16``, ``mi210-bf16`` (aliases ``mi250-*``, ``mi250x-*``): pairwise summation with
    RNE, FTZ of input and output subnormals, a product beyond the FP32 range an Inf leaf of the
    tree (``MI210MC.m`` settles it before the tree). ``mi210-bf16-n2``: the same on pairs, the
    pre-``_1k`` BF16 instructions (``MI210MC.m`` uses quads).
  - ``mi300-fp16``, ``mi300-bf16`` (N = 8), ``mi300-xf32`` (N = 4, TF32 operands): zero operands
    at exponent -126 join the alignment maximum; products truncated to 24 fraction bits below
    their largest exponent ``e``; c added late at ``E = max(e, e_c)``, the product sum floored
    to 31 and c to 24 fraction bits below ``E``; RNE to FP32; a product of ``2**128`` or more
    is +-Inf (NaN with both signs) whatever c.
  - ``mi300-e4m3fnuz``, ``mi300-e5m2fnuz`` and the mixed ``mi300-e4m3fnuzxe5m2fnuz``,
    ``mi300-e5m2fnuzxe4m3fnuz`` (N = 16; FNUZ operands, each in its own format): the even- and
    odd-indexed products aligned as two groups, each group sum floored to 24 fraction bits below
    the larger group exponent, then as MI300 FP16, with c dropped when ``e_c < E - 25``.
    Aliases ``mi300a-*``, ``mi300x-*``.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import replace
from typing import NamedTuple

from .. import formats as _formats
from ..formats import FloatFormat
from ..policies import RoundMode
from .unit import Accumulator, DotUnit

#: MXDOTP's internal FP9 format: holds every E5M2 and E4M3 value exactly.
fp9_e5m3 = FloatFormat(5, 3, name="fp9_e5m3")
#: FP32 container with a 14-bit significand (1 + 13): Hopper/Ada FP8 results (neab = -10).
fp32_m13 = FloatFormat(8, 13, name="fp32_m13")


class _Row(NamedTuple):
    """One row of the NVIDIA parameter table."""

    n: int  #: products per block
    frac_bits: int  #: F = 23 + neab
    min_exp: int | None  #: eta floor, FP32 out (None: no floor)
    min_exp_fp16: int | None  #: eta floor, FP16 out; None: no FP16-out mode
    out_format: FloatFormat  #: FP32-out result format


_F32 = _formats.fp32
_FP8 = ("e4m3", "e5m2")
_IN = {
    "fp16": _formats.fp16,
    "bf16": _formats.bf16,
    "tf32": _formats.tf32,
    "e4m3": _formats.fp8_e4m3,
    "e5m2": _formats.fp8_e5m2,
}
#: NVIDIA eta floor in both output modes: c always joins the maximum, a zero c at -126 (MMA-Sim
#: ``nv_fused_dot_add``); the MATLAB models' -132 / -133 (FP32) and -19 .. -21 (FP16) never bind
#: once a zero c joins.
_NV_FLOOR = -126
#: Exponent of a zero operand in the NVIDIA datapaths (MMA-Sim, arXiv 2511.10909), by GPU. On
#: Hopper a product with a zero factor is dropped instead (None): an H200 returns c untruncated
#: where every product of a block is zero next to huge operands, which MMA-Sim's rule truncates
#: (tests/test_h200.py, recorded on the GPU); the other GPUs keep MMA-Sim's rule.
_NV_ZERO_EXP: dict[str, int | None] = {"h100": None}
#: Names of the Hopper presets' GPU, which have a ``-mmasim`` variant (MMA-Sim's zero products).
_HOPPER = ("h100", "h200")


def _rows(n: int, frac_bits: int, fp16_out: bool, out: FloatFormat = _F32) -> _Row:
    return _Row(n, frac_bits, _NV_FLOOR, _NV_FLOOR if fp16_out else None, out)


_BLACKWELL = {
    **{k: _rows(16, 25, True) for k in ("fp16", "bf16")},
    "tf32": _rows(8, 25, False),
    **{k: _rows(32, 25, True) for k in _FP8},
}
#: gpu -> input -> row: block size N and F from the MATLAB-tensor-core models (models/*.m),
#: confirmed by MMA-Sim (``mmasim/simulator/nv_ptx.py``), which also gives the FP8 rows an FP16
#: output mode; Turing and RTX Blackwell from MMA-Sim (no MATLAB model of Turing; the MATLAB
#: ``RTXPRO6000TC.m`` calls ``B200TC``).
_TABLE: dict[str, dict[str, _Row]] = {
    "v100": {"fp16": _rows(4, 23, True)},
    "t4": {"fp16": _rows(8, 24, True)},
    "a100": {
        **{k: _rows(8, 24, True) for k in ("fp16", "bf16")},
        "tf32": _rows(4, 24, False),
    },
    "ada": {
        **{k: _rows(8, 24, True) for k in ("fp16", "bf16")},
        "tf32": _rows(4, 24, False),
        **{k: _rows(16, 13, True, fp32_m13) for k in _FP8},
    },
    "h100": {
        **{k: _rows(16, 25, True) for k in ("fp16", "bf16")},
        "tf32": _rows(8, 25, False),
        **{k: _rows(32, 13, True, fp32_m13) for k in _FP8},
    },
    "b200": dict(_BLACKWELL),
    "rtxpro6000": dict(_BLACKWELL),
}
#: GPU aliases: same model.
_GPU_ALIASES = {"a2": "a100", "l40s": "ada", "h200": "h100"}
#: Mixed operand pairs ``{a}x{b}`` per GPU (the row of ``a``'s format, ``b_format`` from ``b``):
#: every GPU with FP8 rows runs E4M3 x E5M2 and E5M2 x E4M3 (``mma``/``wgmma``/``tcgen05.mma``
#: ``kind::f8f6f4``); Blackwell ``tcgen05.mma kind::f16`` also FP16 x BF16 (MMA-Sim
#: ``mmasim/isa/nv_ptx/*.py``).
_MIXED: dict[str, tuple[str, ...]] = {
    gpu: (("e4m3xe5m2", "e5m2xe4m3") if "e4m3" in rows else ())
    + (("fp16xbf16", "bf16xfp16") if gpu == "b200" else ())
    for gpu, rows in _TABLE.items()
}


def _inputs(gpu: str) -> list[str]:
    """Input suffixes of one GPU's presets: its table rows and its mixed pairs."""
    return [*_TABLE[gpu], *_MIXED[gpu]]


def _build(gpu: str, inp: str, row: _Row) -> DotUnit:
    """The FP32-out unit of one table row (``inp`` may be a mixed pair ``{a}x{b}``).

    NVIDIA knobs (MMA-Sim, the bare instruction): zero operands at exponent -126 joining the
    alignment maximum (Hopper: zero products dropped, as measured on an H200), eta floor -126, a
    result rounded to zero is +0, c inside the block (``c_inside=True``, ``c_entry=None``:
    ``c_placement`` is ``"inside"``; left None so that ``replace(unit, c_inside=False)`` gives a
    late-c variant).
    """
    a, _, b = inp.partition("x")
    return DotUnit(
        name=f"{gpu}-{inp}",
        in_format=_IN[a],
        n=row.n,
        frac_bits=row.frac_bits,
        raw_product_exponent=True,
        term_rounding=RoundMode.toward_zero,
        c_inside=True,
        min_exp=row.min_exp,
        out_format=row.out_format,
        out_rounding=RoundMode.toward_zero,
        zero_exponent=_NV_ZERO_EXP.get(_GPU_ALIASES.get(gpu, gpu), -126),
        underflow_zero="positive",
        b_format=_IN[b] if b else None,
    )


_RNE = RoundMode.nearest_even
_FP32_RNE = Accumulator.floating(_F32, _RNE)
#: AMD CDNA3 (MI300) ``mfma`` with FP16, BF16, XF32 and FP8 operands (MMA-Sim
#: ``mmasim/simulator/amd.py`` and ``arithmetic.py``, ``amd_fused_dot_rd_add``): products aligned
#: at their largest exponent (zero operands at -126 joining it), truncated to 24 fraction bits;
#: c added late at ``E = max(e, e_c)``, the product sum floored to 31 and c to 24 fraction bits;
#: RNE to FP32; a product of 2**128 or more is +-Inf (NaN with both signs) whatever c.
_CDNA3 = {
    "c_inside": False,
    "c_entry": "late",
    "out_rounding": _RNE,
    "zero_exponent": -126,
    "late_frac_bits": (31, 24),
    "late_rounding": RoundMode.toward_negative,
    "product_limit": 128,
}
_FNUZ = {"e4m3fnuz": _formats.fp8_e4m3fnuz, "e5m2fnuz": _formats.fp8_e5m2fnuz}
#: CDNA3 FP8 operand pairs (``mfma`` ``fp8_fp8``, ``fp8_bf8``, ``bf8_fp8``, ``bf8_bf8``).
_FNUZ_PAIRS = tuple((a, b) for a in _FNUZ for b in _FNUZ)
#: Presets outside the NVIDIA table (module docstring).
_OTHERS: dict[str, DotUnit] = {
    u.name: u
    for u in [
        DotUnit("ocp-mx-exact", _F32, 32, None, out_rounding=_RNE, accumulator=Accumulator.exact()),
        DotUnit("ocp-mx-fp32acc", _F32, 32, None, out_rounding=_RNE, accumulator=_FP32_RNE),
        DotUnit("mxdotp", fp9_e5m3, 8, None, out_rounding=_RNE),
        DotUnit("fma-fp32", _F32, 1, None, out_rounding=_RNE, exact_zero="ieee"),
        DotUnit(
            "fma-fp64",
            _formats.fp64,
            1,
            None,
            out_format=_formats.fp64,
            c_format=_formats.fp64,
            out_rounding=_RNE,
            exact_zero="ieee",
        ),
        DotUnit(
            "fp8-chunked",
            _formats.fp8_e5m2,
            1,
            None,
            out_format=_formats.fp16,
            out_rounding=_RNE,
            accumulator=Accumulator.floating(_formats.fp16, _RNE),
            chunk=64,
            outer=Accumulator.floating(_formats.fp16, _RNE),
        ),
        *(
            DotUnit(
                f"mi100-{k}",
                _IN[k],
                n,
                None,
                c_inside=False,
                out_rounding=_RNE,
                pairwise=True,
            )
            for k, n in (("fp16", 4), ("bf16", 2))
        ),
        *(
            DotUnit(
                f"mi210-{name}",
                _IN[k],
                n,
                None,
                c_inside=False,
                out_rounding=_RNE,
                subnormals_in=False,
                subnormals_out=False,
                pairwise=True,
            )
            for k, n, name in (("fp16", 4, "fp16"), ("bf16", 4, "bf16"), ("bf16", 2, "bf16-n2"))
        ),
        *(
            DotUnit(f"mi300-{k}", _IN[k] if k != "xf32" else _formats.tf32, n, 24, **_CDNA3)
            for k, n in (("fp16", 8), ("bf16", 8), ("xf32", 4))
        ),
        *(
            DotUnit(
                f"mi300-{a}" if a == b else f"mi300-{a}x{b}",
                _FNUZ[a],
                16,
                24,
                b_format=None if a == b else _FNUZ[b],
                odd_even=True,
                odd_even_rounding=RoundMode.toward_negative,
                late_c_drop=25,
                **_CDNA3,
            )
            for a, b in _FNUZ_PAIRS
        ),
    ]
}
#: Block-scaled NVIDIA instructions (through :func:`numsim.datapath.mx_matmul`; module docstring):
#: the MMA-Sim arithmetic (microsoft/MMA-Sim ``mmasim/simulator/arithmetic.py``,
#: ``nv_fused_dot_add`` and ``nv_fused_dot_add_with_block_scale``).
_NV_SILICON = {"zero_exponent": -126, "min_exp": -126, "underflow_zero": "positive"}
_BLOCK_SCALED: dict[str, DotUnit] = {
    u.name: u
    for u in [
        DotUnit(
            "b200-mxf8f6f4",
            fp9_e5m3,
            32,
            25,
            element_exponents="own",
            **_NV_SILICON,  # type: ignore[arg-type]
        ),
        DotUnit(
            "b200-mxf4nvf4",
            fp9_e5m3,
            64,
            35,
            element_exponents="own",
            group=16,
            group_exponent="scales",
            **_NV_SILICON,  # type: ignore[arg-type]
        ),
    ]
}
#: RTX Blackwell runs the B200 arithmetic (MMA-Sim ``mmasim/simulator/nv_ptx.py``).
_BLOCK_SCALED_ALIASES = {"rtxpro6000": "b200"}

#: AMD GPUs that use another GPU's model (MATLAB-tensor-core MI*MC.m).
_AMD_ALIASES = {"mi250": "mi210", "mi250x": "mi210", "mi300a": "mi300", "mi300x": "mi300"}
#: Example widths listed by names() for the int8-acc{P} family (any P in [2, 62] is accepted).
_INT_EXAMPLES = (16, 20, 24, 32)


def int_acc(bits: int, overflow: str = "wrap") -> DotUnit:
    """``int8-acc{bits}``: int8 products added one by one into a ``bits``-bit register."""
    suffix = "-sat" if overflow == "saturate" else ""
    return DotUnit(
        f"int8-acc{bits}{suffix}",
        _formats.int8,
        1,
        None,
        accumulator=Accumulator.integer(bits, overflow),
    )


def names() -> list[str]:
    """All preset names (aliases included), sorted."""
    out = [f"{gpu}-{inp}" for gpu in _TABLE for inp in _inputs(gpu)]
    out += [f"{alias}-{inp}" for alias, gpu in _GPU_ALIASES.items() for inp in _inputs(gpu)]
    out += [
        f"{alias}-{u.split('-', 1)[1]}"
        for alias, gpu in _AMD_ALIASES.items()
        for u in _OTHERS
        if u.startswith(gpu + "-")
    ]
    out += list(_BLOCK_SCALED) + [
        f"{alias}-{u.split('-', 1)[1]}" for alias in _BLOCK_SCALED_ALIASES for u in _BLOCK_SCALED
    ]
    out += (
        list(_OTHERS)
        + [f"int8-acc{p}" for p in _INT_EXAMPLES]
        + ["int8-acc32-sat", "h100-e4m3-promote128", "b200-e4m3-epilogue"]
        + [f"h100-{inp}-mmasim" for inp in _inputs("h100")]
    )
    return sorted(out)


def get(name: str, out: str = "fp32") -> DotUnit:
    """The preset unit ``name`` (e.g. ``"h100-e4m3"``).

    Every NVIDIA preset is the bare instruction (``c_placement == "inside"``: C is the accumulator
    input of the first block, as MMA-Sim and the Fasi et al. measurements have it).
    ``{preset}-epilogue`` (e.g. ``b200-e4m3-epilogue``) is the same unit inside a GEMM whose
    epilogue adds C with ``beta = 1``: the K loop from a zero accumulator, then one FP32 RNE
    addition of C (``c_entry="epilogue"``); dot products measured on a B200 through a library
    GEMM (FP8, K = 32, FP32 C) match it in every case and the bare instruction in 64 %.
    ``{preset}-mmasim`` (Hopper only, e.g. ``h100-e4m3-mmasim``) is the Hopper unit as MMA-Sim
    models it: a product with a zero factor keeps exponent ``-126 + e_other`` and joins the
    alignment maximum (``zero_exponent=-126``), where the plain ``h100-*`` presets drop it, as
    outputs recorded on an H200 show (tests/data/h200).

    Args:
        name: preset name, see :func:`names`.
        out: ``"fp32"`` (RZ; the FP32-out datapath) or ``"fp16"`` (RNE to FP16, C and D in FP16:
            ``c_format=fp16``; only presets with an FP16-output mode).

    Raises:
        KeyError: unknown name (the message lists close matches).
        ValueError: bad ``out``, or ``out="fp16"`` for a preset without an FP16-out mode.
    """
    if not isinstance(name, str):
        raise TypeError(f"name={name!r}: expected a preset name string")
    key = name.strip().lower()
    if out not in ("fp32", "fp16"):
        raise ValueError(f"out={out!r}: expected 'fp32' or 'fp16'")
    promote = re.fullmatch(r"(.+)-promote(\d+)", key)
    if promote:
        base = get(promote.group(1), out)
        return replace(
            base,
            name=key if out == "fp32" else f"{key}@fp16",
            chunk=int(promote.group(2)),
            outer=_FP32_RNE,
        )
    if key.endswith("-mmasim"):
        base = get(key[: -len("-mmasim")], out)
        if base.name.partition("-")[0] not in _HOPPER:
            raise ValueError(
                f"name={name!r}: only the Hopper presets ({', '.join(_HOPPER)}) differ from "
                "MMA-Sim; every other NVIDIA preset already is its model"
            )
        return replace(base, name=f"{key}@fp16" if out == "fp16" else key, zero_exponent=-126)
    if key.endswith("-epilogue"):
        base = get(key[: -len("-epilogue")], out)
        if base.c_placement != "inside":
            raise ValueError(f"name={name!r}: only a unit with c inside the block has an epilogue")
        return replace(base, name=key if out == "fp32" else f"{key}@fp16", c_entry="epilogue")
    gpu, _, inp = key.partition("-")
    block_scaled = f"{_BLOCK_SCALED_ALIASES.get(gpu, gpu)}-{inp}"
    if block_scaled in _BLOCK_SCALED:
        if out != "fp32":
            raise ValueError(f"out={out!r}: preset {key!r} has one output mode (out='fp32')")
        return replace(_BLOCK_SCALED[block_scaled], name=key)
    if gpu in _AMD_ALIASES and f"{_AMD_ALIASES[gpu]}-{inp}" in _OTHERS:
        if out != "fp32":
            raise ValueError(f"out={out!r}: preset {key!r} has one output mode (out='fp32')")
        return replace(_OTHERS[f"{_AMD_ALIASES[gpu]}-{inp}"], name=key)
    intacc = re.fullmatch(r"int8-acc(\d+)(-sat)?", key)
    if intacc or key in _OTHERS:
        if out != "fp32":
            raise ValueError(f"out={out!r}: preset {key!r} has one output mode (out='fp32')")
        return (
            int_acc(int(intacc.group(1)), "saturate" if intacc.group(2) else "wrap")
            if intacc
            else _OTHERS[key]
        )
    table_gpu = _GPU_ALIASES.get(gpu, gpu)
    rows = _TABLE.get(table_gpu, {})
    row = rows.get(inp)
    if row is None and inp in _MIXED.get(table_gpu, ()):
        row = rows[inp.partition("x")[0]]
    if row is None:
        close = difflib.get_close_matches(key, names(), n=4, cutoff=0.5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        raise KeyError(f"unknown datapath preset {name!r}{hint}")
    unit = replace(_build(gpu, inp, row), name=key)
    if out == "fp32":
        return unit
    if row.min_exp_fp16 is None:
        raise ValueError(f"out='fp16': preset {key!r} has no FP16-output mode")
    return replace(
        unit,
        name=f"{key}@fp16",
        min_exp=row.min_exp_fp16,
        out_format=_formats.fp16,
        out_rounding=RoundMode.nearest_even,
        c_format=_formats.fp16,
    )
