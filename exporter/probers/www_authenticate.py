"""Parser for ``WWW-Authenticate`` header values (RFC 9110 section 11.6.1, formerly RFC 7235).

A header value is a comma-separated list of challenges; each challenge is an auth scheme
followed by either a token68 or a comma-separated list of ``name=value`` parameters, where a
value is a token or a quoted string with backslash escapes. Commas therefore separate both
challenges and parameters: an element that is a bare token (not followed by ``=``) starts a new
challenge. The parameters the MCP authorization spec relies on come from RFC 6750 section 3
(``realm``, ``scope``, ``error``, ``error_description``, ``error_uri``) and RFC 9728 section 5.1
(``resource_metadata``); ``authorization_uri`` is a common extension.

The parser is lenient and total: it never raises, returns every challenge and parameter it
could make sense of, and skips the rest up to the next comma. Scheme and parameter names are
case-insensitive and returned in lower case; values keep their case. When a parameter appears
twice in one challenge, the first value wins. Control characters are replaced by spaces before
parsing (they are not valid in a header value). Work is bounded: at most :data:`MAX_VALUES`
header values of at most :data:`MAX_VALUE_CHARS` characters each are read, and at most
:data:`MAX_CHALLENGES` challenges with :data:`MAX_PARAMS` parameters each are returned; parsing
is a single left-to-right pass, linear in the input it reads.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "MAX_CHALLENGES",
    "MAX_PARAMS",
    "MAX_VALUES",
    "MAX_VALUE_CHARS",
    "AuthChallenge",
    "Challenge",
    "bearer_challenge",
    "format_challenge",
    "parse_www_authenticate",
]

MAX_VALUES = 16
MAX_VALUE_CHARS = 8192
MAX_CHALLENGES = 32
MAX_PARAMS = 32

# RFC 9110 section 5.6.2 tchar.
_TCHAR = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
# RFC 9110 section 11.2 token68, without the trailing "=" padding.
_TOKEN68 = frozenset("-._~+/0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_WS = frozenset(" \t")
_PAD = frozenset("=")
_CTL = dict.fromkeys((*range(0x09), *range(0x0A, 0x20), 0x7F), " ")


@dataclass(frozen=True)
class Challenge:
    """One challenge: ``scheme`` and ``params`` names in lower case; ``token68`` if one was
    given instead of parameters (then ``params`` is empty)."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    token68: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.params, MappingProxyType):
            object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def get(self, name: str) -> str | None:
        """A parameter by case-insensitive name."""
        return self.params.get(name.lower())

    @property
    def realm(self) -> str | None:
        """The ``realm`` parameter."""
        return self.get("realm")

    @property
    def scope(self) -> str | None:
        """The raw ``scope`` value (space-delimited scope tokens)."""
        return self.get("scope")

    @property
    def scopes(self) -> tuple[str, ...]:
        """The ``scope`` value split into scope tokens (empty when absent)."""
        return tuple((self.scope or "").split())

    @property
    def error(self) -> str | None:
        """RFC 6750 section 3.1: the ``error`` code (invalid_token, insufficient_scope, ...)."""
        return self.get("error")

    @property
    def error_description(self) -> str | None:
        """RFC 6750 section 3: the human-readable ``error_description``."""
        return self.get("error_description")

    @property
    def error_uri(self) -> str | None:
        """RFC 6750 section 3: the ``error_uri``."""
        return self.get("error_uri")

    @property
    def resource_metadata(self) -> str | None:
        """RFC 9728 section 5.1: the protected-resource metadata URL."""
        return self.get("resource_metadata")

    @property
    def authorization_uri(self) -> str | None:
        """The ``authorization_uri`` some servers send (not in RFC 6750)."""
        return self.get("authorization_uri")

    @property
    def is_bearer(self) -> bool:
        """Whether the challenge's scheme is Bearer (case-insensitive)."""
        return self.scheme == "bearer"


@dataclass(frozen=True, slots=True)
class AuthChallenge:
    """A 401 or 403 that answered one of the probe's MCP requests, as it arrived.

    Discovery after an auth failure starts from it instead of asking again: the MCP
    specification (2025-06-18 on) says a client MUST use the ``resource_metadata`` of the
    challenge it received, and a fresh unauthenticated request may be answered differently
    (a server that lets ``initialize`` through, a gateway that wants its key).
    """

    status: int
    url: str
    values: tuple[str, ...]
    bearer: Challenge | None
    credentials_sent: bool

    @classmethod
    def received(
        cls, status: int, url: str, values: Iterable[str], credentials_sent: bool
    ) -> AuthChallenge:
        """The challenge of one answer, its header values bounded as the parser reads them."""
        kept = tuple(v[:MAX_VALUE_CHARS] for v, _ in zip(values, range(MAX_VALUES), strict=False))
        bearer = bearer_challenge(parse_www_authenticate(kept))
        return cls(status, url, kept, bearer, credentials_sent)


def bearer_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """The first ``Bearer`` challenge, or None."""
    for challenge in challenges:
        if challenge.scheme == "bearer":
            return challenge
    return None


