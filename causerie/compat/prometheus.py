"""prometheus_client internals Causerie relies on; each has a test in
tests/unit/test_compat.py."""

from __future__ import annotations

import glob
import os
import re

from . import warn_broken

DIST = "prometheus_client"
# multiprocess mode names a live gauge's file gauge_live{mode}_{pid}.db
_LIVE_FILE = re.compile(r"^gauge_live\w+?_(\d+)\.db$")


def multiprocess_enabled() -> bool:
    """Whether this process's metric values live in ``PROMETHEUS_MULTIPROC_DIR`` files.

    prometheus_client decides at import (``values.ValueClass``) and does not say so
    publicly; setting the variable later silently keeps values in memory.
    """
    from prometheus_client import values

    value_class = getattr(values, "ValueClass", None)
    mutex = getattr(values, "MutexValue", None)
    if value_class is None or mutex is None:
        warn_broken("multiprocess_enabled", DIST, "no values.ValueClass / values.MutexValue")
        return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    return value_class is not mutex


def live_gauge_pids(path: str) -> set[int]:
    """The processes with live-gauge files in a multiprocess folder. A process manager's
    child-exit hook would call ``mark_process_dead`` with the pid; uvicorn has none, so the
    scrape finds the pids from the file names."""
    pids = set()
    for name in glob.glob(os.path.join(path, "gauge_live*_*.db")):
        m = _LIVE_FILE.match(os.path.basename(name))
        if m is not None:
            pids.add(int(m.group(1)))
    return pids
