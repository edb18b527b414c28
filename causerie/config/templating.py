"""The small languages of a declared tool, kept deliberately small.

* ``{{ name }}`` in the request (URL, headers, query, body): the value of parameter ``name``.
  Only a bare name: no expressions, so a request template cannot run code.
* ``${VAR}`` anywhere in the request: an environment variable (``.env`` included), resolved at
  call time and masked in every log line, error and recorded output.
* ``response.path``: a JSONPath subset: ``$``, ``.key``, ``['key']``, ``[0]``, ``[-1]``,
  ``[*]`` and ``.*``. Enough to pick a field out of an API answer; no filters, no recursion.
* ``response.template`` and the UI card: Jinja2 in a sandboxed environment (no attribute
  access to Python internals, no imports), with ``response``, ``status``, ``args`` and each
  parameter by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from jinja2 import TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment

PARAM = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
MASK = "********"
TEMPLATE_NAMES = ("response", "status", "args")
"""Names a response template or a card may use besides the parameters."""


def params_in(value: Any) -> set[str]:
    """Parameter names ``{{ x }}`` used anywhere in a string, mapping or list."""
    return {m for s in _strings(value) for m in PARAM.findall(s)}


def env_in(value: Any) -> set[str]:
    """Environment variables ``${X}`` used anywhere in a string, mapping or list."""
    return {m for s in _strings(value) for m in ENV.findall(s)}


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def fill(text: str, args: Mapping[str, Any], env: Mapping[str, str], quote: Any = None) -> str:
    """Substitute parameters (``quote`` applied to each, e.g. URL path encoding) and env vars.
    A missing optional parameter becomes the empty string."""

    def param(m: re.Match[str]) -> str:
        v = args.get(m.group(1))
        s = "" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else _scalar(v))
        return quote(s) if quote is not None else s

    return ENV.sub(lambda m: env.get(m.group(1), ""), PARAM.sub(param, text))


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def fill_value(value: Any, args: Mapping[str, Any], env: Mapping[str, str]) -> Any:
    """A JSON body or query value: ``"{{ x }}"`` alone keeps x's type (a number stays a
    number); ``_MISSING`` when x is an optional parameter that was not given."""
    if isinstance(value, str):
        whole = PARAM.fullmatch(value.strip())
        if whole:
            name = whole.group(1)
            return args[name] if args.get(name) is not None else MISSING
        return fill(value, args, env)
    if isinstance(value, Mapping):
        out = {k: fill_value(v, args, env) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not MISSING}
    if isinstance(value, list):
        return [v for v in (fill_value(x, args, env) for x in value) if v is not MISSING]
    return value


MISSING: Any = object()


def mask(text: str, secrets: Iterable[str]) -> str:
    """Replace each secret value (longest first, so a prefix never leaks the rest)."""
    for s in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(s, MASK)
    return text


# -- JSONPath subset -------------------------------------------------------------------------

_STEP = re.compile(
    r"""\.(?P<key>[A-Za-z_][A-Za-z0-9_\-]*)|\.(?P<star>\*)|\[(?P<idx>-?\d+)\]"""
    r"""|\[(?P<all>\*)\]|\[(?P<q>['"])(?P<qkey>.*?)(?P=q)\]"""
)


def parse_path(path: str) -> list[str | int | None]:
    """``$.items[0].name`` -> ['items', 0, 'name']; None means every element. Raises
    ValueError naming the position of the first unsupported part."""
    p = path.strip()
    if not p.startswith("$"):
        raise ValueError(f"a JSONPath starts with '$', got {path!r}")
    steps: list[str | int | None] = []
    pos = 1
    while pos < len(p):
        m = _STEP.match(p, pos)
        if m is None:
            raise ValueError(
                f"unsupported JSONPath {path!r} at {p[pos:]!r}; supported: $, .key, "
                "['key'], [0], [-1], [*], .*"
            )
        if m.group("key") is not None:
            steps.append(m.group("key"))
        elif m.group("idx") is not None:
            steps.append(int(m.group("idx")))
        elif m.group("qkey") is not None:
            steps.append(m.group("qkey"))
        else:
            steps.append(None)
        pos = m.end()
    return steps


def select(data: Any, path: str) -> list[Any]:
    """Every value ``path`` reaches in ``data`` (empty when nothing matches)."""
    found = [data]
    for step in parse_path(path):
        nxt: list[Any] = []
        for node in found:
            if step is None:
                if isinstance(node, list):
                    nxt.extend(node)
                elif isinstance(node, dict):
                    nxt.extend(node.values())
            elif isinstance(step, int):
                if isinstance(node, list) and -len(node) <= step < len(node):
                    nxt.append(node[step])
            elif isinstance(node, dict) and step in node:
                nxt.append(node[step])
        found = nxt
    return found


# -- Jinja ---------------------------------------------------------------------------------


def jinja() -> SandboxedEnvironment:
    """Output is text for the LLM or JSON for the page (which never inserts it as HTML), so
    no autoescaping; the sandbox keeps templates away from Python internals."""
    env = SandboxedEnvironment(autoescape=False, keep_trailing_newline=False)
    env.filters["tojson"] = lambda v: json.dumps(v, ensure_ascii=False)
    return env


def template_names(source: str) -> set[str]:
    """Undeclared names a Jinja template uses; raises ValueError on a syntax error."""
    try:
        ast = jinja().parse(source)
    except TemplateSyntaxError as e:
        raise ValueError(f"not a valid template (line {e.lineno}): {e.message}") from None
    return set(meta.find_undeclared_variables(ast))
