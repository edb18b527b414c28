"""``causerie tools import``: an OpenAPI 3 operation becomes a declared tool that loads."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from causerie.cli.main import main
from causerie.config.loader import load_config
from causerie.errors import ConfigError
from causerie.tools.declared.openapi import import_operation, load_document

DOC = Path(__file__).parent.parent / "data" / "orders_openapi.yaml"


def test_parameters_server_security_and_errors() -> None:
    decl = import_operation(load_document(DOC), "getOrderStatus")
    assert decl["name"] == "get_order_status"
    assert decl["description"] == "Get the status of an order."
    props = decl["parameters"]["properties"]
    assert props["order_id"] == {
        "type": "string",
        "pattern": "^[A-Z][0-9]{4}$",
        "description": "The order number",
    }
    assert props["lang"]["enum"] == ["en", "fr"]
    assert decl["parameters"]["required"] == ["order_id"]  # path parameter ($ref, path level)
    req = decl["request"]
    assert req["method"] == "GET"
    assert req["url"] == "https://eu.orders.example.com/v1/orders/{{ order_id }}"  # variables
    assert req["query"] == {"lang": "{{ lang }}"}
    assert req["headers"] == {"Authorization": "Bearer ${ORDERS_API_TOKEN}"}
    assert decl["response"]["errors"] == {404: "No order has this number."}
    assert "status: {{ response.status }}" in decl["response"]["template"]
    assert decl["triggers"] == ["order status"]


def test_request_body_properties_become_parameters() -> None:
    decl = import_operation(
        load_document(DOC), "addOrderNote", name="note", base_url_env="ORDERS_URL"
    )
    assert decl["name"] == "note"
    assert decl["request"]["url"] == "${ORDERS_URL}/orders/{{ order_id }}/notes"
    assert decl["request"]["body"] == {"text": "{{ text }}", "urgent": "{{ urgent }}"}
    assert decl["parameters"]["required"] == ["order_id", "text"]
    assert decl["parameters"]["properties"]["urgent"] == {"type": "boolean"}


def test_unknown_operation_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="operations: getOrderStatus, addOrderNote"):
        import_operation(load_document(DOC), "cancelOrder")


def test_not_openapi(tmp_path: Path) -> None:
    (tmp_path / "x.yaml").write_text("swagger: '2.0'\n")
    with pytest.raises(ConfigError, match="not an OpenAPI 3 document"):
        load_document(tmp_path / "x.yaml")


def test_cli_writes_a_tool_file_and_into_an_agent_file_keeping_comments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    shutil.copy(DOC, "openapi.yaml")
    Path("agent.yaml").write_text("name: Shop  # the shop's name\ntools: [search]\n")
    main(["tools", "import", "openapi.yaml", "--operation", "getOrderStatus"])
    assert "set ORDERS_API_TOKEN in .env" in capsys.readouterr().out
    written = Path("tools/get_order_status.yaml").read_text()
    assert written.startswith("# Imported from openapi.yaml, operation getOrderStatus")
    with pytest.raises(SystemExit) as ex:  # never overwritten silently
        main(["tools", "import", "openapi.yaml", "--operation", "getOrderStatus"])
    assert ex.value.code == 2 and "add --force" in capsys.readouterr().err
    main(["tools", "import", "openapi.yaml", "--operation", "addOrderNote", "-o", "agent.yaml"])
    text = Path("agent.yaml").read_text()
    assert text.startswith("name: Shop  # the shop's name\ntools: [search]\napi_tools:\n")
    loaded = load_config("agent.yaml", environ={}, dotenv=None)
    assert [t.name for t in loaded.spec.api_tools] == ["add_order_note", "get_order_status"]
