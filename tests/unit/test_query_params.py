"""A query parameter given twice is refused app-wide, unless the route takes a list."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Query, WebSocket
from fastapi.testclient import TestClient
from pydantic import BaseModel
from starlette.websockets import WebSocketDisconnect

from causerie.server.query_params import list_params, one_value_each, takes_several


class Filters(BaseModel):
    window: str = "1h"
    metric: list[str] = []


def tag_list(tag: Annotated[list[str] | None, Query()] = None) -> list[str]:
    return tag or []


def build() -> FastAPI:
    app = FastAPI(dependencies=[Depends(one_value_each)])

    @app.get("/one")
    async def one(agent: str | None = None) -> dict[str, str | None]:
        return {"agent": agent}

    @app.get("/model")
    async def model(q: Annotated[Filters, Query()]) -> dict[str, object]:
        return q.model_dump()

    @app.get("/dep")
    async def dep(tags: Annotated[list[str], Depends(tag_list)], limit: int = 5) -> list[str]:
        return tags

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, agent: str | None = None) -> None:
        await websocket.accept()
        await websocket.send_text(agent or "")
        await websocket.close()

    return app


@pytest.mark.parametrize(
    ("annotation", "several"),
    [
        (list[str], True),
        (list[int] | None, True),
        (Annotated[tuple[str, ...], "doc"], True),
        (str | None, False),
        (int, False),
        (Filters, False),
    ],
)
def test_takes_several(annotation: object, several: bool) -> None:
    assert takes_several(annotation) is several


def test_the_routes_own_lists_their_models_and_their_dependencies() -> None:
    routes = {getattr(r, "path", ""): r for r in build().routes}
    assert list_params(routes["/one"]) == frozenset()
    assert list_params(routes["/model"]) == {"metric"}
    assert list_params(routes["/dep"]) == {"tag"}


def test_a_scalar_twice_is_422_naming_it_and_lists_may_repeat() -> None:
    client = TestClient(build())
    r = client.get("/one", params=[("agent", "a"), ("agent", "b")])
    assert r.status_code == 422
    [error] = r.json()["detail"]
    assert error["loc"] == ["query", "agent"] and error["input"] == ["a", "b"]
    assert error["msg"] == "agent: given more than once; give it once"
    r = client.get("/model", params=[("metric", "a"), ("metric", "b"), ("window", "2h")])
    assert r.json() == {"window": "2h", "metric": ["a", "b"]}
    r = client.get("/model", params=[("window", "1h"), ("window", "2h")])
    assert r.status_code == 422 and "window: given more than once" in r.text
    assert client.get("/dep", params=[("tag", "a"), ("tag", "b")]).json() == ["a", "b"]
    r = client.get("/dep", params=[("tag", "a"), ("limit", "1"), ("limit", "2")])
    assert r.status_code == 422 and "limit" in r.text and "tag" not in r.text
    assert client.get("/one", params={"agent": "a"}).json() == {"agent": "a"}


def test_a_websocket_with_a_parameter_twice_is_closed_before_it_is_accepted() -> None:
    client = TestClient(build())
    with client.websocket_connect("/ws?agent=a") as ws:
        assert ws.receive_text() == "a"
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/ws?agent=a&agent=b") as ws,
    ):
        ws.receive_text()
    assert refused.value.code == 1008
    assert refused.value.reason == "agent: given more than once; give it once"
