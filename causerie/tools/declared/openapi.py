"""``causerie tools import``: one OpenAPI 3 operation -> a declared tool.

Parameters (path, query, header) and a JSON request body become the tool's JSON Schema; the
server URL and path become the request URL; bearer or API-key security becomes a header with
a ``${VAR}`` secret; documented error responses become ``response.errors``. The result is
validated as a declaration before anything is written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ...config.api_tools import ApiToolSpec
from ...errors import ConfigError

METHODS = ("get", "post", "put", "patch", "delete", "head")
_VERBS = {"get", "list", "fetch", "retrieve", "find", "read", "show", "lookup", "search"}


def load_document(path: Path) -> dict[str, Any]:
    from ruamel.yaml import YAML

    try:
        doc = YAML(typ="safe").load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror})") from None
    except Exception as e:
        raise ConfigError(f"{path}: not valid YAML or JSON: {str(e).splitlines()[0]}") from None
    if not isinstance(doc, dict) or not str(doc.get("openapi", "")).startswith("3"):
        raise ConfigError(f"{path}: not an OpenAPI 3 document (no 'openapi: 3.x' field)")
    return doc


def snake(name: str) -> str:
    s = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()
    return s if s and not s[0].isdigit() else f"op_{s}"


def find_operation(doc: Mapping[str, Any], operation_id: str) -> tuple[str, str, dict[str, Any]]:
    """(method, path, operation); the error lists the document's operation ids."""
    ids = []
    for path, item in (doc.get("paths") or {}).items():
        for method in METHODS:
            op = (item or {}).get(method)
            if isinstance(op, dict):
                ids.append(op.get("operationId") or f"{method.upper()} {path}")
                if op.get("operationId") == operation_id:
                    return method, path, op
    raise ConfigError(
        f"no operation {operation_id!r} in the document; operations: {', '.join(ids) or '(none)'}"
    )


