"""Text from a target, made safe for every surface it reaches.

JSON text may carry lone surrogates (`"\\ud800"` is legal JSON), which no UTF-8 encoder accepts:
one in a server name crashed the metrics answer. Control characters move terminals and break
log lines. Everything a target sends enters through `loads` (JSON) or is passed through `clean`
before it is written down; the renderers apply `clean` again as a last guard.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, Final

REPLACEMENT: Final = "\ufffd"
# Lone surrogates, C0 controls but tab and newline, DEL and C1 controls.
_UNSAFE_RE: Final = re.compile(r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]")
# The same plus tab and newline, for text that must stay on one line (label values).
_UNSAFE_LINE_RE: Final = re.compile(r"[\ud800-\udfff\x00-\x1f\x7f-\x9f]")
# A JSON escape of a lone surrogate: a high one not followed by a low one, or a low one not
# after a high one (a pair is one character, as an emoji is escaped). Without one, decoded JSON
# text holds no surrogate (strict UTF-8 decoding refuses encoded ones), so most documents, and
# deeply nested ones with emoji, skip the walk.
_LONE_SURROGATE_ESCAPE_RE: Final = re.compile(
    r"\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    r"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2}"
)
_ELLIPSIS: Final = "\u2026"


def clean(text: str, limit: int | None = None, *, one_line: bool = False) -> str:
    """`text` without surrogates or control characters (each becomes U+FFFD), at most `limit`
    characters long (an ellipsis marks a cut)."""
    if not (text.isascii() and text.isprintable()):
        text = (_UNSAFE_LINE_RE if one_line else _UNSAFE_RE).sub(REPLACEMENT, text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + _ELLIPSIS
    return text


def encodable(text: str) -> str:
    """`text` with lone surrogates replaced, so it always encodes as UTF-8 (cheap when clean)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return re.sub(r"[\ud800-\udfff]", REPLACEMENT, text)
    return text


def map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    """A JSON-like value with `fn` applied to every string and key in it."""
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list | tuple):
        return [map_strings(item, fn) for item in value]
    if isinstance(value, dict):
        return {fn(k) if isinstance(k, str) else k: map_strings(v, fn) for k, v in value.items()}
    return value


def without_surrogates(value: Any) -> Any:
    """A JSON-like value with lone surrogates replaced in every string and key."""
    return map_strings(value, encodable)


def loads(data: bytes | str) -> Any:
    """Parse JSON from a target: strict UTF-8, and no lone surrogate in any string or key.

    Text given as str must come from a decoder that replaces what it cannot decode (the SSE
    parser does), so only JSON escapes can carry a surrogate.

    Raises ValueError (UnicodeDecodeError included) and RecursionError as json.loads does.
    """
    text = data.decode("utf-8") if isinstance(data, bytes | bytearray) else data
    text = text.removeprefix("\ufeff")
    value = json.loads(text)
    if _LONE_SURROGATE_ESCAPE_RE.search(text):
        value = without_surrogates(value)
    return value
