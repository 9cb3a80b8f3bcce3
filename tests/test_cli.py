"""The README's main job (``numsim formats`` and ``numsim demo``) runs on the embedded tensor."""

from __future__ import annotations

import numpy as np

from numsim import cli


def test_formats_table_lists_every_format() -> None:
    out = cli.formats_table()
    for name in ("fp8_e4m3", "mxfp4_e2m1", "nvfp4", "mx6"):
        assert name in out


def test_demo_tables_on_the_embedded_tensor() -> None:
    w = cli.load_demo_tensor()
    assert w.dtype == np.float32 and w.ndim == 2
    out = cli.demo_table(w)
    assert "fp8_e4m3" in out and "nvfp4" in out
    rows = {}
    for line in cli.datapath_table(w[:64], batch=16).splitlines()[2:]:
        f = line.split()
        rows[(f[0], f[1])] = (f[3], float(f[4]))
    # FP8 operands: exact units are exact up to the one FP32 rounding; 13-bit truncation is not
    assert rows[("ocp-mx-exact", "fp8_e4m3")][1] < 1e-7
    assert rows[("h100-e4m3", "fp8_e4m3")][1] > 1e-5
    assert rows[("mi210-fp16", "fp16")][0] == "tree"
    assert len(rows) == len(cli._DEMO_UNITS)