def _resolve(doc: Mapping[str, Any], node: Any, depth: int = 0) -> Any:
    """Inline local ``$ref``s (``#/components/...``), bounded so a cycle cannot hang."""
    if depth > 8:
        return {}
    if isinstance(node, Mapping):
        ref = node.get("$ref")
        if isinstance(ref, str):
            if not ref.startswith("#/"):
                raise ConfigError(f"only local $ref are supported, got {ref!r}")
            target: Any = doc
            for part in ref[2:].split("/"):
                target = target.get(part) if isinstance(target, Mapping) else None
            if target is None:
                raise ConfigError(f"$ref {ref!r} points to nothing")
            return _resolve(doc, target, depth + 1)
        return {k: _resolve(doc, v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [_resolve(doc, v, depth + 1) for v in node]
    return node


def _schema(sub: Mapping[str, Any], description: str | None = None) -> dict[str, Any]:
    keep = ("type", "enum", "pattern", "format", "minimum", "maximum", "items", "title")
    out = {k: v for k, v in sub.items() if k in keep}
    desc = description or sub.get("description")
    if desc:
        out["description"] = str(desc).strip()
    out.setdefault("type", "string")
    return out


def _server_url(doc: Mapping[str, Any], path_item: Mapping[str, Any], op: Mapping[str, Any]) -> str:
    servers = op.get("servers") or path_item.get("servers") or doc.get("servers") or []
    if not servers:
        return ""
    server = servers[0]
    url = str(server.get("url", ""))
    for name, var in (server.get("variables") or {}).items():
        url = url.replace(f"{{{name}}}", str(var.get("default", "")))
    return url.rstrip("/")


def _env_prefix(doc: Mapping[str, Any], name: str) -> str:
    title = str((doc.get("info") or {}).get("title") or name)
    prefix = re.sub(r"[^A-Za-z0-9]+", "_", title).strip("_").upper() or "API"
    return prefix if prefix.endswith("API") else f"{prefix}_API"


def _security_headers(doc: Mapping[str, Any], op: Mapping[str, Any], prefix: str) -> dict:
    headers: dict[str, str] = {}
    query: dict[str, str] = {}
    schemes = (doc.get("components") or {}).get("securitySchemes") or {}
    for requirement in op.get("security", doc.get("security")) or []:
        for scheme_name in requirement:
            scheme = _resolve(doc, schemes.get(scheme_name) or {})
            kind = scheme.get("type")
            if kind == "http" and str(scheme.get("scheme", "")).lower() == "bearer":
                headers["Authorization"] = f"Bearer ${{{prefix}_TOKEN}}"
            elif kind == "http" and str(scheme.get("scheme", "")).lower() == "basic":
                headers["Authorization"] = f"Basic ${{{prefix}_BASIC_AUTH}}"
            elif kind == "apiKey" and scheme.get("in") == "header":
                headers[str(scheme.get("name"))] = f"${{{prefix}_KEY}}"
            elif kind == "apiKey" and scheme.get("in") == "query":
                query[str(scheme.get("name"))] = f"${{{prefix}_KEY}}"
        if headers or query:
            break  # the first requirement the tool can meet
    return {"headers": headers, "query": query}


def import_operation(
    doc: Mapping[str, Any],
    operation_id: str,
    *,
    name: str | None = None,
    base_url_env: str | None = None,
) -> dict[str, Any]:
    """The declaration (a plain dict, validated) for ``operation_id``."""
    method, path, op = find_operation(doc, operation_id)
    path_item = (doc.get("paths") or {})[path]
    tool_name = name or snake(operation_id)
    props: dict[str, Any] = {}
    required: list[str] = []
    request: dict[str, Any] = {"method": method.upper()}
    headers: dict[str, str] = {}
    query: dict[str, Any] = {}
    url_path = path
    params = [*(path_item.get("parameters") or []), *(op.get("parameters") or [])]
    for raw in params:
        p = _resolve(doc, raw)
        where, pname = p.get("in"), str(p.get("name", ""))
        if where == "cookie" or not pname:
            continue
        key = snake(pname)
        props[key] = _schema(p.get("schema") or {}, p.get("description"))
        if p.get("required") or where == "path":
            required.append(key)
        if where == "path":
            url_path = url_path.replace(f"{{{pname}}}", f"{{{{ {key} }}}}")
        elif where == "query":
            query[pname] = f"{{{{ {key} }}}}"
        elif where == "header":
            headers[pname] = f"{{{{ {key} }}}}"
    body = _request_body(doc, op, props, required)
    prefix = _env_prefix(doc, tool_name)
    base = f"${{{base_url_env}}}" if base_url_env else _server_url(doc, path_item, op)
    if not base.startswith(("http://", "https://", "${")):
        raise ConfigError(
            f"the document has no absolute server URL ({base or 'no servers'}); "
            f"give one with --base-url-env, e.g. --base-url-env {prefix}_URL"
        )
    security = _security_headers(doc, op, prefix)
    headers.update(security["headers"])
    query.update(security["query"])
    request["url"] = base + url_path
    for key, value in (("headers", headers), ("query", query), ("body", body)):
        if value:
            request[key] = value
    summary = str(op.get("summary") or "").strip()
    details = str(op.get("description") or "").strip()
    decl: dict[str, Any] = {
        "name": tool_name,
        "description": " ".join(x for x in (summary, details) if x) or f"{method.upper()} {path}",
        "parameters": {"type": "object", "properties": props, "required": required},
        "request": request,
        "response": _response(doc, op),
        "triggers": [_trigger(tool_name)],
    }
    if not decl["response"]:
        del decl["response"]
    ApiToolSpec.model_validate(decl)  # a bug here, not the user's: fail before writing
    return decl


def _request_body(
    doc: Mapping[str, Any], op: Mapping[str, Any], props: dict[str, Any], required: list[str]
) -> Any:
    rb = _resolve(doc, op.get("requestBody") or {})
    content = rb.get("content") or {}
    media = next((v for k, v in content.items() if "json" in k), None)
    if media is None:
        return None
    schema = media.get("schema") or {}
    if schema.get("type", "object") == "object" and schema.get("properties"):
        body = {}
        for pname, sub in schema["properties"].items():
            key = snake(pname) if snake(pname) not in props else f"body_{snake(pname)}"
            props[key] = _schema(sub)
            body[pname] = f"{{{{ {key} }}}}"
            if rb.get("required") and pname in (schema.get("required") or []):
                required.append(key)
        return body
    props["body"] = _schema(schema, rb.get("description"))
    if rb.get("required"):
        required.append("body")
    return "{{ body }}"


def _response(doc: Mapping[str, Any], op: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    errors = {}
    for code, raw in (op.get("responses") or {}).items():
        resp = _resolve(doc, raw)
        if str(code).isdigit() and 400 <= int(code) <= 599 and resp.get("description"):
            errors[int(code)] = str(resp["description"]).strip()
        if str(code) in ("200", "201", "2XX") and "template" not in out:
            media: dict[str, Any] = next(
                (v for k, v in (resp.get("content") or {}).items() if "json" in k), {}
            )
            props = (media.get("schema") or {}).get("properties") or {}
            scalars = [k for k, v in props.items() if v.get("type") not in ("object", "array")]
            if scalars and all(re.fullmatch(r"[A-Za-z_]\w*", k) for k in scalars[:8]):
                out["template"] = ", ".join(f"{k}: {{{{ response.{k} }}}}" for k in scalars[:8])
    if errors:
        out["errors"] = errors
    return out


def _trigger(tool_name: str) -> str:
    words = tool_name.split("_")
    if len(words) > 1 and words[0] in _VERBS:
        words = words[1:]
    return " ".join(words)
