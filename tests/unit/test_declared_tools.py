"""Declared tools, statically: the declaration's checks (errors name the tool and the field),
tools/*.yaml files, the template languages, `config check`, and the scripted brain's
argument extraction."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from causerie.cli.main import main
from causerie.config.api_tools import ApiToolSpec
from causerie.config.loader import load_config
from causerie.config.templating import fill, fill_value, mask, parse_path, select
from causerie.errors import ConfigError
from causerie.providers.local.scripted.api_tools import extract
from causerie.providers.registry import Registry
from causerie.runtime.checks import start_problems
from causerie.tools.registry import build_tools, declared_tool_names

TOOL = """\
  - name: order_status
    description: Status of an order.
    parameters:
      type: object
      properties: {order_id: {type: string}}
      required: [order_id]
    request:
      url: "${API_URL}/orders/{{ order_id }}"
"""


def write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "agent.yaml"
    p.write_text(body)
    return p


def decl(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "order_status",
        "description": "d",
        "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}},
        "request": {"url": "https://api.example.com/orders/{{ order_id }}"},
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"request": {"url": "https://x/{{ order }}"}}, "request.url: {{ order }} is not a param"),
        ({"request": {"url": "ftp://x/"}}, "only http and https"),
        ({"request": {"url": "https://x/", "method": "POST", "retries": 2}}, "retries: a POST"),
        ({"parameters": {"type": "array"}}, "type must be 'object'"),
        (
            {"parameters": {"type": "object", "properties": {"a": {"type": "str"}}}},
            "properties.a.type: 'str' is not a JSON type",
        ),
        ({"parameters": {"type": "object", "required": ["zz"]}}, "required names 'zz'"),
        ({"response": {"path": "$..deep"}}, "unsupported JSONPath"),
        ({"response": {"template": "{{ reponse.x }}"}}, "unknown variable 'reponse'"),
        ({"response": {"template": "{% if %}"}}, "response.template: not a valid template"),
        ({"response": {"errors": {200: "x"}}}, "status codes must be 400-599"),
        ({"ui_event": {"type": "error", "card": {"title": "x"}}}, "'error' is a built-in event"),
        ({"name": "order status"}, "String should match pattern"),
    ],
)
def test_declaration_errors_say_which_field(over: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("{", r"\{").replace("(", r"\(")):
        ApiToolSpec.model_validate(decl(**over))


def test_errors_in_agent_yaml_name_the_tool(tmp_path: Path) -> None:
    bad = TOOL.replace("{{ order_id }}", "{{ id }}")
    with pytest.raises(ConfigError, match=r"api_tools\[order_status\]: request.url: \{\{ id \}\}"):
        load_config(write(tmp_path, "api_tools:\n" + bad), environ={}, dotenv=None)
    bad = TOOL.replace("    request:", "    requets: 1\n    request:")
    with pytest.raises(ConfigError, match=r"api_tools\[order_status\].requets: unknown field"):
        load_config(write(tmp_path, "api_tools:\n" + bad), environ={}, dotenv=None)


def test_tools_folder_is_merged_and_its_errors_name_the_file(tmp_path: Path) -> None:
    (tmp_path / "tools").mkdir()
    one = "\n".join(line[4:] for line in TOOL.splitlines())
    (tmp_path / "tools" / "orders.yaml").write_text(one)
    config = write(tmp_path, "name: Shop\ntools: [order_status]\n")
    loaded = load_config(config, environ={}, dotenv=None)
    assert declared_tool_names(loaded) == ["order_status"]
    (tmp_path / "tools" / "bad.yaml").write_text("name: refund\ndescription: x\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: tool 'refund': request: required field"):
        load_config(config, environ={}, dotenv=None)


def test_a_declared_tool_may_not_shadow_a_built_in(tmp_path: Path) -> None:
    body = "api_tools:\n" + TOOL.replace("name: order_status", "name: cart_add")
    loaded = load_config(write(tmp_path, body), environ={}, dotenv=None)
    # The installed apps decide which names are taken: refused on build, named by config check.
    with pytest.raises(ConfigError, match="'cart_add' is the name of a built-in tool"):
        build_tools(loaded)
    problems = [
        p for p in start_problems(loaded, Registry.from_entry_points()) if p.field == "api_tools"
    ]
    assert [p.message for p in problems] == [
        "'cart_add' is the name of a built-in tool; choose another"
    ]


def test_config_check_names_a_missing_env_var(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("API_URL", raising=False)
    write(tmp_path, "tools: [order_status]\napi_tools:\n" + TOOL)
    with pytest.raises(SystemExit) as ex:
        main(["config", "check"])
    err = capsys.readouterr().err
    assert ex.value.code == 1
    assert "api_tools[order_status].request: environment variable API_URL is not set" in err
    assert "unknown tool" not in err  # a declared tool is a known tool
    (tmp_path / ".env").write_text("API_URL=http://127.0.0.1:9\n")
    main(["config", "check"])  # no SystemExit: valid
    assert "agent.yaml: valid" in capsys.readouterr().out


def test_jsonpath_subset() -> None:
    data = {"a": {"b-c": [{"x": 1}, {"x": 2}]}, "k": "v"}
    assert select(data, "$.a['b-c'][*].x") == [1, 2]
    assert select(data, "$.a.b-c[-1].x") == [2]
    assert select(data, "$.k") == ["v"]
    assert select(data, "$.missing.x") == []
    assert select(data, "$") == [data]
    assert parse_path("$.a[0]") == ["a", 0]
    with pytest.raises(ValueError, match=r"supported: \$, \.key"):
        parse_path("$.a[?(@.x>1)]")


def test_fill_keeps_types_and_drops_missing_optionals() -> None:
    args = {"n": 2, "s": "x y"}
    env = {"KEY": "k1"}
    assert fill("/p/{{ s }}?k=${KEY}", args, env) == "/p/x y?k=k1"
    body = {"n": "{{ n }}", "s": "id {{ s }}", "gone": "{{ other }}", "l": ["{{ n }}"]}
    assert fill_value(body, args, env) == {"n": 2, "s": "id x y", "l": [2]}
    assert mask("a k1k1 b", ["k1", "k1k1"]) == "a ******** b"


def test_scripted_extraction_from_the_schema() -> None:
    props = {
        "order_id": {"type": "string", "pattern": "^[A-Z][0-9]{4}$"},
        "qty": {"type": "integer"},
        "speed": {"type": "string", "enum": ["express", "standard"]},
    }
    got = extract("send 3 of order A1234 by express please", props)
    assert got == {"order_id": "A1234", "qty": 3, "speed": "express"}
    assert extract("the number is 12-XY", {"ref": {"type": "string"}}) == {"ref": "12-XY"}
    assert extract("nothing here", {"ref": {"type": "string"}}) == {}
    assert extract("Dupont", {"name": {"type": "string"}}, whole_answer=True) == {"name": "Dupont"}
