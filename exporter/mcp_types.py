"""The MCP result types the probe reads, checked as the schema of the negotiated revision says.

A server's answer counts only if it is what the schema describes: a tool list of
`[{"name": 42}, "x", null, {}]` is not four tools. Each check raises `SchemaViolation` naming
the path of the first violation (`tools[1]: not an object`), which the prober reports as
`initialize_invalid` or `jsonrpc_invalid`.

Hand-written rather than the SDK's pydantic models (`mcp.types`): importing those costs about
1.5 s and 28 MB of memory on top of the exporter, and makes the SDK a runtime dependency, while
these checks cost about a microsecond per tool. Members a revision does not define are ignored
(the schema allows extra members); members it defines must have their type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

REVISIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
# Content block types of CallToolResult.content, by the revision that added them.
_CONTENT_TYPES: Final = {
    "text": "2024-11-05",
    "image": "2024-11-05",
    "resource": "2024-11-05",
    "audio": "2025-03-26",
    "resource_link": "2025-06-18",
}
_MISSING: Final = object()
_CAPABILITIES: Final = ("tools", "resources", "prompts", "logging", "completions", "experimental")


class SchemaViolation(ValueError):
    """A value that is not what the schema says; `path` locates it ("tools[1].name")."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}" if path else problem)
        self.path = path
        self.problem = problem


_RANK: Final = {version: rank for rank, version in enumerate(REVISIONS)}


def _since(version: str, added: str) -> bool:
    """Whether `version` has what `added` introduced (unknown versions: the newest)."""
    return _RANK.get(version, len(REVISIONS)) >= _RANK[added]


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise SchemaViolation(path, f"not an object ({_type_name(value)})")
    return value


