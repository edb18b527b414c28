"""One value per query parameter, on every route of an app.

FastAPI keeps the last of ``?agent=a&agent=b`` silently: a client that meant two agents gets
one, and cannot tell. :func:`one_value_each`, an app-wide dependency, refuses a parameter
given twice unless the route declares it with several values (``list[str]``, also inside a
query model): a 422 that names it, or, for a WebSocket, a close (1008) before it is accepted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel
from starlette.datastructures import QueryParams
from starlette.exceptions import WebSocketException
from starlette.requests import HTTPConnection

_SEVERAL = (list, set, frozenset, tuple)


def repeated(params: QueryParams, lists: Sequence[str] | frozenset[str] = ()) -> list[str]:
    """Query parameters given more than once (``lists``: those that take several values)."""
    counts = Counter(k for k, _ in params.multi_items())
    return sorted(k for k, n in counts.items() if n > 1 and k not in lists)


def takes_several(annotation: Any) -> bool:
    """``list[str]``, ``list[int] | None``, ``Annotated[tuple[str, ...], ...]``..."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return takes_several(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(takes_several(a) for a in get_args(annotation))
    return origin in _SEVERAL


def list_params(route: object) -> frozenset[str]:
    """The query parameters ``route`` (a FastAPI route) lets repeat: its own, its
    dependencies', and the fields of a query model (``Annotated[Model, Query()]``)."""
    names: set[str] = set()
    dependant = getattr(route, "dependant", None)
    stack = [dependant] if dependant is not None else []
    while stack:
        d = stack.pop()
        for field in d.query_params:
            annotation = field.field_info.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                for name, f in annotation.model_fields.items():
                    if takes_several(f.annotation):
                        names.add(f.alias or name)
            elif takes_several(annotation):
                names.add(field.alias)
        stack.extend(d.dependencies)
    return frozenset(names)


def one_value_each(conn: HTTPConnection) -> None:
    """An app-wide dependency (``FastAPI(dependencies=[Depends(one_value_each)])``)."""
    twice = repeated(conn.query_params, list_params(conn.scope.get("route")))
    if not twice:
        return
    messages = {k: f"{k}: given more than once; give it once" for k in twice}
    if conn.scope["type"] == "websocket":
        reason = "; ".join(messages.values()).encode()[:123]  # a close reason's limit
        raise WebSocketException(code=1008, reason=reason.decode(errors="ignore"))
    raise RequestValidationError(
        [
            {
                "type": "value_error",
                "loc": ("query", k),
                "msg": text,
                "ctx": {"error": text},
                "input": conn.query_params.getlist(k),
            }
            for k, text in messages.items()
        ]
    )
