"""Input normalisation shared by the public wrappers: arrays, torch tensors, policies.

Every numpy or torch input of numsim passes through :func:`as_array` (codes, values, operands),
most of them through :func:`as_source` (values as IEEE bits); results go back to torch through
:func:`to_output`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ._kernels.lower import SOURCES, Src
from .policies import NanPolicy, Overflow, RoundMode, parse_nan

_EMPTY_U64 = np.empty(0, dtype=np.uint64)


def is_torch(x: Any) -> bool:
    """True for a torch.Tensor (without importing torch)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


class Array(NamedTuple):
    """An input (numpy array, torch tensor or anything ``np.asarray`` takes) seen as numpy."""

    values: np.ndarray  #: the data, input shape, a view where possible; bfloat16: its uint16 bits
    dtype: str  #: dtype name; "bfloat16" for torch and ml_dtypes bfloat16 alike
    torch: bool  #: the input was a torch tensor

    def describe(self) -> str:
        """The input's dtype as an error message names it."""
        return f"torch dtype torch.{self.dtype}" if self.torch else f"dtype {self.dtype}"


def as_array(x: Any, argument: str = "x") -> Array:
    """The one conversion of inputs to numpy: torch tensors are detached and moved to the CPU
    without a copy, bfloat16 (torch or ml_dtypes) becomes its uint16 bits, anything else goes
    through ``np.asarray``. Dtypes are checked by the callers.

    Raises:
        TypeError: a torch dtype that numpy cannot hold (e.g. torch.float8_e4m3fn).
    """
    if is_torch(x):
        import torch

        t = x.detach().cpu()
        if t.dtype == torch.bfloat16:
            return Array(t.contiguous().view(torch.int16).numpy().view(np.uint16), "bfloat16", True)
        try:
            arr = t.numpy()
        except TypeError:
            raise TypeError(
                f"{argument}: torch dtype {t.dtype} is not supported (numpy has no such dtype)"
            ) from None
        return Array(arr, arr.dtype.name, True)
    if isinstance(x, np.ma.MaskedArray):
        raise TypeError(
            f"{argument}: a numpy masked array is not supported (a mask has no meaning in a "
            f"number format); pass {argument}.filled(value) or np.asarray({argument})"
        )
    arr = np.asarray(x)
    if arr.dtype.byteorder not in "=|" and not arr.dtype.isnative:
        # big-endian (or other non-native) data: the kernels read native bits, so convert
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if arr.dtype.name == "bfloat16" and arr.dtype.itemsize == 2:  # ml_dtypes.bfloat16
        return Array(arr.view(np.uint16), "bfloat16", False)
    return Array(arr, arr.dtype.name, False)


def _bf16_values(bits: np.ndarray) -> np.ndarray:
    """float32 values of bfloat16 bits (exact: bfloat16 is the top half of float32)."""
    return (bits.astype(np.uint32) << 16).view(np.float32)


def widened(a: Array) -> np.ndarray:
    """The values of ``a``, bfloat16 widened exactly to float32 (other dtypes as they are)."""
    return _bf16_values(a.values) if a.dtype == "bfloat16" else a.values


class Source(NamedTuple):
    """An input array seen as IEEE bits."""

    bits: np.ndarray  #: unsigned integer view of the values, input shape
    src: Src  #: bit layout
    dtype: str  #: "float16", "bfloat16", "float32" or "float64"
    torch: bool  #: the input was a torch tensor


def as_source(x: Any, argument: str = "x") -> Source:
    """View float16/bfloat16/float32/float64 input (numpy or torch) as bits without copying.

    Raises:
        TypeError: any other dtype or type.
    """
    a = as_array(x, argument)
    if a.dtype not in SOURCES:
        raise TypeError(
            f"{argument}: {a.describe()} is not supported; expected float16, bfloat16 (torch or "
            "ml_dtypes), float32 or float64"
        )
    utype, src = SOURCES[a.dtype]
    bits = a.values.view(utype) if a.values.dtype != utype else a.values
    return Source(bits, src, a.dtype, a.torch)


