"""Readable pass/fail output for scenario runs."""

from __future__ import annotations

import json

from .runner import ScenarioResult


def format_result(res: ScenarioResult, *, verbose: bool = False) -> str:
    status = "PASS" if res.passed else "FAIL"
    lines = [
        f"{status}  {res.path.name}: {res.name}  ({len(res.turns)} turns, {res.seconds:.2f} s)"
    ]
    if res.error:
        lines.append("  error: " + res.error.strip().replace("\n", "\n    "))
    if res.refused and verbose:
        lines.append("  refused as expected: " + res.refused.strip().replace("\n", "\n    "))
    for i, turn in enumerate(res.turns, start=1):
        if not turn.failures and not verbose:
            continue
        mark = "  ok " if not turn.failures else "  ✗  "
        lines.append(f"{mark}turn {i}: {turn.label}")
        if turn.failures or verbose:
            calls = ", ".join(f"{n}({json.dumps(a, ensure_ascii=False)})" for n, a in turn.calls)
            lines.append(f"       tools: {calls or '-'}")
            lines.append(f"       agent: {turn.reply}")
        for failure in turn.failures:
            lines.append("     - " + failure.replace("\n", "\n       "))
    return "\n".join(lines)


def summary(results: list[ScenarioResult]) -> str:
    passed = sum(r.passed for r in results)
    turns = sum(len(r.turns) for r in results)
    seconds = sum(r.seconds for r in results)
    failed = [r.path.name for r in results if not r.passed]
    text = f"{passed}/{len(results)} scenarios passed ({turns} turns, {seconds:.2f} s)"
    return text + (f"; failed: {', '.join(failed)}" if failed else "")
