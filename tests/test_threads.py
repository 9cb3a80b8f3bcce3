"""numsim._kernels.threads.serial: the thread count inside and after, and results that do not
depend on it (the claim that lets small calls run on one thread)."""

from __future__ import annotations

import numba
import numpy as np
import pytest

import numsim
from numsim import datapath as dp
from numsim._kernels.threads import serial


def test_serial_sets_one_thread_and_restores_it() -> None:
    before = numba.get_num_threads()
    with serial():
        assert numba.get_num_threads() == 1
    assert numba.get_num_threads() == before
    with pytest.raises(RuntimeError), serial():
        raise RuntimeError("inside")
    assert numba.get_num_threads() == before


def test_serial_false_leaves_the_thread_count() -> None:
    before = numba.get_num_threads()
    with serial(False):
        assert numba.get_num_threads() == before


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs two Numba threads")
@pytest.mark.parametrize("unit", ["h100-e4m3", "mi300-e4m3fnuz", "ocp-mx-fp32acc", "int8-acc16"])
def test_results_do_not_depend_on_the_thread_count(unit: str) -> None:
    u = dp.get(unit)
    rng = np.random.default_rng(5)
    A = numsim.quantize(rng.standard_normal((37, 300)) * 8, u.in_format)
    B = numsim.quantize(rng.standard_normal((300, 29)) * 8, u.operand_b_format)
    numba.set_num_threads(2)
    try:
        two = np.asarray(dp.matmul(A, B, u))
        x = rng.standard_normal((64, 96)).astype(np.float32) * 100
        enc2 = numsim.encode(x, "mxfp4_e2m1", axis=1)
        with serial():
            one = np.asarray(dp.matmul(A, B, u))
            enc1 = numsim.encode(x, "mxfp4_e2m1", axis=1)
    finally:
        numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)
    np.testing.assert_array_equal(one.view(np.uint8), two.view(np.uint8))
    np.testing.assert_array_equal(enc1.codes, enc2.codes)
    np.testing.assert_array_equal(enc1.scales, enc2.scales)