def float_values(source: Source) -> np.ndarray:
    """The values of ``source`` as float32 (float16, bfloat16, float32 input; exact) or float64."""
    if source.dtype == "bfloat16":
        return _bf16_values(source.bits)
    vals = source.bits.view(source.dtype)
    return vals if source.dtype == "float64" else vals.astype(np.float32, copy=False)


def to_output(arr: np.ndarray, torch_out: bool) -> Any:
    """Return ``arr`` as a torch tensor when the input was one."""
    if not torch_out:
        return arr
    import torch

    return torch.from_numpy(np.ascontiguousarray(arr).reshape(np.shape(arr)))  # keeps 0-d


def to_float_dtype(vals: np.ndarray, source: Source) -> Any:
    """Cast decoded values to the input's dtype, refusing a cast that would change a value."""
    err = f"the quantized values do not fit the input dtype {source.dtype}; pass float32 input"
    if source.torch:
        import torch

        out = torch.from_numpy(np.ascontiguousarray(vals).reshape(vals.shape))
        y = out.to(getattr(torch, source.dtype))
        if y.dtype != out.dtype and not torch.equal(
            torch.nan_to_num(y.to(out.dtype), 7.0), torch.nan_to_num(out, 7.0)
        ):
            raise ValueError(err)
        return y
    target = np.dtype(
        source.dtype
    )  # "bfloat16" only arrives as an ml_dtypes array, so it is registered
    if target == vals.dtype:
        return vals
    y = vals.astype(target)
    if not np.array_equal(y.astype(vals.dtype), vals, equal_nan=True):
        raise ValueError(err)
    return y


class Policies(NamedTuple):
    """Parsed rounding arguments."""

    mode: RoundMode
    overflow: Overflow
    nan: NanPolicy
    seed: int
    rbits: int
    rand: np.ndarray


def parse_policies(
    rounding: Any,
    overflow: Any,
    nan: Any,
    seed: Any,
    random_bits: Any,
    sr_bits: Any,
    shape: tuple[int, ...],
) -> Policies:
    """Validate the policy arguments shared by every encoder."""
    mode = RoundMode.parse(rounding, "rounding")
    ovf = Overflow.parse(overflow, "overflow")
    nanp = parse_nan(nan)
    rand = _EMPTY_U64
    s = 0
    if not isinstance(sr_bits, (int, np.integer)) or not 1 <= sr_bits <= 32:
        raise ValueError(f"sr_bits={sr_bits!r}: expected an int in 1..32")
    if mode != RoundMode.stochastic and (seed is not None or random_bits is not None):
        given = "seed" if seed is not None else "random_bits"
        raise ValueError(
            f"{given}= applies to rounding='stochastic' only; rounding={mode.name} would ignore it"
        )
    if mode == RoundMode.stochastic:
        if random_bits is not None:
            rand = np.asarray(random_bits)
            if rand.dtype.kind != "u":
                raise TypeError(
                    f"random_bits: dtype {rand.dtype}: expected an unsigned integer array"
                )
            if rand.shape != tuple(shape):
                raise ValueError(
                    f"random_bits: shape {rand.shape}: expected the input's shape {tuple(shape)}"
                )
            rand = np.ascontiguousarray(rand, dtype=np.uint64).reshape(-1)
        elif seed is None:
            raise ValueError(
                "rounding='stochastic' needs seed= (an int >= 0) or random_bits= (one unsigned "
                "random integer per element) so that results are reproducible"
            )
        if seed is not None:
            if (
                isinstance(seed, bool)
                or not isinstance(seed, (int, np.integer))
                or not 0 <= seed < 2**63
            ):
                raise ValueError(f"seed={seed!r}: expected an int in [0, 2**63)")
            s = int(seed)
    return Policies(mode, ovf, nanp, s, int(sr_bits), rand)
