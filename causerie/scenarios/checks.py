"""Checking one turn's expectations: tool calls through livekit's ``RunResult.expect``
assertions, then replies, UI events and session state, each failure with a readable diff."""

from __future__ import annotations

import difflib
import json
import re
from dataclasses import dataclass, field
from typing import Any

from .model import Expect, ToolExpect


@dataclass
class TurnRecord:
    """What happened in one turn, for checks and for the report."""

    label: str
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    outputs: list[tuple[str, str, bool]] = field(default_factory=list)
    """(tool name, output, is_error)."""
    reply: str = ""
    events: list[dict[str, Any]] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0
    failures: list[str] = field(default_factory=list)


def pretty(obj: Any) -> list[str]:
    return json.dumps(obj, ensure_ascii=False, indent=2, sort_keys=True, default=str).splitlines()


def diff(expected: Any, actual: Any) -> str:
    lines = difflib.unified_diff(
        pretty(expected), pretty(actual), "expected", "actual", lineterm="", n=2
    )
    return "\n".join(lines)


def _subset(expected: Any, actual: Any) -> bool:
    if isinstance(expected, dict) and isinstance(actual, dict):
        return all(k in actual and _subset(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, float) or isinstance(actual, float):
        try:
            return abs(float(expected) - float(actual)) < 1e-6
        except (TypeError, ValueError):
            return False
    return bool(expected == actual)


def check_tools(rec: TurnRecord, expect: Expect, run_result: Any) -> None:
    called = [f"{n} {json.dumps(a, ensure_ascii=False)}" for n, a in rec.calls] or [
        "(no tool called)"
    ]
    for t in expect.tools:
        try:
            # livekit's own assertion first; our message is the readable one.
            run_result.expect.contains_function_call(
                name=t.name, **({"arguments": t.arguments} if t.arguments else {})
            )
        except AssertionError:
            rec.failures.append(
                f"expected a call to {t.name}"
                + (f" with {json.dumps(t.arguments, ensure_ascii=False)}" if t.arguments else "")
                + "\n    called: "
                + "\n            ".join(called)
            )
            continue
        _check_output(rec, t)
    if expect.no_tools and rec.calls:
        rec.failures.append("expected no tool call\n    called: " + "\n            ".join(called))
    for name in expect.not_tools:
        if any(n == name for n, _ in rec.calls):
            rec.failures.append(
                f"{name} must not be called\n    called: " + "\n            ".join(called)
            )


def _check_output(rec: TurnRecord, t: ToolExpect) -> None:
    outs = [(o, err) for n, o, err in rec.outputs if n == t.name]
    if t.error is not None and not any(err == t.error for _, err in outs):
        got = "; ".join(f"{'error' if e else 'ok'}: {o[:160]}" for o, e in outs) or "(no output)"
        rec.failures.append(
            f"expected {t.name} to {'fail' if t.error else 'succeed'}\n    got: {got}"
        )
    for needle in t.output_contains:
        if not any(needle.lower() in o.lower() for o, _ in outs):
            rec.failures.append(
                f"{t.name} output should contain {needle!r}\n    got: "
                + " | ".join(o[:200] for o, _ in outs)
            )


def check_reply(rec: TurnRecord, expect: Expect) -> None:
    reply = rec.reply
    for needle in expect.reply_contains:
        if needle.lower() not in reply.lower():
            rec.failures.append(f"reply should contain {needle!r}\n    reply: {reply!r}")
    for needle in expect.reply_not_contains:
        if needle.lower() in reply.lower():
            rec.failures.append(f"reply must not contain {needle!r}\n    reply: {reply!r}")
    if expect.reply_matches and not re.search(expect.reply_matches, reply, re.I | re.S):
        rec.failures.append(f"reply should match /{expect.reply_matches}/\n    reply: {reply!r}")


def check_events(rec: TurnRecord, expect: Expect) -> None:
    types = [e.get("type") for e in rec.events]
    for ev in expect.events:
        same = [e for e in rec.events if e.get("type") == ev.type]
        if not same:
            rec.failures.append(f"expected a {ev.type!r} event\n    events: {types or '(none)'}")
        elif ev.fields and not any(_subset(ev.fields, e) for e in same):
            closest = {k: same[-1].get(k) for k in ev.fields}
            rec.failures.append(
                f"no {ev.type!r} event with these fields\n" + _indent(diff(ev.fields, closest))
            )
    for name in expect.no_events:
        if name in types:
            rec.failures.append(f"unexpected {name!r} event\n    events: {types}")


def check_state(rec: TurnRecord, expect: Expect, catalogue_prices: dict[str, float]) -> None:
    cart = dict(rec.state.get("cart", {}))
    if expect.cart is not None and cart != expect.cart:
        rec.failures.append("cart differs\n" + _indent(diff(expect.cart, cart)))
    if expect.cart_total is not None:
        total = round(sum(catalogue_prices.get(pid, 0.0) * q for pid, q in cart.items()), 2)
        if abs(total - expect.cart_total) > 0.005:
            rec.failures.append(f"cart total: expected {expect.cart_total:.2f}, got {total:.2f}")
    for key, want in expect.state.items():
        got = rec.state.get(key)
        if not _subset(want, got):
            rec.failures.append(f"state[{key!r}] differs\n" + _indent(diff(want, got)))


def _indent(text: str) -> str:
    return "\n".join("      " + line for line in text.splitlines())
