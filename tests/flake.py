"""`make flake`: find flaky tests.

Clones the repository's committed HEAD into a temporary folder, installs it from the lock
(`make setup`), runs the whole suite three times in a row, then once more while a busy loop
keeps one core loaded (started and stopped by its PID). Reports every test that failed at
least once; exits 1 if there is any.

    python tests/flake.py [--runs 3] [--no-busy] [--keep] [-- PYTEST_ARGS...]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def failures(junit: Path) -> tuple[set[str], int]:
    """Test ids that failed or errored in one JUnit report, and the number of tests run."""
    failed: set[str] = set()
    count = 0
    for case in ET.parse(junit).getroot().iter("testcase"):
        count += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed.add(f"{case.get('classname')}::{case.get('name')}")
    return failed, count


def run_suite(clone: Path, label: str, junit: Path, extra: list[str]) -> tuple[set[str], int]:
    t0 = time.monotonic()
    cmd = [str(clone / ".venv/bin/python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    proc = subprocess.run(
        [*cmd, f"--junitxml={junit}", *extra], cwd=clone, capture_output=True, text=True
    )
    tail = proc.stdout.strip().splitlines()[-1:] or ["(no output)"]
    print(f"flake: {label}: {tail[0]} ({time.monotonic() - t0:.0f} s)", flush=True)
    if not junit.exists():
        print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"flake: {label}: pytest wrote no report (exit {proc.returncode})")
    return failures(junit)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=3, help="plain runs in a row (default 3)")
    ap.add_argument("--no-busy", action="store_true", help="skip the run with a busy core")
    ap.add_argument("--keep", action="store_true", help="keep the clone and its reports")
    ap.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="causerie-flake-"))
    clone = work / "causerie"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True, text=True
    ).stdout.strip()
    print(f"flake: fresh clone of {head} in {clone}; installing from the lock", flush=True)
    subprocess.run(["make", "-s", "setup"], cwd=clone, check=True, stdout=subprocess.DEVNULL)

    failed_in: dict[str, list[str]] = defaultdict(list)
    labels = [f"run {i + 1}/{args.runs}" for i in range(args.runs)]
    if not args.no_busy:
        labels.append("busy core")
    for i, label in enumerate(labels):
        busy = None
        if label == "busy core":
            busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            print(f"flake: busy loop started, PID {busy.pid}", flush=True)
        try:
            failed, _ = run_suite(clone, label, work / f"run{i}.xml", args.pytest_args)
        finally:
            if busy is not None:
                busy.kill()  # by its PID, never by name
                busy.wait()
                print(f"flake: busy loop PID {busy.pid} stopped", flush=True)
        for test in failed:
            failed_in[test].append(label)

    if not args.keep:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    if not failed_in:
        print(f"flake: no flaky test in {len(labels)} runs")
        return 0
    print(f"flake: {len(failed_in)} test(s) failed at least once:")
    for test, where in sorted(failed_in.items()):
        print(f"  {test}: failed in {', '.join(where)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
