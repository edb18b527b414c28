"""Declared tools against a real local HTTP server: each way an API can answer, and the
safety rules (size cap, timeout, redirects, allowed hosts, secrets masked)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from livekit.agents import ToolError

from causerie.config.api_tools import ApiToolSpec
from causerie.tools.declared.http import ApiCaller
from tests.api_service import ApiServer

TOKEN = "s3cret-token"


@pytest.fixture
async def server() -> AsyncIterator[ApiServer]:
    srv = ApiServer()
    await srv.start()
    yield srv
    await srv.stop()


def tool(url: str, **request: Any) -> ApiToolSpec:
    response = request.pop("response", {})
    return ApiToolSpec.model_validate(
        {
            "name": "order_status",
            "description": "Status of an order.",
            "parameters": {
                "type": "object",
                "properties": {"order_id": {"type": "string"}, "q": {"type": "string"}},
                "required": [],
            },
            "request": {"url": url, **request},
            "response": response,
        }
    )


def caller(spec: ApiToolSpec, **env: str) -> ApiCaller:
    return ApiCaller(spec, {"API": "", "TOKEN": TOKEN, **env})


async def test_success_maps_the_answer_with_jsonpath_and_sends_the_secret(
    server: ApiServer,
) -> None:
    spec = tool(
        "${API}/orders/{{ order_id }}",
        headers={"Authorization": "Bearer ${TOKEN}"},
        response={"path": "$.order.status"},
    )
    answer = await caller(spec, API=server.url).call({"order_id": "A1001"})
    assert answer.text == "shipped"
    assert server.requests[-1]["headers"]["Authorization"] == f"Bearer {TOKEN}"
    assert server.requests[-1]["path"] == "/orders/A1001"


async def test_template_renders_fields_and_parameters(server: ApiServer) -> None:
    spec = tool(
        f"{server.url}/orders/{{{{ order_id }}}}",
        headers={"Authorization": "Bearer ${TOKEN}"},
        response={
            "template": "Order {{ order_id }} is {{ response.order.status }}"
            "{% if response.order.eta %}, expected {{ response.order.eta }}{% endif %}."
        },
    )
    answer = await caller(spec).call({"order_id": "A1001"})
    assert answer.text == "Order A1001 is shipped, expected Tuesday."


async def test_path_parameters_are_url_encoded(server: ApiServer) -> None:
    spec = tool(f"{server.url}/orders/{{{{ order_id }}}}", headers={"Authorization": "x"})
    with pytest.raises(ToolError):
        await caller(spec).call({"order_id": "../fail?x=1"})
    assert server.requests[-1]["path"] == "/orders/../fail?x=1"  # one segment, not a path


async def test_4xx_is_a_tool_error_the_agent_can_say(server: ApiServer) -> None:
    spec = tool(
        f"{server.url}/orders/{{{{ order_id }}}}", headers={"Authorization": "Bearer ${TOKEN}"}
    )
    with pytest.raises(ToolError, match=r"order status service answered with an error \(404"):
        await caller(spec).call({"order_id": "Z9"})


async def test_custom_message_for_a_status(server: ApiServer) -> None:
    spec = tool(
        f"{server.url}/orders/{{{{ order_id }}}}",
        headers={"Authorization": "Bearer ${TOKEN}"},
        response={"errors": {404: "There is no order {{ order_id }} ({{ response.message }})."}},
    )
    with pytest.raises(ToolError, match=r"^There is no order Z9 \(no such order\)\.$"):
        await caller(spec).call({"order_id": "Z9"})


async def test_5xx_is_retried_for_get_only_up_to_the_limit(server: ApiServer) -> None:
    with pytest.raises(ToolError, match=r"\(500 Internal Server Error\)"):
        await caller(tool(f"{server.url}/fail", retries=2)).call({})
    assert server.hits["/fail"] == 3
    answer = await caller(tool(f"{server.url}/flaky", retries=1)).call({})
    assert answer.text == '{"ok":true}' and server.hits["/flaky"] == 2


async def test_post_is_never_retried(server: ApiServer) -> None:
    spec = tool(f"{server.url}/orders/{{{{ order_id }}}}/cancel", method="POST")
    with pytest.raises(ToolError, match="503"):
        await caller(spec).call({"order_id": "A1001"})
    assert server.hits["/orders/A1001/cancel"] == 1
    with pytest.raises(ValueError, match="retries: a POST may not be repeated"):
        tool(f"{server.url}/x", method="POST", retries=1)


async def test_timeout_is_a_tool_error(server: ApiServer) -> None:
    with pytest.raises(ToolError, match="did not answer in time"):
        await caller(tool(f"{server.url}/slow", timeout=0.3)).call({})


@pytest.mark.parametrize("path", ["/huge", "/huge-chunked"])
async def test_huge_body_is_refused(server: ApiServer, path: str) -> None:
    spec = tool(f"{server.url}{path}", max_response_bytes=100_000)
    with pytest.raises(ToolError, match="too large to use"):
        await caller(spec).call({})


async def test_invalid_json_is_a_tool_error_when_a_field_is_wanted(server: ApiServer) -> None:
    spec = tool(f"{server.url}/not-json", response={"path": "$.status"})
    with pytest.raises(ToolError, match="not valid JSON"):
        await caller(spec).call({})
    # Without a mapping the text itself is the answer.
    answer = await caller(tool(f"{server.url}/not-json")).call({})
    assert answer.text == "<html>oops</html>"


async def test_answer_is_capped_for_the_llm(server: ApiServer) -> None:
    spec = tool(f"{server.url}/echo", query={"q": "{{ q }}"}, response={"max_chars": 20})
    answer = await caller(spec).call({"q": "z" * 100})
    assert len(answer.text) == 20 and answer.text.endswith("…")


async def test_missing_optional_query_parameter_is_left_out(server: ApiServer) -> None:
    spec = tool(f"{server.url}/echo", query={"q": "{{ q }}", "fixed": 1})
    await caller(spec).call({})
    assert server.requests[-1]["query"] == {"fixed": "1"}


async def test_redirects_are_followed_within_the_limit(server: ApiServer) -> None:
    answer = await caller(tool(f"{server.url}/redirect")).call({})
    assert answer.text == '{"query":{}}'
    with pytest.raises(ToolError, match="redirected too many times"):
        await caller(tool(f"{server.url}/loop", max_redirects=2)).call({})


async def test_allowed_hosts_apply_to_redirects_too(server: ApiServer) -> None:
    spec = tool(f"{server.url}/echo", allowed_hosts=["example.org"])
    with pytest.raises(ToolError, match="not allowed to call that address"):
        await caller(spec).call({})
    assert not server.requests
    escape = "http://localhost:1/echo"  # another host than 127.0.0.1
    spec = tool(f"{server.url}/redirect", query={"to": escape}, allowed_hosts=["127.0.0.1"])
    with pytest.raises(ToolError, match="redirected to an address that is not allowed"):
        await caller(spec).call({})


async def test_only_http_and_https(server: ApiServer) -> None:
    with pytest.raises(ValueError, match="only http and https"):
        tool("file:///etc/passwd")
    spec = tool("${API}/x")  # the scheme comes from the environment: checked at call time
    with pytest.raises(ToolError, match="not allowed to call that address"):
        await caller(spec, API="file:///etc").call({})


async def test_secrets_are_masked_in_errors_outputs_and_logs(
    server: ApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    spec = tool(f"{server.url}/echo", query={"key": "${TOKEN}"}, response={"path": "$.query"})
    answer = await caller(spec).call({})
    assert server.requests[-1]["query"] == {"key": TOKEN}  # sent...
    assert TOKEN not in answer.text and "********" in answer.text  # ...never shown
    spec = tool(f"{server.url}/fail", query={"key": "${TOKEN}"}, response={"errors": {500: "x"}})
    with pytest.raises(ToolError) as err:
        await caller(spec).call({})
    assert TOKEN not in str(err.value)
    assert any("HTTP Request" in r.getMessage() for r in caplog.records)  # httpx logged it
    ours = [r for r in caplog.records if not r.name.startswith("aiohttp")]  # the test server's
    assert not [r for r in ours if TOKEN in r.getMessage()]


async def test_no_content_is_a_success_the_agent_can_say(server: ApiServer) -> None:
    spec = tool(
        f"{server.url}/orders/{{{{ order_id }}}}", method="DELETE", response={"path": "$.x"}
    )
    answer = await caller(spec).call({"order_id": "A1001"})
    assert answer.text == "The order status request succeeded (the service sent no content)."
    assert server.requests[-1]["method"] == "DELETE"
