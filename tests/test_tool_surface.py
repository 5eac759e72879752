"""The tool surface of tools/list (size, descriptions, schema validity, duplicate names) against
real SDK servers, server-everything, and fakes for schemas no SDK would send."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from exporter.probers.tool_surface import canonical_json
from tests import fakes, hostile
from tests.conftest import Exporter
from tests.peers.mcp_servers import Peer, free_port, wait_for_port

TOOLS_SERVER = Path(__file__).parent / "peers" / "tools_server.py"
GOOD = {
    "name": "good",
    "description": "A tool.",
    "inputSchema": {"type": "object", "properties": {"x": {"type": "string"}}},
}
# Real-server tool lists the SDK's low-level server sends as written.
FLAWED = [
    GOOD,
    # same name, no description, a type keyword with a value 2020-12 does not have
    {"name": "good", "inputSchema": {"type": "object", "properties": {"x": {"type": "strin"}}}},
    # blank description; draft-07 named explicitly, with a negative minLength
    {
        "name": "other",
        "description": "  ",
        "inputSchema": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "properties": {"a": {"type": "string", "minLength": -1}},
        },
        "outputSchema": {"type": "object", "properties": {"n": {"type": "number"}}},
    },
]


def start_tools_server(tmp: Path, tools: list[dict[str, Any]]) -> Peer:
    path = tmp / f"tools-{free_port()}.json"
    path.write_text(json.dumps(tools))
    port = free_port()
    cmd = [sys.executable, str(TOOLS_SERVER), "--tools", str(path), "--port", str(port)]
    proc = subprocess.Popen(cmd)
    wait_for_port(port, proc)
    return Peer(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port}/mcp", proc)


@pytest.fixture(scope="module")
def flawed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    peer = start_tools_server(tmp_path_factory.mktemp("tools"), FLAWED)
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def good_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    peer = start_tools_server(tmp_path_factory.mktemp("tools"), [GOOD])
    yield peer
    peer.stop()


def surface(m: dict[str, float]) -> dict[str, float]:
    names = (
        "probe_mcp_tools_definition_bytes",
        "probe_mcp_tools_without_description",
        "probe_mcp_tool_schemas_invalid",
        "probe_mcp_tools_duplicate_names",
    )
    return {name.removeprefix("probe_mcp_"): m[name] for name in names}


async def test_a_clean_list_has_its_size_and_no_flaws(
    exporter: Exporter, good_server: Peer
) -> None:
    """One well-described tool: its canonical JSON's size, and nothing counted against it."""
    m = await exporter.probe(good_server.url)
    assert m["probe_success"] == 1
    assert surface(m) == {
        "tools_definition_bytes": len(canonical_json([GOOD])),
        "tools_without_description": 0,
        "tool_schemas_invalid": 0,
        "tools_duplicate_names": 0,
    }


async def test_flaws_of_a_real_servers_list_are_counted(
    exporter: Exporter, flawed_server: Peer
) -> None:
    """Missing and blank descriptions, schemas invalid for their dialect (2020-12 by default,
    draft-07 when named) and a repeated name are counted; the probe still succeeds."""
    # A first probe on a very busy machine may leave schemas for the next (the check budget).
    await exporter.probe(flawed_server.url)
    m = await exporter.probe(flawed_server.url)
    assert m["probe_success"] == 1
    assert surface(m) == {
        "tools_definition_bytes": len(canonical_json(FLAWED)),
        "tools_without_description": 2,
        "tool_schemas_invalid": 2,
        "tools_duplicate_names": 1,
    }
    status, text = await exporter.get(
        "/probe", target=flawed_server.url, module="mcp", debug="true"
    )
    assert status == 200
    assert "inputSchema is invalid at properties/x/type" in text
    assert "inputSchema is invalid at properties/a/minLength" in text


async def test_sdk_and_everything_servers_have_valid_schemas(
    exporter: Exporter, sdk_stateful: Peer, everything_http: Peer
) -> None:
    """The official SDK's and server-everything's generated schemas are valid and described."""
    for peer in (sdk_stateful, everything_http):
        m = await exporter.probe(peer.url)
        assert m["probe_success"] == 1
        flaws = surface(m)
        assert flaws["tools_definition_bytes"] >= 50 * m["probe_mcp_tools"]
        assert flaws["tools_without_description"] == 0
        assert flaws["tool_schemas_invalid"] == 0
        assert flaws["tools_duplicate_names"] == 0


