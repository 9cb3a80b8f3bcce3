"""Fixtures of the RTL verification suite.

* Under NUMSIM_NO_SKIPS=1 (CI) a skipped test fails: the repository root's conftest.py, which
  serves tests/ too (CI installs both simulators, so a missing one must not pass silently).
* A ``sim`` test whose simulator is missing skips with the reason before any fixture runs.
* ``golden_set``: the default golden vector set (level 1, seed 1) generated once per session
  into ``verification/sim_build/golden`` with ``numsim.golden.write_sets``.
"""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from numsim import golden
from verification.sim_harness import BUILD_ROOT, require


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: Any) -> None:
    """A `sim` test whose simulator is missing skips before its fixtures run (no golden set is
    generated for nothing)."""
    callspec = getattr(item, "callspec", None)
    if (
        item.get_closest_marker("sim") is not None
        and callspec is not None
        and "sim" in callspec.params
    ):
        require(callspec.params["sim"])


@pytest.fixture(scope="session")
def golden_set() -> golden.Manifest:
    """The default vector set, generated afresh for this session; its manifest."""
    out = BUILD_ROOT / "golden"
    shutil.rmtree(out, ignore_errors=True)
    return golden.write_sets(out)
