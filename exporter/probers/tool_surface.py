"""The tool surface an agent pays for: what `tools/list` costs a model's context, and its quality.

A client puts the whole tool list into the model's context, so its size is a running cost; a tool
without a description or with a schema no client can validate is one an agent misuses. Everything
here comes from the server and is untrusted: any JSON, any depth, any size (bounded by the
response size limit before it gets here).
"""

from __future__ import annotations

import json
import time
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from typing import Any, Final

from jsonschema import exceptions as schema_errors
from jsonschema import validators

from .context import ProbeContext

# The dialect a schema without `$schema` is read in. 2025-11-25 made JSON Schema 2020-12 the
# default dialect (basic/index.mdx, "JSON Schema Usage"); earlier revisions name none, and the
# same default is the best guess for them (SDKs of those revisions emit 2020-12 or draft-07
# documents that 2020-12 also accepts, apart from draft-07's array form of `items`).
DEFAULT_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
# The dialects a schema may name in `$schema` (with or without the trailing '#').
DIALECTS: Final = {
    "https://json-schema.org/draft/2020-12/schema": validators.Draft202012Validator,
    "https://json-schema.org/draft/2019-09/schema": validators.Draft201909Validator,
    "http://json-schema.org/draft-07/schema": validators.Draft7Validator,
    "http://json-schema.org/draft-06/schema": validators.Draft6Validator,
    "http://json-schema.org/draft-04/schema": validators.Draft4Validator,
}
_SCHEMA_FIELDS: Final = ("inputSchema", "outputSchema")
_LOGGED_PROBLEMS: Final = 5
# A server lists the same schemas probe after probe: checking one against the 2020-12 metaschema
# costs ~0.5 ms, looking up its verdict a few microseconds. Bounded in entries and entry size.
_VERDICTS: OrderedDict[str, str | None] = OrderedDict()
_MAX_VERDICTS: Final = 4096
_MAX_CACHED_SCHEMA: Final = 16 * 1024
_CHECKERS: dict[str, Any] = {}
# Checking is CPU work the probe's deadline cannot interrupt: a probe checks new schemas for at
# most this long, the rest on its next probes (their verdicts are kept), so a huge or hostile
# tool list never stalls the exporter. A schema larger than _MAX_CHECKED is not checked at all.
CHECK_BUDGET_SECONDS: Final = 0.1
_MAX_CHECKED: Final = 256 * 1024
_JSON_TYPES: Final = {
    "list": "array",
    "str": "string",
    "int": "number",
    "float": "number",
    "bool": "boolean",
    "NoneType": "null",
}


class _Unchecked(Exception):
    """A schema left unchecked: the probe's budget is spent, or it is too large."""


@dataclass(slots=True)
class ToolSurface:
    """What the tool list costs and how well it is described."""

    definition_bytes: int = 0
    without_description: int = 0
    schemas_invalid: int = 0
    duplicate_names: int = 0
    schema_check_seconds: float = 0.0
    schemas_unchecked: int = 0
    problems: list[str] = field(default_factory=list)


def canonical_json(tools: list[Any]) -> bytes:
    """The tool list as a client serialises it for a model: sorted keys, no whitespace, UTF-8."""
    return json.dumps(
        tools, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=True
    ).encode("utf-8", "surrogatepass")


def schema_problem(schema: Any, deadline: float = float("inf")) -> str | None:
    """Why `schema` is not a valid MCP tool schema, or None when it is.

    MCP requires an object schema (`type: "object"`, schema.ts `Tool.inputSchema` and
    `outputSchema`), valid against the metaschema of its dialect: the one its `$schema` names,
    else the default. A dialect this client cannot validate is a problem too. Raises _Unchecked
    when a schema not seen before would be checked after `deadline` (perf_counter), or is larger
    than can be checked.
    """
    if not isinstance(schema, dict):
        kind = _JSON_TYPES.get(type(schema).__name__, type(schema).__name__)
        return f"is a JSON {kind}, not an object"
    if schema.get("type") != "object":
        return 'has no type "object"'
    dialect = schema.get("$schema", DEFAULT_DIALECT)
    if not isinstance(dialect, str):
        return "has a $schema that is not a string"
    dialect = dialect.rstrip("#")
    if dialect not in DIALECTS:
        return f"names an unknown dialect {dialect[:80]!r}"
    try:
        key = json.dumps(schema, sort_keys=True, separators=(",", ":"))
    except (ValueError, RecursionError):
        return "is nested too deeply to check"
    if key in _VERDICTS:
        _VERDICTS.move_to_end(key)
        return _VERDICTS[key]
    if len(key) > _MAX_CHECKED or time.perf_counter() > deadline:
        raise _Unchecked
    verdict = _check(dialect, schema)
    if len(key) <= _MAX_CACHED_SCHEMA:
        _VERDICTS[key] = verdict
        if len(_VERDICTS) > _MAX_VERDICTS:
            _VERDICTS.popitem(last=False)
    return verdict