def _string(obj: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> None:
    value = obj.get(key, _MISSING)
    if type(value) is str:
        return
    if value is _MISSING:
        if required:
            raise SchemaViolation(path, f"lacks {key}")
        return
    raise SchemaViolation(_at(path, key), f"not a string ({_type_name(value)})")


def _optional(obj: Mapping[str, Any], key: str, path: str, kind: type, name: str) -> None:
    if key in obj and (
        not isinstance(obj[key], kind) or isinstance(obj[key], bool) != (kind is bool)
    ):
        raise SchemaViolation(_at(path, key), f"not {name} ({_type_name(obj[key])})")


def _at(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _items(value: Any, path: str) -> list[Any]:
    if not isinstance(value, list):
        raise SchemaViolation(path, f"not an array ({_type_name(value)})")
    return value


def _icons(obj: Mapping[str, Any], path: str, version: str) -> None:
    if "icons" not in obj or not _since(version, "2025-11-25"):
        return
    for index, icon in enumerate(_items(obj["icons"], _at(path, "icons"))):
        where = f"{_at(path, 'icons')}[{index}]"
        _string(_object(icon, where), "src", where, required=True)


def implementation(value: Any, path: str, version: str) -> None:
    """Implementation (serverInfo): name and version strings."""
    obj = _object(value, path)
    _string(obj, "name", path, required=True)
    _string(obj, "version", path, required=True)
    if _since(version, "2025-06-18"):
        _string(obj, "title", path)
    if _since(version, "2025-11-25"):
        _string(obj, "description", path)
        _string(obj, "websiteUrl", path)
    _icons(obj, path, version)


def initialize_result(value: Any, version: str) -> None:
    """InitializeResult: protocolVersion, capabilities (each declared one an object),
    serverInfo, instructions."""
    obj = _object(value, "")
    _string(obj, "protocolVersion", "", required=True)
    if "capabilities" not in obj:
        raise SchemaViolation("", "lacks capabilities")
    capabilities = _object(obj["capabilities"], "capabilities")
    for name in (*_CAPABILITIES, *(("tasks",) if _since(version, "2025-11-25") else ())):
        if name in capabilities:
            _object(capabilities[name], f"capabilities.{name}")
    if "serverInfo" not in obj:
        raise SchemaViolation("", "lacks serverInfo")
    implementation(obj["serverInfo"], "serverInfo", version)
    _string(obj, "instructions", "")


def tool(value: Any, path: str, version: str) -> None:
    """Tool: an object with a string name, and the optional members' types.

    inputSchema and outputSchema are JSON Schemas: whether they are present and valid is what
    the tool-surface check measures (`probe_mcp_tool_schemas_invalid`, per tool), so a bad
    schema is counted there rather than failing the whole list here.
    """
    obj = _object(value, path)
    _string(obj, "name", path, required=True)
    _string(obj, "description", path)
    _optional(obj, "annotations", path, dict, "an object")
    if _since(version, "2025-06-18"):
        _string(obj, "title", path)
    _icons(obj, path, version)


def resource(value: Any, path: str, version: str) -> None:
    """Resource: uri and name, and the optional members' types."""
    obj = _object(value, path)
    _string(obj, "uri", path, required=True)
    _string(obj, "name", path, required=True)
    _string(obj, "description", path)
    _string(obj, "mimeType", path)
    _optional(obj, "annotations", path, dict, "an object")
    if "size" in obj and (isinstance(obj["size"], bool) or not isinstance(obj["size"], int)):
        raise SchemaViolation(_at(path, "size"), f"not an integer ({_type_name(obj['size'])})")
    if _since(version, "2025-06-18"):
        _string(obj, "title", path)
    _icons(obj, path, version)


def prompt(value: Any, path: str, version: str) -> None:
    """Prompt: name, and arguments each with a name."""
    obj = _object(value, path)
    _string(obj, "name", path, required=True)
    _string(obj, "description", path)
    if "arguments" in obj:
        for index, argument in enumerate(_items(obj["arguments"], _at(path, "arguments"))):
            where = f"{_at(path, 'arguments')}[{index}]"
            arg = _object(argument, where)
            _string(arg, "name", where, required=True)
            _string(arg, "description", where)
            _optional(arg, "required", where, bool, "a boolean")
    if _since(version, "2025-06-18"):
        _string(obj, "title", path)
    _icons(obj, path, version)


_ITEM_CHECKS: Final[dict[str, Callable[[Any, str, str], None]]] = {
    "tools": tool,
    "resources": resource,
    "prompts": prompt,
}


def list_result(value: Any, key: str, version: str) -> list[Any]:
    """ListToolsResult, ListResourcesResult or ListPromptsResult (`key`: tools, resources,
    prompts): every item checked, nextCursor a string. Returns the items."""
    obj = _object(value, "")
    if key not in obj:
        raise SchemaViolation("", f"lacks {key}[]")
    items = _items(obj[key], key)
    check = _ITEM_CHECKS[key]
    for index, item in enumerate(items):
        check(item, f"{key}[{index}]", version)
    _string(obj, "nextCursor", "")
    return items


def _content_block(value: Any, path: str, version: str) -> None:
    obj = _object(value, path)
    kind = obj.get("type")
    if not isinstance(kind, str):
        raise SchemaViolation(_at(path, "type"), "lacks a string type")
    added = _CONTENT_TYPES.get(kind)
    if added is None or not _since(version, added):
        raise SchemaViolation(
            _at(path, "type"), f"{kind[:40]!r} is not a content type in {version}"
        )
    if kind == "text":
        _string(obj, "text", path, required=True)
    elif kind in ("image", "audio"):
        _string(obj, "data", path, required=True)
        _string(obj, "mimeType", path, required=True)
    elif kind == "resource":
        embedded = _object(obj.get("resource"), _at(path, "resource"))
        _string(embedded, "uri", _at(path, "resource"), required=True)
    else:  # resource_link
        _string(obj, "uri", path, required=True)
        _string(obj, "name", path, required=True)
    _optional(obj, "annotations", path, dict, "an object")


def call_tool_result(value: Any, version: str) -> None:
    """CallToolResult: content blocks of the revision's types, isError a boolean,
    structuredContent an object."""
    obj = _object(value, "")
    if "content" not in obj:
        raise SchemaViolation("", "lacks content[]")
    for index, block in enumerate(_items(obj["content"], "content")):
        _content_block(block, f"content[{index}]", version)
    _optional(obj, "isError", "", bool, "a boolean")
    if _since(version, "2025-06-18"):
        _optional(obj, "structuredContent", "", dict, "an object")
