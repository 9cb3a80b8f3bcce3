"""Dot-product unit descriptors: the generic block-FMA unit and its accumulators.

One invocation of a unit computes ``d = c + sum(a_i * b_i)`` over a block of ``n`` products:

1. Inputs are exact in ``in_format`` (``b`` in ``b_format`` when given); zero products are
   dropped unless ``zero_exponent`` is set (with ``subnormals_in=False`` subnormal a, b and c
   are first flushed to zero). NaN anywhere gives NaN; +Inf and -Inf
   together, or Inf * 0, give NaN; otherwise an Inf gives that Inf.
2. Each operand is ``x = sig * 2**e`` with ``e = max(floor(log2|x|), in_format.emin)``. Products are
   exact; their exponent is ``e_a + e_b`` (``raw_product_exponent``, NVIDIA) or
   ``floor(log2|a*b|)``. With ``zero_exponent = z`` a zero operand has exponent ``z``, and a
   product with a zero factor is kept with exponent ``e_a + e_b`` (NVIDIA: ``z = -126``; it can
   win the maximum of step 4).
3. ``c`` (its exponent from the bits, ``max(floor(log2|c|), c_format.emin)``: a subnormal FP32 c
   counts as -126, a subnormal FP16 c as -14) joins the alignment if ``c_inside`` and it is
   non-zero, or zero with ``zero_exponent`` set (then at exponent ``zero_exponent``).
4. ``eta = max(product exponents, exp(c))``, then ``eta = max(eta, min_exp)``.
5. Every term is put on the grid ``2**(eta - frac_bits)`` by ``term_rounding`` applied to its
   magnitude (``toward_zero``: truncation in sign-magnitude, no guard/round/sticky bits).
   ``frac_bits=None`` keeps every term exact (an exact, Kulisch-style block sum). With
   ``odd_even`` the even- and odd-indexed products are aligned and summed as two groups, each
   with its own eta, and the two group sums are added exactly.
6. The terms are summed exactly into the block sum ``S``. With ``c_inside=False`` a non-zero ``c``
   is added to ``S`` afterwards ("late"): of the two, the one with the smaller exponent
   (``floor(log2|S|)`` against c's exponent from step 3; on a tie, c) is put on the grid
   ``2**(e - frac_bits)`` of the larger one's exponent ``e`` by ``term_rounding``, the larger
   is kept whole, and the two are added exactly. With ``frac_bits=None`` c is added exactly.
   With ``late_frac_bits = (F_S, F_c)`` (AMD CDNA3) the late addition is instead at the common
   exponent ``E = max(e, e_c)``, where ``e`` is the alignment exponent of the products (eta of
   step 4, not the exponent of their sum; with ``odd_even`` the larger of the two groups') and
   ``e_c`` c's exponent from step 3 (a zero c at ``zero_exponent``): ``S`` goes on the grid
   ``2**(E - F_S)`` and c on ``2**(E - F_c)``, both by ``late_rounding``, and the two are added
   exactly; with ``late_c_drop = d`` a c with ``e_c < E - d`` is taken as zero. With
   ``odd_even_rounding`` the two odd/even group sums (each on the grid ``2**(e_g - frac_bits)``
   of its own eta ``e_g``) are first put on the grid ``2**(max(e_0, e_1) - frac_bits)`` by that
   rounding and then added (instead of added exactly).
7. The exact sum is rounded once to ``out_format`` by ``out_rounding``; a result whose exponent
   exceeds the format's ``emax`` (or rounds beyond max) is +-Inf. Subnormal results are kept
   unless ``subnormals_out`` is False (then they become a zero of the same sign). An exact zero
   sum is +0 (with ``exact_zero="ieee"``: -0 when c and every product are zeros of negative
   sign, as IEEE 754 §6.3 gives ``-0 + -0 = -0``; a product's sign is the exclusive or of its
   factors'); a non-zero sum whose block result is a zero keeps its sign, or is +0 with
   ``underflow_zero="positive"`` (NVIDIA).

FP64: a unit with an ``fp64`` (IEEE binary64) format in any of ``in_format``, ``b_format``,
``out_format`` or ``c_format`` must be the sequential binary64 fused multiply-add (the ``fma-fp64``
preset; :func:`is_fma64`): all four fp64, ``n = 1``, exact terms, a chain accumulator, RNE,
subnormals kept, ``exact_zero="ieee"`` and c inside (the first accumulator), so every step is
``acc = RNE_64(acc + a * b)`` with IEEE specials and signed zeros (steps 1-7 with one product).
Any other unit is refused (ValueError naming the field): the other kernels carry FP32. There is no
FP64 epilogue (``c_entry="epilogue"`` is refused: an epilogue adds c in FP32). Operands, c and
results are float64; :func:`numsim.datapath.dot` and :func:`numsim.datapath.matmul` run it, the
FP32 consumers (``mx_matmul``, the torch hook and PTQ, the RTL twins) refuse it.

With ``product_limit = L`` (AMD CDNA3) a block whose operands are all finite but which has a
product with ``|a_i * b_i| >= 2**L`` is +Inf when every such product is positive, -Inf when
every one is negative, NaN when both occur; c and the other products do not matter.

Where the caller's ``c`` enters (``c_entry``): ``"inside"`` (the accumulator input of the first
block, ``c_inside=True``: the bare ``mma``/``wgmma``/``tcgen05.mma`` instruction), ``"late"``
(``c_inside=False``, step 6) or ``"epilogue"``: the blocks run along K from a zero accumulator
(which enters as ``c_inside`` says) and ``c`` is added to the unit's result afterwards by one
FP32 round-to-nearest-even addition, ``D = RNE_fp32(d + c)`` with IEEE signed zeros and specials,
as a GEMM library's epilogue with ``beta = 1`` does. The result of an epilogue unit is FP32.
With ``zero_exponent = z`` (NVIDIA: -126) a zero operand has exponent ``z`` in step 2: a product
with a zero factor is kept, with exponent ``e_a + e_b`` (plus the block scales' exponents for MX
operands), and joins the maximum of step 4, as does a zero c inside the block.

Block-scaled instructions (MX operands through :func:`numsim.datapath.mx_matmul`):

- ``element_exponents="own"``: each operand's elements take their exponents in their own element
  format (an E4M3 subnormal at -6, E5M2 at -14, E3M2 at -2, E2M3 and E2M1 at 0), so the two
  operands of a product may come from different element formats (``kind::mxf8f6f4``: E4M3, E5M2,
  E3M2, E2M3 or E2M1 on each side, one E8M0 scale per 32 elements). ``in_format`` is then only a
  container that holds every element exactly. ``"in_format"`` (default): elements are decoded
  into ``in_format`` and take their exponents there (MXDOTP's FP9 E5M3).
- ``group = g`` with ``group_exponent="scales"``: the products of each run of ``g`` elements
  (within one scale block of each operand) are summed exactly first; the group is one term whose
  value is that sum times the two scales and whose alignment exponent is the sum of the two
  scales' exponents only (the sum is not normalised; a zero sum still joins the maximum, a zero
  scale has exponent ``zero_exponent``). Steps 4-7 then run on the ``n / g`` group terms and c
  (``kind::mxf4nvf4``: K = 64 as four groups of 16).

``pairwise`` units (AMD CDNA2) replace steps 4-7 by a tree of rounded additions: every product
(position ``i`` of the block, a zero product included) is rounded to ``out_format`` by
``out_rounding`` (so a product beyond the format's range is +-Inf, and a subnormal one flushes
unless ``subnormals_out``); neighbours are added in pairs, ``(p0 + p1), (p2 + p3), ...``, an odd
one out moving up unchanged, level by level until one value is left; then ``c`` is added. Every
addition is one rounding of the exact sum to ``out_format`` (specials as in step 1); such a unit
has ``frac_bits=None`` and ``c_inside=False``.

For K > n the blocks are combined by the unit's ``accumulator`` (:class:`Accumulator`):

- ``chain`` (tensor cores): ``c_{j+1} = d_j``, the rounded block result; the first c is the
  caller's ``c``.
- ``floating(format, rounding)``: every block runs with ``c = 0``; ``acc = round(acc + d_j)`` in the
  accumulator format (one rounding of the exact sum); ``acc`` starts at the caller's ``c``.
- ``exact``: a Kulisch accumulator holds the exact sum of ``c`` and of every block's aligned sum
  (step 6, before rounding); the total is rounded once to ``out_format`` at the end.
- ``integer(bits, overflow)``: integer inputs (``IntFormat``); each block's exact integer sum is
  added
  to a ``bits``-bit two's-complement register that wraps or saturates; every overflow is counted.

With ``chunk`` (a multiple of ``n``) the accumulator restarts from zero every ``chunk`` products
and each chunk's result is added into the ``outer`` accumulator (``float``, ``exact`` or ``int``;
the caller's ``c`` starts the outer one): chunk-based accumulation (Wang et al. 2018), multi-stage
integer accumulators (P-bit tiles into a wider register) and DeepSeek-V3's promotion of tensor-core
partial sums to FP32 every N_C = 128 products.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .. import formats as _formats
from ..formats import FloatFormat, IntFormat
from ..policies import AccKind, RoundMode
from ._lower import dot_product

#: Largest significand width of an accumulator word: the block sum is an int64.
_SUM_BITS = 62
#: Input formats a unit accepts (the product of two significands must fit an int64 comfortably).
_MAX_IN_PRECISION = 24
#: Accumulator kinds: the names of :class:`~numsim.policies.AccKind` (the kernels' integers).
ACC_KINDS = tuple(k.name for k in AccKind)
#: Integer overflow behaviours.
INT_OVERFLOWS = ("wrap", "saturate")
#: Signs of a block result that rounds to zero (``DotUnit.underflow_zero``).
UNDERFLOW_ZEROS = ("signed", "positive")
#: Places where the caller's c enters (``DotUnit.c_entry``).
C_ENTRIES = ("inside", "late", "epilogue")
#: Where MX elements take their exponents (``DotUnit.element_exponents``).
ELEMENT_EXPONENTS = ("in_format", "own")
#: Alignment exponents of a product group (``DotUnit.group_exponent``).
GROUP_EXPONENTS = ("scales",)
#: Signs of an exact zero block sum (``DotUnit.exact_zero``).
EXACT_ZEROS = ("positive", "ieee")
#: Roundings of the CDNA3 late addition and of the odd/even group sums.
LATE_ROUNDINGS = (RoundMode.toward_zero, RoundMode.nearest_even, RoundMode.toward_negative)


def _as_float_format(value: Any, argument: str) -> FloatFormat:
    """Resolve a format name or FloatFormat, or raise naming ``argument``."""
    fmt = _formats.get(value) if isinstance(value, str) else value
    if not isinstance(fmt, FloatFormat):
        raise TypeError(f"{argument}={value!r}: expected a FloatFormat or a float format name")
    return fmt


def _check_ieee_in_f32(fmt: FloatFormat, argument: str) -> None:
    """``fmt`` is an IEEE-style format whose values are all exact in FP32 (the kernels' carrier)."""
    f32 = _formats.fp32
    if (
        fmt.specials != _formats.Specials.ieee
        or not fmt.signed
        or fmt.man_bits > f32.man_bits
        or fmt.emax > f32.emax
        or fmt.emin < f32.emin
        or fmt.emin - fmt.man_bits < f32.emin - f32.man_bits
    ):
        raise ValueError(
            f"{argument}={fmt}: expected an IEEE-style format whose values are exact in float32"
        )


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass(frozen=True)
class Accumulator:
    """How a unit's block results are combined along K (see the module docstring).

    Build with :meth:`chain`, :meth:`floating`, :meth:`exact` or :meth:`integer`.
    """

    kind: str = "chain"  #: chain | float | exact | int
    format: FloatFormat | None = None  #: float: the accumulator format
    rounding: RoundMode = RoundMode.nearest_even  #: float: rounding of each addition
    bits: int | None = None  #: int: register width P (two's complement)
    overflow: str = "wrap"  #: int: wrap | saturate

    @classmethod
    def chain(cls) -> Accumulator:
        """Blocks chained through c (tensor cores)."""
        return cls("chain")

    @classmethod
    def floating(
        cls, format: str | FloatFormat = "fp32", rounding: str | RoundMode = RoundMode.nearest_even
    ) -> Accumulator:
        """A floating-point accumulator: ``acc = round(acc + x)``, one rounding per addition."""
        return cls("float", format=format, rounding=rounding)  # type: ignore[arg-type]

    @classmethod
    def exact(cls) -> Accumulator:
        """An exact (Kulisch) accumulator: one rounding at the very end."""
        return cls("exact")

    @classmethod
    def integer(cls, bits: int, overflow: str = "wrap") -> Accumulator:
        """A ``bits``-bit two's-complement integer register that wraps or saturates."""
        return cls("int", bits=bits, overflow=overflow)

    def __post_init__(self) -> None:
        if self.kind not in ACC_KINDS:
            raise ValueError(f"kind={self.kind!r}: expected one of {', '.join(ACC_KINDS)}")
        if self.kind == "float":
            fmt = _as_float_format("fp32" if self.format is None else self.format, "format")
            _check_ieee_in_f32(fmt, "format")
            object.__setattr__(self, "format", fmt)
            object.__setattr__(self, "rounding", RoundMode.parse(self.rounding, "rounding"))
            if self.rounding not in (
                RoundMode.toward_zero,
                RoundMode.nearest_even,
                RoundMode.nearest_away,
                RoundMode.toward_positive,
                RoundMode.toward_negative,
            ):
                raise ValueError(
                    f"rounding={self.rounding.name}: expected a deterministic rounding mode"
                )
        elif self.format is not None:
            raise ValueError(f"format={self.format}: only a float accumulator has a format")
        if self.kind == "int":
            if not _is_int(self.bits) or not 2 <= self.bits <= 62:
                raise ValueError(f"bits={self.bits!r}: expected an int in [2, 62]")
            if self.overflow not in INT_OVERFLOWS:
                raise ValueError(f"overflow={self.overflow!r}: expected 'wrap' or 'saturate'")
        elif self.bits is not None:
            raise ValueError(f"bits={self.bits}: only an int accumulator has a width")

    def __str__(self) -> str:
        if self.kind == "float":
            return f"float({self.format}, {self.rounding.name})"
        if self.kind == "int":
            return f"int({self.bits}, {self.overflow})"
        return self.kind


CHAIN = Accumulator.chain()


@dataclass(frozen=True)
class DotUnit:
    """A block-FMA dot-product unit with its accumulator (arXiv 2512.07004); frozen, hashable.

    Args:
        name: label; what ``str()`` returns.
        in_format: element format of ``a`` and ``b``: a FloatFormat (fp16, bf16, tf32, fp8_e4m3,
            ...) or, for integer units, an IntFormat (int8, ...).
        n: products per block (one hardware invocation).
        frac_bits: F, fractional bits kept below the alignment exponent eta (grid
            ``2**(eta-F)``); None: terms are exact (exact block sum).
        raw_product_exponent: True: product exponent ``e_a + e_b`` of the unnormalised significand
            product (NVIDIA); False: ``floor(log2|a*b|)``.
        term_rounding: how a term is put on the alignment grid: ``toward_zero`` (sign-magnitude
            truncation) or ``nearest_even``.
        c_inside: True: a non-zero ``c`` joins the alignment like a product; False: ``c`` is
            added to the aligned product sum just before the final rounding ("late"; the
            smaller of the two is aligned to the larger on the grid of ``frac_bits``).
        min_exp: floor of eta (the models' ``min_exp_limit``); None for no floor.
        out_format: result format (fp32, fp16, bf16 or a reduced FloatFormat such as
            ``FloatFormat(8, 13)``); results are returned as float32 values. ``fp64`` only for
            the sequential binary64 FMA unit (``fma-fp64``, float64 results; see below).
        out_rounding: final rounding, ``toward_zero`` or ``nearest_even``.
        subnormals_out: False flushes subnormal results to a zero of the same sign.
        subnormals_in: False flushes subnormal a and b (and the caller's c) to zero (FTZ).
        odd_even: align and sum even- and odd-indexed products as two groups (AMD CDNA3 FP8).
        pairwise: no alignment; products rounded to ``out_format`` and summed in a binary tree
            of rounded additions, c added last (AMD CDNA2); needs ``frac_bits=None`` and
            ``c_inside=False``.
        accumulator: how block results combine along K (:class:`Accumulator`; default chain).
        chunk: products per chunk (a multiple of ``n``); the accumulator restarts every chunk and
            the chunk results go to ``outer``. None: no chunking.
        outer: accumulator of the chunk results (float, exact or int); required with ``chunk``.
        zero_exponent: None: products with a zero factor are dropped (the MATLAB-tensor-core
            models, ``Generic_BFMA_TC.m``); an int ``z``: a zero operand has exponent ``z`` and
            such a product joins the alignment maximum with exponent ``e_a + e_b`` (with MX
            scales, plus their exponents), as does a zero c inside the block. NVIDIA: -126
            (MMA-Sim, microsoft/MMA-Sim ``mmasim/simulator/arithmetic.py``, validated on the
            GPUs, arXiv 2511.10909): ``0 * 2**127`` in BF16 or TF32 has exponent 1 and can
            set the alignment grid of every other term.
        underflow_zero: ``"signed"``: a non-zero block sum that rounds (or flushes) to zero keeps
            its sign; ``"positive"``: it is +0 (MMA-Sim rounds the normalised significand to an
            integer, which loses the sign; ``mmasim/simulator/arithmetic.py``). Applies to block
            results and to the one rounding of an exact accumulator.
        c_format: format of ``c``: its values must be exact in it and a subnormal c takes this
            format's emin as its alignment exponent (fp32, or fp16 for the FP16-accumulating
            NVIDIA kernels whose C and D are FP16; MMA-Sim ``nv_fused_dot_add``).
        b_format: element format of ``b`` when it differs from ``in_format`` (mixed operands:
            ``e4m3 x e5m2`` on Ada, Hopper and Blackwell; ``f16 x bf16`` on Blackwell
            ``tcgen05.mma kind::f16``; MMA-Sim ``mmasim/isa/nv_ptx/*.py``). Each operand takes
            its exponent in its own format (emin -6 for an E4M3 subnormal, -14 for E5M2).
            None: ``in_format``.
        c_entry: where the caller's c enters (module docstring): ``"inside"`` (needs
            ``c_inside=True``), ``"late"`` (needs ``c_inside=False``) or ``"epilogue"`` (zero
            accumulator through the K loop, then one FP32 RNE addition of c; measured on a B200
            through a library GEMM, FP8, K = 32, beta = 1). None: as ``c_inside`` says.
            (MMA-Sim, microsoft/MMA-Sim ``mmasim/simulator/arithmetic.py``,
            ``extract_significand_exponent``, validated on the GPUs, arXiv 2511.10909).
        underflow_zero: ``"signed"``: a non-zero block sum that rounds (or flushes) to zero keeps
            its sign; ``"positive"``: it is +0 (MMA-Sim rounds the normalised significand to an
            integer, which loses the sign; ``mmasim/simulator/arithmetic.py``).
        element_exponents: MX operands only: ``"in_format"`` (elements take their exponents in
            ``in_format``) or ``"own"`` (each operand's elements in their own element format, so
            mixed element formats keep their own subnormal exponents: MMA-Sim
            ``nv_fused_dot_add`` takes each operand's exponent in its dtype; PTX ISA,
            ``tcgen05.mma`` ``kind::mxf8f6f4`` accepts E4M3, E5M2, E2M3, E3M2 and E2M1 for A
            and B independently).
        group: MX operands only: products summed exactly in runs of ``group`` before the
            alignment (a divisor of ``n`` and of the MX block size); None: every product is a
            term. MMA-Sim ``nv_fused_dot_add_with_block_scale`` (``kind::mxf4nvf4``: 16).
        group_exponent: alignment exponent of a group: ``"scales"``, the sum of the two block
            scales' exponents (the group sum is not normalised); required with ``group``.
        late_frac_bits: ``(F_S, F_c)``: a late c (``c_inside=False``) is added at the common
            exponent ``E = max(e, e_c)`` of the products' alignment exponent ``e`` and c's
            exponent, the product sum on the grid ``2**(E - F_S)``, c on ``2**(E - F_c)``
            (module docstring, step 6). AMD CDNA3: ``(31, 24)`` (MMA-Sim
            ``amd_fused_dot_rd_add``; the MATLAB-tensor-core ``Generic_BFMA_TC.m``,
            ``AddTwoNonNormSums``). None: the smaller partial on the larger one's grid.
        late_rounding: how the two partials of ``late_frac_bits`` go on their grids:
            ``toward_zero``, ``nearest_even`` or ``toward_negative`` (floor: CDNA3). None:
            ``term_rounding``.
        odd_even_rounding: with ``odd_even``: each group sum is put on the grid
            ``2**(max(e_0, e_1) - frac_bits)`` by this rounding before the two are added
            (CDNA3 FP8: ``toward_negative``; required with ``late_frac_bits``). None: the group
            sums are added exactly.
        late_c_drop: with ``late_frac_bits``: c is taken as zero when ``e_c < E - late_c_drop``
            (CDNA3 FP8: 25). None: never.
        product_limit: ``L``: a block with a finite product ``|a_i b_i| >= 2**L`` is +-Inf (NaN
            when such products have both signs), whatever c (CDNA3: 128, the FP32 range; MMA-Sim
            ``amd_fused_dot_rd_add``). None: no limit (the sum is rounded as it is).
        exact_zero: sign of an exact zero block sum: ``"positive"`` (+0) or ``"ieee"`` (-0 when
            c and every product are -0, IEEE 754 §6.3: the sequential FMA of ``fma-fp32``, libm
            ``fmaf`` in MMA-Sim ``amd.py``).
    """

    name: str  #: label, returned by ``str()``
    in_format: FloatFormat | IntFormat  #: element format of a and b
    n: int  #: products per block
    frac_bits: int | None  #: F: alignment grid 2**(eta - F); None: exact terms
    raw_product_exponent: bool = True  #: product exponent e_a + e_b (else floor(log2|ab|))
    term_rounding: RoundMode = RoundMode.toward_zero  #: rounding of each term onto the grid
    c_inside: bool = True  #: c joins the alignment (else added after the block sum)
    min_exp: int | None = None  #: floor of eta; None for none
    out_format: FloatFormat = _formats.fp32  #: result format (decoded into float32)
    out_rounding: RoundMode = RoundMode.toward_zero  #: final rounding
    subnormals_out: bool = True  #: False: subnormal results flush to zero
    subnormals_in: bool = True  #: False: subnormal inputs flush to zero
    odd_even: bool = False  #: even/odd-indexed products aligned as two groups
    pairwise: bool = False  #: products rounded and summed in a binary tree of rounded additions
    accumulator: Accumulator = CHAIN  #: combination of block results along K
    chunk: int | None = None  #: products per chunk (restart + outer accumulation)
    outer: Accumulator | None = None  #: accumulator of the chunk results
    zero_exponent: int | None = None  #: exponent of a zero operand (None: zero products dropped)
    underflow_zero: str = "signed"  #: sign of a block result that rounds to zero: signed | positive
    c_format: FloatFormat = _formats.fp32  #: format of c (exactness, emin of a subnormal c)
    b_format: FloatFormat | None = None  #: element format of b (None: in_format)
    c_entry: str | None = None  #: inside | late | epilogue (None: as c_inside says)
    element_exponents: str = "in_format"  #: MX element exponents: in_format | own
    group: int | None = None  #: MX: products summed exactly in runs of group (None: none)
    group_exponent: str | None = None  #: alignment exponent of a group: scales
    late_frac_bits: tuple[int, int] | None = None  #: (F_S, F_c) of a late c at E = max(e, e_c)
    late_rounding: RoundMode | None = None  #: rounding of the late partials (None: term_rounding)
    odd_even_rounding: RoundMode | None = None  #: odd/even group sums' rounding (None: exact)
    late_c_drop: int | None = None  #: c taken as 0 when e_c < E - late_c_drop
    product_limit: int | None = None  #: a product >= 2**L in magnitude makes the block +-Inf/NaN
    exact_zero: str = "positive"  #: sign of an exact zero block sum: positive | ieee

    def __post_init__(self) -> None:
        fin = self.in_format
        if isinstance(fin, str):
            fin = _formats.get(fin)
        if not isinstance(fin, (FloatFormat, IntFormat)):
            raise TypeError(
                f"in_format={self.in_format!r}: expected a FloatFormat, an IntFormat or a format "
                "name"
            )
        object.__setattr__(self, "in_format", fin)
        object.__setattr__(self, "out_format", _as_float_format(self.out_format, "out_format"))
        object.__setattr__(self, "c_format", _as_float_format(self.c_format, "c_format"))
        if self.b_format is not None:
            object.__setattr__(self, "b_format", _as_float_format(self.b_format, "b_format"))
        object.__setattr__(
            self, "term_rounding", RoundMode.parse(self.term_rounding, "term_rounding")
        )
        object.__setattr__(self, "out_rounding", RoundMode.parse(self.out_rounding, "out_rounding"))
        self._check_ints()
        self._check_formats()
        for arg in ("term_rounding", "out_rounding"):
            if getattr(self, arg) not in (RoundMode.toward_zero, RoundMode.nearest_even):
                raise ValueError(
                    f"{arg}={getattr(self, arg).name}: expected toward_zero or nearest_even"
                )
        if self.frac_bits is not None and self.sum_bits > _SUM_BITS:
            raise ValueError(
                f"frac_bits={self.frac_bits}, n={self.n}: the block sum needs {self.sum_bits} "
                "bits, "
                f"more than the {_SUM_BITS} of the int64 accumulator"
            )
        self._check_accumulators()
        self._check_silicon_knobs()
        self._check_block_scale_knobs()
        self._check_amd_knobs()
        if self._fp64_fields():
            self._check_fp64()

    def _fp64_fields(self) -> list[str]:
        """Names of the format fields wider than FP32 (binary64: the FP64 FMA unit only)."""
        fields = ("in_format", "b_format", "out_format", "c_format")
        return [
            f
            for f in fields
            if isinstance(getattr(self, f), FloatFormat) and getattr(self, f).total_bits > 32
        ]

    def _check_fp64(self) -> None:
        """A unit with an FP64 format is the sequential binary64 FMA (:func:`is_fma64`) or a
        ValueError naming the first offending argument."""
        f64 = _formats.fp64
        for arg in ("in_format", "b_format", "out_format", "c_format"):
            fmt = getattr(self, arg)
            if fmt is not None and fmt != f64:
                raise ValueError(
                    f"{arg}={fmt}: a unit with an FP64 format is the sequential binary64 FMA; "
                    f"expected {arg}=fp64 (in_format, out_format and c_format all fp64)"
                )
        if self.c_entry == "epilogue":
            raise ValueError(
                "c_entry='epilogue': the FP64 FMA unit has no epilogue (an epilogue adds c in "
                "FP32); c enters the chain as its first accumulator (c_entry='inside')"
            )
        bad = _fma64_violations(self)
        if bad:
            raise ValueError(
                f"{self._fp64_fields()[0]}=fp64: only the sequential binary64 FMA unit takes FP64 "
                f"(the 'fma-fp64' preset); this unit has {', '.join(bad)}"
            )

    def _check_ints(self) -> None:
        """Types and ranges of the scalar fields."""
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"name={self.name!r}: expected a non-empty string")
        if not _is_int(self.n):
            raise TypeError(f"n={self.n!r}: expected an int")
        if self.n < 1:
            raise ValueError(f"n={self.n}: expected >= 1")
        if self.frac_bits is not None:
            if not _is_int(self.frac_bits):
                raise TypeError(f"frac_bits={self.frac_bits!r}: expected an int or None")
            if self.frac_bits < 0:
                raise ValueError(f"frac_bits={self.frac_bits}: expected >= 0")
        for arg in ("min_exp", "chunk"):
            v = getattr(self, arg)
            if v is not None and not _is_int(v):
                raise TypeError(f"{arg}={v!r}: expected an int or None")
        for arg in (
            "raw_product_exponent",
            "c_inside",
            "subnormals_out",
            "subnormals_in",
            "odd_even",
            "pairwise",
        ):
            if not isinstance(getattr(self, arg), bool):
                raise TypeError(f"{arg}={getattr(self, arg)!r}: expected a bool")

    def _check_formats(self) -> None:
        """The input and output formats are within what the kernels represent exactly (FP64
        formats: :meth:`_check_fp64`)."""
        if self._fp64_fields():
            return
        fin, fout = self.in_format, self.out_format
        if isinstance(fin, IntFormat):
            if not fin.signed or fin.bits > 24:
                raise ValueError(
                    f"in_format={fin}: expected a signed integer format of at most 24 bits"
                )
        else:
            if (
                not fin.signed
                or fin.precision > _MAX_IN_PRECISION
                or not fin.has_zero
                or fin.field0_normal
            ):
                raise ValueError(
                    f"in_format={fin}: expected a signed float format with zero and at most "
                    f"{_MAX_IN_PRECISION} significand bits"
                )
            if fin.emax > 127 or fin.emin - fin.man_bits < -149:
                raise ValueError(f"in_format={fin}: values must be exact in float32")
        _check_ieee_in_f32(fout, "out_format")

    def _check_accumulators(self) -> None:
        """The accumulator, chunk and outer fields fit together."""
        acc, outer = self.accumulator, self.outer
        if not isinstance(acc, Accumulator):
            raise TypeError(f"accumulator={acc!r}: expected a numsim.datapath.Accumulator")
        if outer is not None and not isinstance(outer, Accumulator):
            raise TypeError(f"outer={outer!r}: expected a numsim.datapath.Accumulator or None")
        is_int = isinstance(self.in_format, IntFormat)
        if is_int != (acc.kind == "int"):
            raise ValueError(
                f"accumulator={acc}: an integer in_format needs an int accumulator and an int "
                f"accumulator needs an integer in_format (in_format={self.in_format})"
            )
        if self.odd_even and self.c_inside:
            raise ValueError(
                "odd_even=True needs c_inside=False (c is added to the two group sums)"
            )
        if self.pairwise:
            if is_int or self.frac_bits is not None or self.c_inside or self.odd_even:
                raise ValueError(
                    f"pairwise=True needs a float in_format, frac_bits=None, c_inside=False and "
                    f"odd_even=False (in_format={self.in_format}, frac_bits={self.frac_bits}, "
                    f"c_inside={self.c_inside}, odd_even={self.odd_even})"
                )
            if acc.kind == "exact":
                raise ValueError(
                    "pairwise=True with accumulator=exact: a pairwise block has no exact sum to "
                    "accumulate"
                )
        if (self.chunk is None) != (outer is None):
            raise ValueError(
                f"chunk={self.chunk}, outer={outer}: give both (chunked accumulation) or neither"
            )
        if acc.kind == "exact" and self.chunk is not None:
            raise ValueError("accumulator=exact with chunk: an exact accumulator needs no chunks")
        if self.chunk is not None:
            if self.chunk < self.n or self.chunk % self.n:
                raise ValueError(f"chunk={self.chunk}: expected a positive multiple of n={self.n}")
            if outer.kind == "chain":
                raise ValueError("outer=chain: expected a float, exact or int outer accumulator")
            if outer.kind == "int" and not is_int:
                raise ValueError("outer=int(...) needs an integer unit (an int inner accumulator)")

    def _check_silicon_knobs(self) -> None:
        """``zero_exponent``, ``underflow_zero``, ``c_format``, ``b_format`` and ``c_entry``."""
        is_float = isinstance(self.in_format, FloatFormat)
        z = self.zero_exponent
        if z is not None:
            if not _is_int(z):
                raise TypeError(f"zero_exponent={z!r}: expected an int or None")
            if not -1000 <= z <= 0:
                raise ValueError(f"zero_exponent={z}: expected an int in [-1000, 0] or None")
            if not is_float:
                raise ValueError(f"zero_exponent={z}: only a float unit aligns its terms")
        if self.underflow_zero not in UNDERFLOW_ZEROS:
            raise ValueError(
                f"underflow_zero={self.underflow_zero!r}: expected one of "
                f"{', '.join(UNDERFLOW_ZEROS)}"
            )
        fp64 = bool(self._fp64_fields())
        if not fp64:
            _check_ieee_in_f32(self.c_format, "c_format")
        fb = self.b_format
        if fb is not None and not fp64:
            if not is_float:
                raise ValueError(f"b_format={fb}: an integer unit has one in_format")
            if (
                not fb.signed
                or fb.precision > _MAX_IN_PRECISION
                or not fb.has_zero
                or fb.field0_normal
                or fb.emax > 127
                or fb.emin - fb.man_bits < -149
            ):
                raise ValueError(
                    f"b_format={fb}: expected a signed float format with zero, at most "
                    f"{_MAX_IN_PRECISION} significand bits, values exact in float32"
                )
        ce = self.c_entry
        if ce is not None:
            if ce not in C_ENTRIES:
                raise ValueError(f"c_entry={ce!r}: expected one of {', '.join(C_ENTRIES)} or None")
            if ce == "inside" and not self.c_inside:
                raise ValueError("c_entry='inside' needs c_inside=True")
            if ce == "late" and self.c_inside:
                raise ValueError("c_entry='late' needs c_inside=False")
            if ce == "epilogue" and not is_float:
                raise ValueError("c_entry='epilogue' needs a float unit (an FP32 epilogue)")

    def _check_block_scale_knobs(self) -> None:
        """``element_exponents``, ``group`` and ``group_exponent``."""
        is_float = isinstance(self.in_format, FloatFormat)
        if self.element_exponents not in ELEMENT_EXPONENTS:
            raise ValueError(
                f"element_exponents={self.element_exponents!r}: expected one of "
                f"{', '.join(ELEMENT_EXPONENTS)}"
            )
        g, ge = self.group, self.group_exponent
        if g is None:
            if ge is not None:
                raise ValueError(f"group_exponent={ge!r}: only a unit with a group has one")
            return
        if not _is_int(g):
            raise TypeError(f"group={g!r}: expected an int or None")
        if g < 1 or self.n % g:
            raise ValueError(f"group={g}: expected a positive divisor of n={self.n}")
        if ge not in GROUP_EXPONENTS:
            raise ValueError(
                f"group_exponent={ge!r}: expected one of {', '.join(GROUP_EXPONENTS)} with a group"
            )
        if (
            not is_float
            or self.frac_bits is None
            or not self.c_inside
            or self.odd_even
            or self.pairwise
            or self.accumulator.kind != "chain"
            or self.chunk is not None
        ):
            raise ValueError(
                f"group={g}: needs a float unit with frac_bits, c_inside=True, a chain "
                f"accumulator and no odd_even, pairwise or chunk (frac_bits={self.frac_bits}, "
                f"c_inside={self.c_inside}, accumulator={self.accumulator}, chunk={self.chunk})"
            )

    def _check_amd_knobs(self) -> None:
        """``late_frac_bits``, ``late_rounding``, ``odd_even_rounding``, ``late_c_drop``,
        ``product_limit`` and ``exact_zero``."""
        is_float = isinstance(self.in_format, FloatFormat)
        lf = self.late_frac_bits
        if lf is not None:
            if (
                not isinstance(lf, tuple)
                or len(lf) != 2
                or not all(_is_int(v) and 0 <= v <= 48 for v in lf)
            ):
                raise ValueError(
                    f"late_frac_bits={lf!r}: expected a tuple (F_S, F_c) of two ints in [0, 48]"
                )
            if not is_float or self.c_inside or self.frac_bits is None or self.pairwise:
                raise ValueError(
                    f"late_frac_bits={lf}: needs a float unit with c_inside=False, frac_bits set "
                    f"and pairwise=False (c_inside={self.c_inside}, frac_bits={self.frac_bits}, "
                    f"pairwise={self.pairwise})"
                )
            if max(lf) + 4 + self.n.bit_length() > _SUM_BITS:
                raise ValueError(
                    f"late_frac_bits={lf}, n={self.n}: the late sum needs more than the "
                    f"{_SUM_BITS} bits of the int64 accumulator"
                )
        for arg in ("late_rounding", "odd_even_rounding"):
            v = getattr(self, arg)
            if v is None:
                continue
            mode = RoundMode.parse(v, arg)
            object.__setattr__(self, arg, mode)
            if mode not in LATE_ROUNDINGS:
                raise ValueError(
                    f"{arg}={mode.name}: expected toward_zero, nearest_even or toward_negative"
                )
        if lf is not None and self.odd_even and self.odd_even_rounding is None:
            raise ValueError(
                f"late_frac_bits={lf} with odd_even=True needs odd_even_rounding (the two group "
                "sums go on the grid of the larger eta before the late addition)"
            )
        if self.late_rounding is not None and lf is None:
            raise ValueError(
                f"late_rounding={self.late_rounding.name}: only a unit with late_frac_bits has one"
            )
        if self.odd_even_rounding is not None and (not self.odd_even or lf is None):
            raise ValueError(
                f"odd_even_rounding={self.odd_even_rounding.name}: needs odd_even=True and "
                f"late_frac_bits (odd_even={self.odd_even}, late_frac_bits={lf})"
            )
        d = self.late_c_drop
        if d is not None:
            if not _is_int(d) or not 0 <= d <= 1000:
                raise ValueError(f"late_c_drop={d!r}: expected an int in [0, 1000] or None")
            if lf is None:
                raise ValueError(f"late_c_drop={d}: only a unit with late_frac_bits drops c")
        pl = self.product_limit
        if pl is not None:
            if not _is_int(pl) or not -1000 <= pl <= 1000:
                raise ValueError(f"product_limit={pl!r}: expected an int in [-1000, 1000] or None")
            if not is_float or self.pairwise:
                raise ValueError(
                    f"product_limit={pl}: needs a float unit that is not pairwise (a pairwise "
                    "tree rounds every product to its output format)"
                )
        if self.exact_zero not in EXACT_ZEROS:
            raise ValueError(
                f"exact_zero={self.exact_zero!r}: expected one of {', '.join(EXACT_ZEROS)}"
            )
        if self.exact_zero == "ieee" and (not is_float or self.pairwise or self.group is not None):
            raise ValueError(
                "exact_zero='ieee' needs a float unit that is neither pairwise (its tree adds "
                "IEEE zeros already) nor grouped"
            )

    def __str__(self) -> str:
        return self.name

    @property
    def c_placement(self) -> str:
        """Where the caller's c enters: ``"inside"``, ``"late"`` or ``"epilogue"``."""
        if self.c_entry is not None:
            return self.c_entry
        return "inside" if self.c_inside else "late"

    @property
    def operand_b_format(self) -> FloatFormat | IntFormat:
        """Element format of ``b``: ``b_format``, or ``in_format`` when it is None."""
        return self.in_format if self.b_format is None else self.b_format

    @property
    def exact_terms(self) -> bool:
        """True when the block sum is exact (``frac_bits is None``)."""
        return self.frac_bits is None

    @property
    def sum_bits(self) -> int:
        """Magnitude bits of an aligned block sum: ``F + 2`` per term plus carries for ``n + 1``
        terms."""
        if self.frac_bits is None:
            raise ValueError("sum_bits: an exact unit (frac_bits=None) has no fixed block width")
        return self.frac_bits + 2 + self.n.bit_length()  # n.bit_length() == ceil(log2(n + 1))

    def dot(self, a: Any, b: Any, c: Any = None, *, return_overflows: bool = False) -> Any:
        """Dot products over the last axis; see :func:`numsim.datapath.dot`."""
        out, over = dot_product(self, a, b, c)
        return (out, over) if return_overflows else out


