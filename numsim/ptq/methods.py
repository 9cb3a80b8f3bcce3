"""PTQ methods (minimal RTN stand-in; the full version replaces this module)."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LayerStats:
    """Float64 Gram matrices: ``H = X~^T X~``, ``G = X~^T X``, ``n`` rows."""

    H: np.ndarray
    G: np.ndarray | None
    n: int


@dataclass(frozen=True)
class Method:
    name: str
    fn: Callable[..., np.ndarray]
    options: dict[str, Any] = field(default_factory=dict)
    needs_g: bool = False
    source: str = ""


def rtn(W: np.ndarray, q: Any) -> np.ndarray:
    """Round to nearest."""
    return q.quantize(W)


METHODS: dict[str, Method] = {"rtn": Method("rtn", lambda W, stats, q: rtn(W, q), {}, False, "round to nearest")}


def run_method(name: str, W: np.ndarray, stats: LayerStats, quantizer: Any, **options: Any) -> np.ndarray:
    """Validate ``name`` and ``options`` and run the method."""
    if name not in METHODS:
        close = difflib.get_close_matches(name, list(METHODS))
        raise KeyError(f"method={name!r}: unknown; expected one of {sorted(METHODS)}"
                       + (f" (did you mean {close[0]!r}?)" if close else ""))
    m = METHODS[name]
    bad = sorted(set(options) - set(m.options))
    if bad:
        raise TypeError(f"method {name!r} takes options {sorted(m.options)}; got {bad}")
    return m.fn(W, stats, quantizer, **options)