def parse_www_authenticate(values: Iterable[str]) -> list[Challenge]:
    """Every challenge in the given header values (one per header line), in order.

    A single string is taken as one header value. Items that are not strings are ignored
    (``bytes`` are decoded as ISO-8859-1, as HTTP header bytes are).
    """
    if isinstance(values, str | bytes):
        values = [values]
    challenges: list[Challenge] = []
    try:
        iterator = iter(values)
    except TypeError:
        return challenges
    for count, value in enumerate(iterator):
        if count >= MAX_VALUES or len(challenges) >= MAX_CHALLENGES:
            break
        if isinstance(value, bytes):
            value = value[:MAX_VALUE_CHARS].decode("iso-8859-1")
        if not isinstance(value, str):
            continue
        _parse_value(value[:MAX_VALUE_CHARS].translate(_CTL), challenges)
    return challenges


def format_challenge(challenge: Challenge) -> str:
    """A header value for ``challenge`` (parameter values always quoted). The parser reads it
    back as an equal challenge when the names are tokens and ``token68`` is a token68."""
    if challenge.token68 is not None:
        return f"{challenge.scheme} {challenge.token68}"
    params = ", ".join(f"{name}={_quote(value)}" for name, value in challenge.params.items())
    return f"{challenge.scheme} {params}" if params else challenge.scheme


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _parse_value(s: str, out: list[Challenge]) -> None:
    n = len(s)
    i = 0
    current: _Builder | None = None
    while i < n and len(out) < MAX_CHALLENGES:
        i = _skip(s, i, _WS | {","})
        if i >= n:
            break
        name_end = _span(s, i, _TCHAR)
        if name_end == i:  # not a token: skip this element (s[i] is no comma, so i advances)
            i = _skip_element(s, i)
            continue
        after = _skip(s, name_end, _WS)
        if after < n and s[after] == "=" and current is not None:
            # name=value of the current challenge (after a comma)
            i = _parse_param(s, i, name_end, after, current)
            continue
        if after < n and s[after] == "=":  # a parameter with no scheme before it
            i = _skip_element(s, after + 1)
            continue
        # a new challenge
        if current is not None:
            out.append(current.build())
        current = _Builder(s[i:name_end].lower())
        i = after
        if i >= n or s[i] == ",":
            continue
        # token68?
        t_end = _span(s, i, _TOKEN68)
        if t_end > i:
            pad_end = _span(s, t_end, _PAD)
            rest = _skip(s, pad_end, _WS)
            if rest >= n or s[rest] == ",":
                current.token68 = s[i:pad_end]
                out.append(current.build())
                current = None
                i = rest
                continue
        # otherwise the first auth-param
        name_end = _span(s, i, _TCHAR)
        after = _skip(s, name_end, _WS)
        if name_end > i and after < n and s[after] == "=":
            i = _parse_param(s, i, name_end, after, current)
        else:
            i = _skip_element(s, i)
    if current is not None and len(out) < MAX_CHALLENGES:
        out.append(current.build())


class _Builder:
    __slots__ = ("params", "scheme", "token68")

    def __init__(self, scheme: str) -> None:
        self.scheme = scheme
        self.params: dict[str, str] = {}
        self.token68: str | None = None

    def build(self) -> Challenge:
        return Challenge(self.scheme, MappingProxyType(self.params), self.token68)


def _parse_param(s: str, start: int, name_end: int, eq: int, current: _Builder) -> int:
    """Parse the value after ``=`` at ``eq``; record it; return the index after the element."""
    n = len(s)
    i = _skip(s, eq + 1, _WS)
    value: str
    if i < n and s[i] == '"':
        value, i = _quoted(s, i + 1)
    else:
        end = i
        while end < n and s[end] != "," and s[end] not in _WS:
            end += 1
        value, i = s[i:end], end
    name = s[start:name_end].lower()
    if name not in current.params and len(current.params) < MAX_PARAMS:
        current.params[name] = value
    # Lenient: a missing comma before the next name=value still separates parameters.
    i = _skip(s, i, _WS)
    next_end = _span(s, i, _TCHAR)
    if (
        i >= n
        or s[i] == ","
        or (next_end > i and _skip(s, next_end, _WS) < n and s[_skip(s, next_end, _WS)] == "=")
    ):
        return i
    return _skip_element(s, i)


def _quoted(s: str, i: int) -> tuple[str, int]:
    """The content of a quoted string whose opening quote is before ``i``; an unterminated
    string runs to the end."""
    n = len(s)
    parts: list[str] = []
    start = i
    while i < n:
        c = s[i]
        if c == '"':
            parts.append(s[start:i])
            return "".join(parts), i + 1
        if c == "\\" and i + 1 < n:
            parts.append(s[start:i])
            start = i + 1
            i += 2
            continue
        i += 1
    parts.append(s[start:n])
    return "".join(parts), n


def _skip(s: str, i: int, chars: frozenset[str] | set[str]) -> int:
    n = len(s)
    while i < n and s[i] in chars:
        i += 1
    return i


def _span(s: str, i: int, chars: frozenset[str]) -> int:
    return _skip(s, i, chars)


def _skip_element(s: str, i: int) -> int:
    """Skip to the next comma outside a quoted string (or the end); return its index."""
    n = len(s)
    while i < n:
        c = s[i]
        if c == ",":
            return i
        if c == '"':
            _, i = _quoted(s, i + 1)
            continue
        i += 1
    return n