def _fma64_violations(unit: DotUnit) -> list[str]:
    """The fields of ``unit`` that keep it from being the sequential binary64 FMA, as
    ``"field=value (expected ...)"`` strings (empty for that unit)."""
    f64 = _formats.fp64
    want: list[tuple[str, Any, bool, str]] = [
        ("in_format", unit.in_format, unit.in_format == f64, "fp64"),
        ("b_format", unit.b_format, unit.b_format in (None, f64), "None or fp64"),
        ("c_format", unit.c_format, unit.c_format == f64, "fp64"),
        ("out_format", unit.out_format, unit.out_format == f64, "fp64"),
        ("n", unit.n, unit.n == 1, "1"),
        ("frac_bits", unit.frac_bits, unit.frac_bits is None, "None"),
        ("accumulator", unit.accumulator, unit.accumulator.kind == "chain", "chain"),
        (
            "out_rounding",
            unit.out_rounding.name,
            unit.out_rounding == RoundMode.nearest_even,
            "nearest_even",
        ),
        ("subnormals_in", unit.subnormals_in, unit.subnormals_in, "True"),
        ("subnormals_out", unit.subnormals_out, unit.subnormals_out, "True"),
        ("min_exp", unit.min_exp, unit.min_exp is None, "None"),
        ("zero_exponent", unit.zero_exponent, unit.zero_exponent is None, "None"),
        ("underflow_zero", unit.underflow_zero, unit.underflow_zero == "signed", "'signed'"),
        ("exact_zero", unit.exact_zero, unit.exact_zero == "ieee", "'ieee'"),
        ("c_placement", unit.c_placement, unit.c_placement == "inside", "'inside'"),
        ("odd_even", unit.odd_even, not unit.odd_even, "False"),
        ("pairwise", unit.pairwise, not unit.pairwise, "False"),
        ("chunk", unit.chunk, unit.chunk is None, "None"),
        ("outer", unit.outer, unit.outer is None, "None"),
        ("product_limit", unit.product_limit, unit.product_limit is None, "None"),
        ("late_frac_bits", unit.late_frac_bits, unit.late_frac_bits is None, "None"),
        ("late_rounding", unit.late_rounding, unit.late_rounding is None, "None"),
        ("odd_even_rounding", unit.odd_even_rounding, unit.odd_even_rounding is None, "None"),
        ("late_c_drop", unit.late_c_drop, unit.late_c_drop is None, "None"),
        ("group", unit.group, unit.group is None, "None"),
        (
            "element_exponents",
            unit.element_exponents,
            unit.element_exponents == "in_format",
            "'in_format'",
        ),
    ]
    return [f"{name}={value!s} (expected {exp})" for name, value, ok, exp in want if not ok]


def is_fma64(unit: DotUnit) -> bool:
    """True when ``unit`` is the sequential IEEE binary64 fused multiply-add (``fma-fp64``): FP64
    operands, c and result, one product per block, every step ``acc = RNE_64(acc + a * b)`` with
    IEEE signed zeros and subnormals, c the first accumulator; the one unit that takes FP64
    (:func:`numsim._kernels.fma64.fma_matmul_f64` computes it). The FP64 analogue of the FP32
    fast-path predicate of ``fma-fp32``."""
    return not _fma64_violations(unit)


def check_unit(unit: Any) -> DotUnit:
    """``unit`` if it is a DotUnit, else TypeError."""
    if not isinstance(unit, DotUnit):
        raise TypeError(
            f"unit={unit!r}: expected a numsim.datapath.DotUnit (see numsim.datapath.get)"
        )
    return unit