def forget_verdicts() -> None:
    """Forget every kept schema verdict, so the next probes check their schemas anew (the
    benchmark measures the first probe of a server this way)."""
    _VERDICTS.clear()


def _check(dialect: str, schema: dict[str, Any]) -> str | None:
    checker = _CHECKERS.get(dialect)
    if checker is None:
        validator = DIALECTS[dialect]
        checker = _CHECKERS[dialect] = validator(validator.META_SCHEMA)
    try:
        error = schema_errors.best_match(checker.iter_errors(schema))
    except RecursionError:
        return "is nested too deeply to check"
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path)[:80] or "(top level)"
    return f"is invalid at {where}: {error.message[:120]}"


def measure(tools: list[Any]) -> ToolSurface:
    """The tool surface of a `tools/list` result (every page)."""
    try:
        size = len(canonical_json(tools))
    except RecursionError:
        size = 0  # the list decoded, but is too deep to re-encode here: no size is known
    surface = ToolSurface(definition_bytes=size)
    names: list[str] = []
    started = time.perf_counter()
    deadline = started + CHECK_BUDGET_SECONDS
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict):
            surface.without_description += 1
            surface.schemas_invalid += 1
            surface.problems.append(f"tools[{index}] is not an object")
            continue
        name = tool.get("name")
        label = repr(name[:64]) if isinstance(name, str) else f"tools[{index}]"
        if isinstance(name, str):
            names.append(name)
        description = tool.get("description")
        if not isinstance(description, str) or not description.strip():
            surface.without_description += 1
        invalid = False
        for key in _SCHEMA_FIELDS:
            if key not in tool and key == "outputSchema":
                continue  # optional
            try:
                problem = schema_problem(tool.get(key), deadline)
            except _Unchecked:
                surface.schemas_unchecked += 1
                continue
            if problem is not None:
                invalid = True
                surface.problems.append(f"tool {label}: {key} {problem}")
        surface.schemas_invalid += invalid
    surface.schema_check_seconds = time.perf_counter() - started
    surface.duplicate_names = sum(count - 1 for count in Counter(names).values())
    return surface


def write_tool_surface(ctx: ProbeContext, tools: list[Any]) -> ToolSurface:
    """Measure the listed tools and write the probe_mcp_tools_* / tool_schemas metrics."""
    surface = measure(tools)
    reg = ctx.registry
    reg.set(
        "probe_mcp_tools_definition_bytes",
        "Size of the canonical JSON of the whole tool list (what a client loads into a model's "
        "context).",
        surface.definition_bytes,
    )
    reg.set(
        "probe_mcp_tools_without_description",
        "Tools without a description (missing, not a string, or blank).",
        surface.without_description,
    )
    reg.set(
        "probe_mcp_tool_schemas_invalid",
        "Tools whose inputSchema or outputSchema is not a valid JSON Schema object schema.",
        surface.schemas_invalid,
    )
    reg.set(
        "probe_mcp_tools_duplicate_names",
        "Tools listed under a name an earlier tool already has.",
        surface.duplicate_names,
    )
    for problem in surface.problems[:_LOGGED_PROBLEMS]:
        ctx.log.warning("tool schema invalid", problem=problem)
    if surface.duplicate_names:
        ctx.log.warning("duplicate tool names", duplicates=surface.duplicate_names)
    if surface.schemas_unchecked:
        ctx.log.info(
            "tool schemas left for the next probes (check budget spent, or too large)",
            unchecked=surface.schemas_unchecked,
        )
    ctx.log.debug(
        "tool surface",
        definition_bytes=surface.definition_bytes,
        without_description=surface.without_description,
        schemas_invalid=surface.schemas_invalid,
        schema_check_seconds=round(surface.schema_check_seconds, 6),
    )
    return surface
