"""Properties of the parsers that read what targets (and operators) send: SSE, JSON-RPC responses
and config files. Hostile input may make them refuse, never crash."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from exporter import config
from exporter.mcp import jsonrpc
from exporter.mcp.sse import Event, SSEParser
from exporter.probers.failure import ProbeFailure

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def feed_all(chunks: list[bytes]) -> list[Event]:
    """Feed chunks in order to one parser; return every event."""
    parser = SSEParser()
    return [event for chunk in chunks for event in parser.feed(chunk)]


@st.composite
def chunked(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """`data` split at arbitrary points (empty chunks included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


# Bytes that exercise the parser's corners more often than uniform bytes would.
sse_alphabet = st.sampled_from(
    [
        *(b"\r", b"\n", b"\r\n", b":", b" ", b"data", b"event", b"id", b"retry", b"\xef\xbb\xbf"),
        *(b"\xff", b"\xc3", b"\xa9", b"\x00", b"7", b"\xc2\xb2", b"x", b"{}"),
    ]
)
sse_bytes = st.one_of(st.binary(max_size=300), st.lists(sse_alphabet, max_size=80).map(b"".join))


@SETTINGS
@given(st.data(), sse_bytes)
def test_sse_never_raises_and_ignores_chunking(data: st.DataObject, stream: bytes) -> None:
    """Any bytes in any chunking parse without raising, into the same events as in one piece."""
    whole = feed_all([stream])
    assert feed_all(data.draw(chunked(stream))) == whole
    assert feed_all([bytes([b]) for b in stream]) == whole


@pytest.mark.parametrize(
    "stream",
    ["retry: ²\n\n".encode(), b"retry: " + b"9" * 5000 + b"\n\n", b"retry: -1\n\n"],
    ids=["superscript_digit", "5000_digits", "negative"],
)
def test_sse_hostile_retry_is_ignored(stream: bytes) -> None:
    """A retry field that is not a sane number of milliseconds is ignored, not raised on."""
    assert SSEParser().feed(b"data: x\n" + stream) == [Event(data="x")]


field_text = st.text(
    alphabet=st.characters(blacklist_characters="\r\n\x00", blacklist_categories=["Cs"]),
    max_size=30,
)
event_name = field_text.filter(lambda name: name != "")
wire_event = st.fixed_dictionaries(
    {
        "data": st.lists(field_text, min_size=1, max_size=4),
        "event": st.none() | event_name,
        "id": st.none() | field_text,
        "retry": st.none() | st.integers(0, 10**9 - 1),
    }
)


@SETTINGS
@given(
    st.lists(wire_event, max_size=6),
    st.sampled_from(["\n", "\r", "\r\n"]),
    st.booleans(),
    st.data(),
)
def test_sse_well_formed_events_round_trip(
    events: list[dict[str, Any]], newline: str, comments: bool, data: st.DataObject
) -> None:
    """Events written with any line ending (and comments between fields) parse back exactly."""
    lines: list[str] = []
    expected: list[Event] = []
    last_id: str | None = None
    for item in events:
        if comments:
            lines.append(": keep-alive")
        if item["event"] is not None:
            lines.append(f"event: {item['event']}")
        if item["id"] is not None:
            lines.append(f"id: {item['id']}")
            last_id = item["id"]
        if item["retry"] is not None:
            lines.append(f"retry: {item['retry']}")
        lines.extend(f"data: {line}" for line in item["data"])
        lines.append("")
        expected.append(
            Event(
                event=item["event"] or "message",
                data="\n".join(item["data"]),
                id=last_id,
                retry_ms=item["retry"],
            )
        )
    stream = "".join(line + newline for line in lines).encode()
    assert feed_all(data.draw(chunked(stream))) == expected


def test_sse_long_lines_cost_linear_time() -> None:
    """A 4 MiB line fed in 1 KiB pieces, and 4 MiB of blank lines, parse in well under a second."""
    import time

    started = time.perf_counter()
    parser = SSEParser()
    for _ in range(4096):
        parser.feed(b"x" * 1024)
    for _ in range(64):
        parser.feed(b"\n" * 65536)
    assert time.perf_counter() - started < 1.0


# --- JSON-RPC ----------------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@st.composite
def response_like(draw: st.DrawFn) -> Any:
    """Mostly response-shaped objects with arbitrary members, sometimes anything at all."""
    if draw(st.integers(0, 5)) == 0:
        return draw(json_values)
    keys = {
        "jsonrpc": st.sampled_from(["2.0", "1.0", 2.0]) | json_values,
        "id": st.sampled_from([1, 2, "1", None, 1.0, True]) | json_values,
        "result": st.dictionaries(st.text(max_size=8), json_values, max_size=3) | json_values,
        "error": st.fixed_dictionaries(
            {"code": st.integers() | json_values, "message": json_values}
        )
        | json_values,
        "method": st.text(max_size=10),
    }
    chosen = draw(st.sets(st.sampled_from(sorted(keys)), max_size=5))
    message = {key: draw(keys[key]) for key in chosen}
    return [message] if draw(st.integers(0, 9)) == 0 else message


@SETTINGS
@given(response_like())
def test_result_of_returns_a_result_or_a_probe_failure(message: Any) -> None:
    """result_of either returns the result object of a valid response or raises ProbeFailure."""
    failure: ProbeFailure | None = None
    try:
        result = jsonrpc.result_of(message, 1, "client_to_upstream", "tools_list")
    except ProbeFailure as exc:
        failure = exc
    if failure is not None:
        assert failure.reason in ("jsonrpc_invalid", "jsonrpc_error")
        assert (failure.hop, failure.phase) == ("client_to_upstream", "tools_list")
    else:
        assert isinstance(message, dict)
        assert message["jsonrpc"] == "2.0"
        assert message["id"] == 1
        assert "error" not in message
        assert result is message["result"]


json_texts = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200),
    json_values.map(json.dumps),
    st.integers(1, 5000).map(lambda depth: "[" * depth + "]" * depth),
    st.integers(1, 5000).map(lambda depth: '{"a":' * depth + "1" + "}" * depth),
)


