"""Budgets of the fuzz tests: a bounded run in the suite, ``CAUSERIE_FUZZ_SCALE=N`` (``make
fuzz``) multiplies every budget. Each test records how many inputs it tried in
:data:`TRIED`, printed at the end of the run (``pytest -s``) for docs/RELIABILITY.md."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, settings

SCALE = max(1, int(os.environ.get("CAUSERIE_FUZZ_SCALE", "1")))
TRIED: Counter[str] = Counter()


def budget(examples: int) -> settings:
    """Hypothesis settings for ``examples`` inputs (times the scale), no deadline (the
    machine is shared), no example database (runs are independent)."""
    return settings(
        max_examples=examples * SCALE,
        deadline=None,
        database=None,
        derandomize=SCALE == 1,  # the suite's run is the same every time; make fuzz explores
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(scope="module", autouse=True)
def report_tried() -> Iterator[None]:
    """Import into a fuzz module: prints the inputs tried so far when it ends (``-s``)."""
    yield
    print("\ninputs tried:", ", ".join(f"{k}: {v}" for k, v in sorted(TRIED.items())))
