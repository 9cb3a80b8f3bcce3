"""Private Numba kernels (validating wrappers live in the public modules).

Modules: :mod:`core` (unpack, round, pack), :mod:`lower` (format descriptors as ints),
:mod:`codec` (element encode / decode), :mod:`block` (block formats), :mod:`golden` (golden
vector streams) and the dot units: :mod:`dotbase` (parameters, constants, result rounding),
:mod:`operands`, :mod:`kulisch` (exact accumulator), :mod:`dot` (the general float unit),
:mod:`intunit` (integer units), :mod:`fastdot` (vectorized and float64 fast paths),
:mod:`amdfast` (the AMD matrix-core presets), :mod:`mxdot` (MX grouped units and exact block
sums) and :mod:`fma64` (the binary64 FMA chain of ``fma-fp64``, the one float64-result unit).

Rounding
--------
The general rounding is :func:`core.split_round`: every general path rounds through it, by
:func:`core.encode_value` (a value into a format) or :func:`dotbase._place` (a term onto an
alignment grid). Some fast paths round on their own, for speed or because the unit rounds in float
arithmetic; each has a general twin and tests that hold it bit for bit to that twin or to the
reference. The tests are gathered in tests/test_fast_paths.py: whoever changes the general
rounding changes these too.

* ``block._rne_code``: a float element's nearest-even, saturating code straight from float32 bits
  (MX blocks; NVFP4's UE4M3 scale). Twin: ``core.encode_value`` on the scalar element path. Held
  by ``test_float32_arithmetic_path_equals_scalar_path`` and the ``test_nvfp4_float32_fast_path_*``
  tests.
* ``block._rne_int_code``: the same for an integer element (MXINT8). Twin: ``core.encode_value``
  on an integer format. Held by ``test_float32_arithmetic_path_equals_scalar_path[mxint8]``.
* ``block._e2m1_mag`` / ``_e2m1_value``: E2M1 nearest-even, saturating, as a count of the
  decision thresholds passed (NVFP4). Twin: the E2M1 element codec, and the general NVFP4 kernel
  ``block.encode_fpscale``. Held by ``test_nvfp4_e2m1_compares_equal_the_element_table`` and the
  ``test_nvfp4_float32_fast_path_*`` tests.
* ``kulisch.kul_round_at``: a Kulisch total rounded onto a grid (a late c, unit step 6). Twin:
  ``dotbase._place`` (``split_round``) on an int64 partial. Held by
  ``test_kul_round_at_is_integer_rounding`` and ``test_mi300_late_c_truncates_the_smaller_partial``.
* ``fastdot._fast_sum`` / ``_fast_row``: branch-free truncated alignment, and a truncated result
  in the normal range unpacked without encoding it. Twin: ``dot._grid_sum`` with toward-zero
  terms, then ``dotbase._round_out``. Held by ``test_fast_chain_path_equals_general``.
* ``fastdot._f32_round`` (on a round-to-odd float64 sum from ``_odd64``): the FP32 rounding of
  ``combine_f32``, ``_outer_add`` and ``dot._pairwise_f32`` (the FP32 pairwise tree). Twin:
  ``kulisch.add_round`` (Kulisch sum, one ``encode_value``). Held by
  ``test_blas_exact_path_equals_general``, ``test_fast_chain_path_equals_general`` (units with an
  FP32 outer accumulator), ``test_signed_zeros_on_every_path`` and
  ``test_mi210_pairwise_hand_derived`` and ``test_amd_pairwise_trees_hand_derived`` (IEEE
  specials and signed zeros inside the tree).
* ``fastdot.fma_matmul_f32`` (``fma-fp32``): each FMA step ``acc + a * b`` as an exact float64
  product, a TwoSum rounded to odd (``_odd64``) and the hardware float64-to-float32 conversion
  (RNE, subnormals and overflow included); non-finite steps as IEEE float64 additions. Twin:
  the general chain kernel (``dotbase._round_out`` per block of one product). Held by
  ``test_fma_fast_path_equals_general_and_reference``, ``test_fma_fast_path_rounds_once``,
  ``test_fma_fast_path_overflow_and_nan``, ``test_hypothesis_fma_fast_path`` and
  ``test_signed_zeros_on_every_path``.
* ``fma64.fma_matmul_f64`` / ``fma_rows_f64`` (``fma-fp64``): each step one ``llvm.fma.f64``
  (the hardware FMA or libm's ``fma``: one IEEE rounding), or with the JIT off the exact
  ``fma64.fma_exact`` (Fraction sum, CPython's correctly rounded integer division). Twin: the
  Fraction reference (the general kernels carry FP32 and do not run FP64). Held by
  ``test_fma64_rounds_once``, ``test_fma64_signed_zeros``, ``test_fma64_subnormal_and_overflow``,
  ``test_fma64_specials``, ``test_fma64_chain_order_matters``, ``test_fma64_matches_reference``,
  ``test_hypothesis_fma64_matches_reference`` and tests/test_mmasim.py (the 12 FP64 kernels).
* ``fastdot.bmm_fast``: ``_fast_row`` per output of a batch of products (no new rounding).
  Held by ``test_batched_products_equal_matmul_per_slice``.
* ``fastdot._chain_lanes_tile`` (``chain_lanes_f32``, ``chain_lanes_bmm``: the chained
  truncating units across lanes of output columns): terms truncated by shifts as in
  ``_fast_sum``; c truncated onto the block's grid and the block result truncated (RZ) to the
  output format by float64 ``trunc`` of the exact sum scaled by powers of two (normal or
  subnormal grid, Inf above ``emax``). Twins: ``matmul_fast`` (``dotbase._place`` and
  ``dotbase._round_out``) and the general kernel. Held by ``test_chain_lanes_equal_matmul_fast``,
  ``test_chain_lanes_equal_general_and_reference``, ``test_fast_chain_path_equals_general`` and
  ``test_batched_products_equal_matmul_per_slice``.
* ``fastdot._odd_sum``: a round-to-odd float64 sum handed to ``dotbase._round_out``
  (``combine_blocks``). Twin: ``kulisch.kul_round`` (the exact total, one rounding). Held by
  ``test_blas_exact_path_equals_general``.
* MX DotGeneral fast paths (``numsim.datapath.mx._fast_matmul``): scaled MX operands on
  ``fastdot.matmul_fast`` (truncating chained units such as ``b200-mxf8f6f4``), and float64
  BLAS block sums of unscaled elements times power-of-two scales for the exact units, combined
  by ``combine_f32`` / ``combine_blocks`` or summed by ``mxdot.exact_total`` (an int64 window
  summed exactly and rounded by ``dotbase._round_out``, else a Kulisch total). Twin: the
  general kernel on the same operands (``dot.float_rows``). Held by
  ``test_mx_fast_paths_equal_general_and_reference``,
  ``test_mx_blas_per_slice_path_is_taken_and_exact``,
  ``test_mx_fast_specials_fall_back_or_agree`` and ``test_hypothesis_mx_fast_paths``.
* ``mxdot._round_rz`` / the truncation in ``mxdot._group_block``: the grouped units
  (``b200-mxf4nvf4``) pack an RZ result in the normal range directly and truncate terms with
  shifts (``_place`` otherwise). Twin: the Fraction reference (the grouped units have no
  general-kernel twin); held by the same tests and by tests/test_mmasim.py (MMA-Sim's
  ``kind::mxf4nvf4`` vectors) and the hand-derived ``test_mxf4nvf4_*`` cases of
  tests/test_datapath.py.

* ``amdfast.pairwise_matmul`` (FP32 pairwise trees with RNE: ``mi100-*``, ``mi210-*``): every
  product exact in float64 and converted to float32 by the hardware (RNE), every node one IEEE
  binary32 addition (RNE of the exact sum, IEEE signed zeros and specials). Twin:
  ``dot._pairwise_f32`` (round-to-odd sums, ``fastdot._f32_round``). Held by
  ``test_amd_fast_paths_equal_general_and_reference`` (also against the reference, on random and
  corner rows) and ``test_hypothesis_amd_fast_paths``.
* ``amdfast._late_block`` (``late_matmul_f32``; the ``mi300-*`` presets): branch-free truncated
  alignment as ``fastdot._fast_sum``, the late partials through ``dotbase._place`` (floor, the
  CDNA3 rounding, as an arithmetic right shift of the two's-complement partial), and the
  exact late sum (an integer below ``2**53`` times a power of two) rounded to FP32 by the
  hardware float64-to-float32 conversion. Twin: ``dot._late_common`` then
  ``dotbase._round_out``. Held by the same tests and ``test_amd_late_fast_path_product_limit``.
* ``amdfast.late_lanes_f32`` (every ``mi300-*`` preset without a live product limit): the same
  block arithmetic with every step across 64 output columns, in int32 (block sums below
  ``2**31``) and float64 (the exact late sum); the floors of the odd/even group sums and of the
  late product sum arithmetic right shifts, c's from its FP32 bits. Twin: ``_late_block`` /
  ``dot._late_common``. Held by the same tests and ``test_amd_late_lanes_equal_general``.
* ``datapath._lower.int_matmul`` (integer units without chunks): no rounding, but the register is
  skipped: where ``|c| + sum |a_i b_i|`` (float64, exact below ``2**53``) stays below ``2**(P-1)``
  no partial sum leaves the P-bit register, so the result is the exact float64 BLAS sum with no
  overflow; other outputs run ``intunit.int_rows``. Twin: ``intunit.int_rows`` on every output.
  Held by ``test_int_gemm_path_equals_register_kernel_and_reference`` (also against the Fraction
  reference, on adversarial rows that overflow) and ``test_int_gemm_path_hypothesis``.

The general tests of tests/test_datapath.py (every preset and random unit against the Fraction
reference) cover ``_pairwise_f32`` and ``kul_round_at`` too, as part of the general kernel.

Two fast paths round through the general code on a compressed input, so they follow a change of
:func:`core.split_round` by themselves as long as the rounding needs no more than a sticky bit
below the kept bits: the float32 code tables of :mod:`codec` (entries from ``encode_value``, the low
15 input bits folded into one sticky bit; ``test_float32_table_path_matches_scalar_path`` in
tests/test_codec.py) and :func:`kulisch.kul_take` (a Kulisch total cut to 62 bits with a sticky
bit; held with the general kernel to the reference by tests/test_datapath.py).

Float32 operations that a format prescribes (NVFP4's scale division and products, ``block.f32``)
round in the hardware on the general and the fast NVFP4 paths alike: they model the format's
arithmetic and stand in for no general rounding (tests/test_block.py holds them to the reference).

Specializations
---------------
Numba compiles a kernel once per argument type signature, and a constant passed from one kernel
to another (``kul_round(k, False, ...)``, ``_round_out(..., 1)``) is typed as a literal
(``Literal[bool](False)``, ``Literal[int](1)``): a second specialization of the callee, and of
everything it inlines, next to the one for plain ``bool`` / ``int64`` arguments. Each costs seconds
to minutes on a cold cache, so kernels pass such constants as ``np.bool_(False)`` /
``np.int64(1)`` (and flags as ``bool``, not an int), which share the plain specialization.

Numba's cache
-------------
``cache=True`` keys a cached kernel on the source of the file that defines it, but kernels inline
helpers from other files here, so an edit to ``core.py`` could leave a kernel of ``dot.py`` served
stale. :func:`refresh_cache` (run below, before any kernel module is imported) keeps a hash of all
``*.py`` sources of this package in the cache directory and deletes the cached ``*.nbi`` /
``*.nbc`` files there when the sources change.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

#: File in the cache directory holding the hash of the sources its cached kernels were built from.
STAMP_NAME = "numsim-kernels.sha256"


def source_hash(src_dir: Path) -> str:
    """SHA-256 over the names and contents of the ``*.py`` files of ``src_dir`` (sorted by name)."""
    h = hashlib.sha256()
    for path in sorted(src_dir.glob("*.py")):
        h.update(path.name.encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def refresh_cache(src_dir: Path, cache_dir: Path) -> bool:
    """Delete the Numba cache files (``*.nbi``, ``*.nbc``) in ``cache_dir`` unless the stamp there
    matches the hash of ``src_dir``'s sources, then write the stamp (atomically: temp + rename).

    Returns True if the caches were stale. A cache directory that cannot be written is left alone
    (Numba then caches elsewhere or not at all).
    """
    digest = source_hash(src_dir)
    stamp = cache_dir / STAMP_NAME
    try:
        if stamp.read_text().strip() == digest:
            return False
    except OSError:
        pass
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for path in cache_dir.iterdir():
            if path.suffix in (".nbi", ".nbc"):
                path.unlink(missing_ok=True)
        fd, tmp = tempfile.mkstemp(dir=cache_dir, prefix=STAMP_NAME, suffix=".tmp")
        with os.fdopen(fd, "w") as f:
            f.write(digest + "\n")
        os.replace(tmp, stamp)
    except OSError:
        pass
    return True


def cache_dir(src_dir: Path) -> Path:
    """The directory where Numba caches the kernels of ``src_dir``: the first of Numba's cache
    locators that accepts a file there (``NUMBA_CACHE_DIR``, then ``__pycache__``, then the
    user-wide cache), as Numba chooses it for each kernel."""
    from numba.core import caching

    def probe() -> None:
        """A function defined in ``src_dir`` as far as the locators can tell."""

    # CacheImpl in newer Numba, _CacheImpl in older releases
    impl = getattr(caching, "CacheImpl", None) or getattr(caching, "_CacheImpl", None)
    for cls in getattr(impl, "_locator_classes", ()):
        loc = cls.from_function(probe, str(src_dir / "core.py"))
        if loc is not None:
            return Path(loc.get_cache_path())
    return src_dir / "__pycache__"  # another Numba layout: its in-tree default


_SRC = Path(__file__).resolve().parent
refresh_cache(_SRC, cache_dir(_SRC))