@SETTINGS
@given(json_texts)
@example(b"\xff\xfe\x00")
@example("1" * 5000)
@example("[" * 100_000)
def test_decode_returns_json_or_a_probe_failure(data: bytes | str) -> None:
    """decode parses JSON or raises ProbeFailure (not_mcp or jsonrpc_invalid), nothing else."""
    reason = "parsed"
    try:
        jsonrpc.decode(data, "client_to_upstream", "initialize")
    except ProbeFailure as failure:
        reason = failure.reason
    assert reason in ("parsed", "not_mcp", "jsonrpc_invalid")


# --- config files ------------------------------------------------------------------------------


def _vocabulary(model: type[BaseModel], seen: set[type[BaseModel]] | None = None) -> set[str]:
    """Every key the config schema knows, so generated files reach deep into it."""
    seen = seen if seen is not None else set()
    if model in seen:
        return set()
    seen.add(model)
    words = set(model.model_fields)
    for info in model.model_fields.values():
        for candidate in _models_in(info.annotation):
            words |= _vocabulary(candidate, seen)
    return words


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in getattr(annotation, "__args__", ()) for m in _models_in(arg)]


KEYS = sorted(_vocabulary(config.Config))
config_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-5, 10**6)
    | st.floats(allow_nan=True)
    | st.sampled_from(
        [
            *("mcp", "discovery", "10s", "500ms", "1m30s", "4MiB", "tools_list", "ping", "auto"),
            *("sse", "streamable_http", "2024-11-05", "2026-07-28", "/nonexistent/file"),
            *("MISSING_ENV", "127.0.0.1", "10.0.0.0/8", "https", "*.example.com", "", "0"),
        ]
    )
    | st.text(max_size=12)
)
config_trees = st.recursive(
    config_scalars,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=4)
    ),
    max_leaves=25,
)
config_documents = st.one_of(
    config_trees.map(yaml.safe_dump),
    st.dictionaries(st.text(max_size=6) | st.just("a"), config_trees, max_size=3).map(
        lambda modules: yaml.safe_dump({"modules": modules})
    ),
    st.text(max_size=200),
    st.lists(
        st.sampled_from(
            ["modules:", "  a:", "    prober: mcp", "    mcp:", "      - ", "{", "[", ":"]
        )
        | st.sampled_from([f"    {key}: x" for key in KEYS]),
        max_size=10,
    ).map("\n".join),
)


@SETTINGS
@given(config_documents)
@example("modules: {a: {prober: mcp, mcp: {limits: {max_response_bytes: '%sGiB'}}}}" % ("9" * 5000))
@example("\x00")
@example("modules: !!python/object:os.system {}")
def test_config_parse_raises_only_config_error(text: str) -> None:
    """Any text either loads or raises ConfigError with one line per problem."""
    problems = ["(loaded)"]
    try:
        config.parse(text, "property.yml")
    except config.ConfigError as exc:
        problems = exc.problems
    assert problems
    assert all(problem and "\n" not in problem for problem in problems)


def test_config_parse_deeply_nested_yaml() -> None:
    """A pathologically nested YAML document is a ConfigError, not a crash."""
    with pytest.raises(config.ConfigError):
        config.parse("[" * 5000 + "]" * 5000, "nested.yml")


def test_config_problem_stays_on_one_line() -> None:
    """A key with a line break in it still gives one line per problem."""
    with pytest.raises(config.ConfigError) as caught:
        config.parse("modules:\n  ? 'a\n\n  b'\n  : {prober: nope}\n", "newline.yml")
    assert all("\n" not in problem for problem in caught.value.problems)