def tools_answer(tools: list[Any]) -> fakes.Handler:
    async def respond(_request: web.Request, message: dict[str, Any]) -> web.StreamResponse:
        result = {"jsonrpc": "2.0", "id": message["id"], "result": {"tools": tools}}
        return web.json_response(result)

    return hostile.on_method("tools/list", respond)


@pytest.mark.parametrize(
    ("tool", "invalid"),
    [
        ({"name": "a", "description": "d"}, 1),  # no inputSchema
        ({"name": "a", "description": "d", "inputSchema": None}, 1),
        ({"name": "a", "description": "d", "inputSchema": {"type": "array"}}, 1),
        ({"name": "a", "description": "d", "inputSchema": {"properties": {}}}, 1),
        ({"name": "a", "description": "d", "inputSchema": ["type", "object"]}, 1),
        (
            {
                "name": "a",
                "description": "d",
                "inputSchema": {"type": "object", "$schema": "https://example.invalid/s"},
            },
            1,
        ),
        (
            {
                "name": "a",
                "description": "d",
                "inputSchema": {"type": "object"},
                "outputSchema": {"type": "object", "required": "x"},
            },
            1,
        ),
        # draft-07's array form of items is fine when draft-07 is named, not under 2020-12
        (
            {
                "name": "a",
                "description": "d",
                "inputSchema": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "properties": {"t": {"type": "array", "items": [{"type": "string"}]}},
                },
            },
            0,
        ),
        (
            {
                "name": "a",
                "description": "d",
                "inputSchema": {
                    "type": "object",
                    "properties": {"t": {"type": "array", "items": [{"type": "string"}]}},
                },
            },
            1,
        ),
    ],
)
async def test_schemas_no_sdk_sends_are_invalid(
    exporter: Exporter, tool: Any, invalid: int
) -> None:
    """A missing, non-object, non-`type: object`, unknown-dialect or metaschema-invalid schema is
    counted once per tool; a valid draft-07 schema naming its dialect is not."""
    async with fakes.serve(tools_answer([tool])) as url:
        m = await exporter.probe(url)
    assert m["probe_success"] == 1
    assert m["probe_mcp_tool_schemas_invalid"] == invalid


async def test_hostile_lists_are_measured_without_failing(exporter: Exporter) -> None:
    """Deeply nested schemas and non-ASCII text are measured, not crashed on (a tool that is not
    an object with a string name fails the list instead: see test_hostile_targets)."""
    deep: Any = {"type": "object"}
    for _ in range(400):
        deep = {"type": "object", "properties": {"x": deep}}
    tools = [
        {"name": "deep", "description": "d", "inputSchema": deep},
        {"name": "ünï\u202e", "description": "\U0001f600", "inputSchema": {"type": "object"}},
        {"name": "bare", "inputSchema": {"type": "object"}},
    ]
    async with fakes.serve(tools_answer(tools)) as url:
        m = await exporter.probe(url)
    assert m["probe_success"] == 1
    assert m["probe_mcp_tools_definition_bytes"] == len(canonical_json(tools))
    assert m["probe_mcp_tools_without_description"] == 1
    assert m["probe_mcp_tools_duplicate_names"] == 0


async def test_a_huge_list_is_checked_over_several_probes(exporter: Exporter) -> None:
    """Checking is bounded per probe (CHECK_BUDGET_SECONDS): a list of 3000 distinct schemas, one
    in three invalid, is not all checked by the first probe, which stays fast; the verdicts are
    kept, so later probes check the rest until every invalid one is counted."""
    tools = [
        {
            "name": f"t{i}",
            "description": "d",
            "inputSchema": {
                "type": "object",
                "properties": {f"p{i}": {"type": "strin" if i % 3 == 0 else "string"}},
            },
        }
        for i in range(3000)
    ]
    async with fakes.serve(tools_answer(tools)) as url:
        first = await exporter.probe(url)
        assert first["probe_success"] == 1
        assert first["probe_mcp_tool_schemas_invalid"] < 1000
        _status, text = await exporter.get("/probe", target=url, module="mcp", debug="true")
        assert "tool schemas left for the next probes" in text
        counts = []
        for _ in range(200):
            m = await exporter.probe(url)
            counts.append(m["probe_mcp_tool_schemas_invalid"])
            if counts[-1] == 1000:
                break
    assert counts[-1] == 1000
    assert counts == sorted(counts)
