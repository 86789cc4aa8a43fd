"""Fixtures of the twin tests: simulations of the JLab load schedule with the JLab and the improved model."""

from __future__ import annotations

import pytest

from jiriaf_fw.twin import default_model, improved_model
from jiriaf_fw.twin.simulation import SimulationResult, run_scenario


@pytest.fixture(scope="session")
def paper_run() -> SimulationResult:
    """The JLab model on the JLab load schedule, 80 steps, smoothed over all of them."""
    return run_scenario(default_model(), "paper", 80)


@pytest.fixture(scope="session")
def paper_run_42() -> SimulationResult:
    """The JLab model on the JLab load schedule for 42 steps, the length of the JLab twin's recorded run.

    Its smoothed beliefs are therefore conditioned on exactly o_0..o_41.
    """
    return run_scenario(default_model(), "paper", 42)


@pytest.fixture(scope="session")
def improved_run() -> SimulationResult:
    """The improved model on the JLab load schedule, 80 steps."""
    return run_scenario(improved_model(), "paper", 80)
