"""probe_mcp_spec_deviation: every rule on every mcp probe, against real SDK servers,
server-everything, and fakes for what no real server here gets wrong."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiohttp import web

from exporter.probers.deviations import RULE_NAMES
from tests import fakes, hostile
from tests.conftest import Exporter, ExporterFactory
from tests.peers.mcp_servers import Peer, start_sdk

CONFIG = """
modules:
  plain:
    prober: mcp
    mcp: {steps: [tools_list, ping]}
  checks:
    prober: mcp
    mcp: {steps: [tools_list, ping], spec_checks: true}
  checks_2025_06_18:
    prober: mcp
    mcp: {steps: [tools_list], spec_checks: true, protocol_version: "2025-06-18"}
"""


def deviations(m: dict[str, float]) -> dict[str, float]:
    found = {
        key[len('probe_mcp_spec_deviation{rule="') : -2]: value
        for key, value in m.items()
        if key.startswith("probe_mcp_spec_deviation{")
    }
    assert sorted(found) == sorted(RULE_NAMES), "every rule, on every probe"
    return found


def broken(m: dict[str, float]) -> list[str]:
    return sorted(rule for rule, value in deviations(m).items() if value == 1)


@pytest.fixture
async def exporter_checks(make_exporter: ExporterFactory) -> Exporter:
    return await make_exporter(CONFIG)


@pytest.fixture(scope="module")
def sdk_protected() -> Iterator[Peer]:
    """An SDK server with its Host/Origin validation on (its default on localhost)."""
    peer = start_sdk("stateful", origin_protection=True)
    yield peer
    peer.stop()


async def test_every_rule_is_written_even_when_nothing_is_checked(
    exporter_checks: Exporter, sdk_stateful: Peer
) -> None:
    """Without spec_checks the SDK server breaks no passive rule, every rule is 0, and no extra
    request is sent."""
    before = len(sdk_stateful.requests())
    m = await exporter_checks.probe(sdk_stateful.url, "plain")
    assert m["probe_success"] == 1
    assert broken(m) == []
    methods = [r["method"] for r in sdk_stateful.requests()[before:]]
    assert methods == ["POST", "POST", "POST", "POST", "DELETE"]


async def test_a_protected_sdk_server_follows_every_rule(
    exporter_checks: Exporter, sdk_protected: Peer
) -> None:
    """The SDK with its Origin validation on answers the unsupported version with 400, the foreign
    Origin with 403 and the deleted session with 404: no rule broken, the probe succeeds."""
    before = len(sdk_protected.requests())
    m = await exporter_checks.probe(sdk_protected.url, "checks")
    assert m["probe_success"] == 1
    assert broken(m) == []
    seen = sdk_protected.requests()[before:]
    assert [r["method"] for r in seen] == ["POST"] * 6 + ["DELETE", "POST"]
    assert "1999-01-01" in [r["protocol_version"] for r in seen]
    assert m['probe_mcp_phase_duration_seconds{phase="spec_checks"}'] > 0


async def test_origin_validation_switched_off_is_a_deviation(
    exporter_checks: Exporter, sdk_stateful: Peer
) -> None:
    """The same SDK server with its Origin validation off accepts a foreign Origin; a
    2025-06-18 session is not checked for it (the 403 rule is 2025-11-25's)."""
    m = await exporter_checks.probe(sdk_stateful.url, "checks")
    assert m["probe_success"] == 1
    assert broken(m) == ["invalid_origin_accepted"]
    m = await exporter_checks.probe(sdk_stateful.url, "checks_2025_06_18")
    assert m["probe_success"] == 1
    assert broken(m) == []


async def test_everything_server_keeps_answering_400_for_a_deleted_session(
    exporter_checks: Exporter, everything_http: Peer
) -> None:
    """server-everything answers a deleted session's id with 400, not 404, and accepts any
    Origin."""
    m = await exporter_checks.probe(everything_http.url, "checks")
    assert m["probe_success"] == 1
    assert broken(m) == ["invalid_origin_accepted", "session_not_terminated"]


def respond_with(method: str, response: Callable[[], web.StreamResponse]) -> fakes.Handler:
    async def respond(_request: web.Request, _message: dict[str, Any]) -> web.StreamResponse:
        return response()

    return hostile.on_method(method, respond)


async def test_notification_answered_200_with_a_body(exporter_checks: Exporter) -> None:
    """A 200 with a JSON body to notifications/initialized breaks both notification rules; a
    stateless fake that validates nothing also ignores the unsupported version and the Origin."""
    handler = respond_with("notifications/initialized", lambda: web.json_response({"ok": True}))
    async with fakes.serve(handler) as url:
        m = await exporter_checks.probe(url, "plain")
        assert m["probe_success"] == 1
        assert broken(m) == ["notification_not_202", "notification_response_body"]
        m = await exporter_checks.probe(url, "checks")
    assert broken(m) == [
        "invalid_origin_accepted",
        "notification_not_202",
        "notification_response_body",
        "protocol_version_header_ignored",
    ]


async def test_ping_with_a_result_and_a_refused_delete(exporter_checks: Exporter) -> None:
    """ping answered with a non-empty result, and DELETE of the session answered 500."""

    async def override(request: web.Request, message: dict[str, Any]) -> web.StreamResponse | None:
        if message.get("method") == "initialize":
            reply = fakes.initialize_result(message["id"])
            return web.json_response(reply, headers={"Mcp-Session-Id": "s-1"})
        if message.get("method") == "ping":
            return web.json_response({"jsonrpc": "2.0", "id": message["id"], "result": {"a": 1}})
        return None

    inner = hostile.mcp_server(override)

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.method == "DELETE":
            return web.Response(status=500)
        return await inner(request)

    async with fakes.serve(handler) as url:
        m = await exporter_checks.probe(url, "plain")
    assert m["probe_success"] == 1
    assert broken(m) == ["ping_result_not_empty", "session_delete_rejected"]
