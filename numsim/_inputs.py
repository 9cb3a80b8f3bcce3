"""Input normalisation shared by the public wrappers: arrays, torch tensors, policies."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ._kernels.lower import SOURCES, Src
from .policies import NanPolicy, Overflow, RoundMode, parse_nan

_EMPTY_U64 = np.empty(0, dtype=np.uint64)


def is_torch(x: Any) -> bool:
    """True for a torch.Tensor (without importing torch)."""
    return type(x).__module__.startswith("torch") and hasattr(x, "detach")


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
    torch_in = is_torch(x)
    if torch_in:
        import torch

        t = x.detach().cpu()
        if t.dtype == torch.bfloat16:
            arr = t.contiguous().view(torch.int16).numpy().view(np.uint16)
            name = "bfloat16"
        elif t.dtype in (torch.float16, torch.float32, torch.float64):
            arr = t.numpy()
            name = str(arr.dtype)
        else:
            raise TypeError(f"{argument}: torch dtype {t.dtype} is not supported; expected float16, bfloat16, "
                            "float32 or float64")
    else:
        arr = np.asarray(x)
        name = arr.dtype.name
        if name == "bfloat16" and arr.dtype.itemsize == 2:  # ml_dtypes.bfloat16
            arr = arr.view(np.uint16)
        elif name not in ("float16", "float32", "float64"):
            raise TypeError(f"{argument}: dtype {arr.dtype} is not supported; expected float16, bfloat16 (torch "
                            "or ml_dtypes), float32 or float64")
    utype, src = SOURCES[name]
    bits = arr.view(utype) if arr.dtype != utype else arr
    return Source(bits, src, name, torch_in)


def to_output(arr: np.ndarray, torch_out: bool) -> Any:
    """Return ``arr`` as a torch tensor when the input was one."""
    if not torch_out:
        return arr
    import torch

    return torch.from_numpy(np.ascontiguousarray(arr))


def to_float_dtype(vals: np.ndarray, source: Source) -> Any:
    """Cast decoded values to the input's dtype, refusing a cast that would change a value."""
    err = f"the quantized values do not fit the input dtype {source.dtype}; pass float32 input"
    if source.torch:
        import torch

        out = torch.from_numpy(np.ascontiguousarray(vals))
        y = out.to(getattr(torch, source.dtype))
        if y.dtype != out.dtype and not torch.equal(torch.nan_to_num(y.to(out.dtype), 7.0),
                                                    torch.nan_to_num(out, 7.0)):
            raise ValueError(err)
        return y
    target = np.dtype(source.dtype)  # "bfloat16" only arrives as an ml_dtypes array, so it is registered
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


def parse_policies(rounding: Any, overflow: Any, nan: Any, seed: Any, random_bits: Any, sr_bits: Any,
                   shape: tuple[int, ...]) -> Policies:
    """Validate the policy arguments shared by every encoder."""
    mode = RoundMode.parse(rounding, "rounding")
    ovf = Overflow.parse(overflow, "overflow")
    nanp = parse_nan(nan)
    rand = _EMPTY_U64
    s = 0
    if not isinstance(sr_bits, (int, np.integer)) or not 1 <= sr_bits <= 32:
        raise ValueError(f"sr_bits={sr_bits!r}: expected an int in 1..32")
    if mode == RoundMode.stochastic:
        if random_bits is not None:
            rand = np.asarray(random_bits)
            if rand.dtype.kind != "u":
                raise TypeError(f"random_bits: dtype {rand.dtype}: expected an unsigned integer array")
            if rand.shape != tuple(shape):
                raise ValueError(f"random_bits: shape {rand.shape}: expected the input's shape {tuple(shape)}")
            rand = np.ascontiguousarray(rand, dtype=np.uint64).reshape(-1)
        elif seed is None:
            raise ValueError("rounding='stochastic' needs seed= (an int >= 0) or random_bits= (one unsigned "
                             "random integer per element) so that results are reproducible")
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**63:
                raise ValueError(f"seed={seed!r}: expected an int in [0, 2**63)")
            s = int(seed)
    return Policies(mode, ovf, nanp, s, int(sr_bits), rand)
