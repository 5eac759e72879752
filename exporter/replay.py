"""Replay: the `curl` commands that repeat each request of a probe, for support and for a person.

Every credential becomes a shell variable the operator sets (`$MCP_TOKEN`, `$LITELLM_KEY`, ...);
the session id becomes `$MCP_SESSION_ID`, set by the initialize command from the answer's
`Mcp-Session-Id`. Everything else is quoted with `shlex.quote`: URLs, header values and bodies
may carry any text a target chose (an endpoint event, a metadata document's URLs).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Final

from .config import (
    LiteLLMCompletionModule,
    LiteLLMCompletionProber,
    LiteLLMGateway,
    LiteLLMHealthModule,
    LiteLLMHealthProber,
    MCPModule,
    Module,
    hidden_secret_values,
)
from .probers.context import RecordedRequest
from .redact import is_sensitive_header
from .untrusted import clean

SESSION_VARIABLE: Final = "MCP_SESSION_ID"
HEADERS_FILE: Final = "mcp-replay.headers"
GRANT_FILE: Final = "mcp-replay.token.json"
_SESSION_HEADER: Final = "mcp-session-id"
_KNOWN_VARIABLES: Final = {
    "x-litellm-api-key": "LITELLM_KEY",
}
QUERY_VARIABLE: Final = "MCP_QUERY"
_EXPLANATIONS: Final = {
    "MCP_TOKEN": "the bearer token of the MCP requests (Authorization: Bearer ...)",
    "LITELLM_KEY": "the LiteLLM gateway key",
    "OAUTH_CLIENT_SECRET": "the OAuth client secret of the token request, form-encoded",
    "OAUTH_CLIENT_BASIC": "base64 of client_id:client_secret (form-encoded), for the token request",
    SESSION_VARIABLE: "set by the initialize command from its Mcp-Session-Id answer",
    QUERY_VARIABLE: "the query string of the URL, without '?' (not shown: a query may carry "
    "credentials)",
    "MCP_ENDPOINT": "the URL of the `endpoint` event on the GET stream (run that command first, "
    "in another terminal: the answers to the POSTs arrive on it)",
}
_NOT_NAME_CHARS: Final = re.compile(r"[^A-Z0-9]+")


@dataclass
class _Variables:
    """Secret values and the shell variables standing for them."""

    by_value: dict[str, str] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def name(self, wanted: str, value: str) -> str:
        """The variable for `value`, named `wanted` (or wanted_2, ... if taken by another)."""
        if value in self.by_value:
            return self.by_value[value]
        taken = set(self.by_value.values())
        name, n = wanted, 1
        while name in taken:
            n += 1
            name = f"{wanted}_{n}"
        self.by_value[value] = name
        self.order.append(name)
        return name


def _variable_for_header(header: str, value: str, module: Module, phase: str) -> str:
    lowered = header.lower()
    if lowered in _KNOWN_VARIABLES:
        return _KNOWN_VARIABLES[lowered]
    if lowered == "authorization":
        if value.lower().startswith("basic ") and phase == "token":
            return "OAUTH_CLIENT_BASIC"
        block: LiteLLMGateway | LiteLLMCompletionProber | LiteLLMHealthProber | None = None
        if isinstance(module, MCPModule):
            block = module.mcp.litellm
        elif isinstance(module, LiteLLMCompletionModule):
            block = module.litellm_completion
        elif isinstance(module, LiteLLMHealthModule):
            block = module.litellm_health
        gateway = block is not None and block.key_header == "authorization"
        if gateway and phase not in ("token",) and not phase.startswith("upstream_"):
            return "LITELLM_KEY"
        return "MCP_TOKEN"
    return _NOT_NAME_CHARS.sub("_", header.upper()).strip("_") or "SECRET"


def _word(text: str, secrets: dict[str, str], scrub: Callable[[str], str]) -> str:
    """One shell word: literal parts single-quoted (scrubbed, control characters replaced: a
    target chose them), secret values "$VARIABLE"."""
    if not secrets:
        return shlex.quote(clean(scrub(text)))
    pattern = re.compile("|".join(re.escape(v) for v in sorted(secrets, key=len, reverse=True)))
    parts: list[str] = []
    pos = 0
    for match in pattern.finditer(text):
        if match.start() > pos:
            parts.append(shlex.quote(clean(scrub(text[pos : match.start()]))))
        parts.append(f'"${secrets[match.group(0)]}"')
        pos = match.end()
    if pos < len(text) or not parts:
        parts.append(shlex.quote(clean(scrub(text[pos:]))))
    return "".join(parts)


def _credential(value: str) -> str:
    """The credential part of a header value: after an auth scheme ("Bearer x"), else all."""
    scheme, sep, rest = value.partition(" ")
    if sep and rest.strip() and scheme.isalpha() and len(scheme) <= 20:
        return rest.strip()
    return value


def commands(
    requests: Iterable[RecordedRequest],
    module: Module,
    timeout: float,
    scrub: Callable[[str], str] = lambda text: text,
) -> list[tuple[str, str]]:
    """(comment, command) per recorded request, in the order they were sent.

    `scrub` is applied to every literal part: a credential the variables missed comes out
    masked (and the command broken) rather than printed.
    """
    variables = _Variables()
    configured = [v for v in hidden_secret_values(module) if v]
    requests = list(requests)
    has_session = any(
        name.lower() == _SESSION_HEADER for r in requests for name, _value in r.headers
    )
    out: list[tuple[str, str]] = []
    for index, request in enumerate(requests, 1):
        # This request's secret values, each with the variable standing for it.
        secrets = {value: variables.name(name, value) for name, value in request.secrets}
        for name, value in request.headers:
            if name.lower() == _SESSION_HEADER:
                secrets[value] = variables.name(SESSION_VARIABLE, value)
            elif is_sensitive_header(name) or any(c in value for c in configured):
                credential = _credential(value)
                wanted = _variable_for_header(name, value, module, request.phase)
                secrets[credential] = variables.name(wanted, credential)
        for value, name in variables.by_value.items():
            secrets.setdefault(value, name)
        lines = [
            f"curl -sS -m {timeout:g} -w '\\nHTTP %{{http_code}}\\n' -X {request.method}"
            + (" -N" if request.phase == "sse_connect" else "")
            + f" {_url(request.url, secrets, scrub, variables)}"
        ]
        lines += [f"-H {_word(f'{n}: {v}', secrets, scrub)}" for n, v in request.headers]
        if request.body is not None:
            body = request.body.decode("utf-8", "replace")
            lines.append(f"--data-binary {_word(body, secrets, scrub)}")
        initialize = has_session and request.phase == "initialize" and request.method == "POST"
        if initialize:
            lines.append(f"-D {HEADERS_FILE}")
        token = request.phase == "token" and request.method == "POST"
        if token:
            lines.append(f"-o {GRANT_FILE}")
        command = " \\\n  ".join(lines)
        if initialize:
            command += (
                f'\n{SESSION_VARIABLE}=$(awk \'tolower($1)=="mcp-session-id:" '
                f"{{print $2}}' {HEADERS_FILE} | tr -d '\\r')"
            )
        if token:
            # The MCP requests below use the token this request returns.
            command += (
                f'\ncat {GRANT_FILE}; echo\nMCP_TOKEN=$(sed -n \'s/.*"access_token"'
                f'[[:space:]]*:[[:space:]]*"\\([^"]*\\)".*/\\1/p\' {GRANT_FILE})'
            )
        out.append((f"{index}. {request.phase} ({request.method})", command))
    return out


def _url(
    url: str, secrets: dict[str, str], scrub: Callable[[str], str], variables: _Variables
) -> str:
    """The URL as one shell word; a query string is a variable the operator sets, because it may
    carry credentials and the target is never shown with its query."""
    base, sep, query = url.partition("?")
    if not sep:
        return _word(url, secrets, scrub)
    name = variables.name(QUERY_VARIABLE, query)
    return f"{_word(base, secrets, scrub)}'?'\"${name}\""


def variables_needed(script: list[tuple[str, str]]) -> list[str]:
    """The shell variables the commands use, in order of first use."""
    seen: list[str] = []
    for _comment, command in script:
        for name in re.findall(r'"\$([A-Z0-9_]+)"', command):
            if name not in seen:
                seen.append(name)
    return seen


def render(
    requests: Iterable[RecordedRequest],
    module: Module,
    timeout: float,
    scrub: Callable[[str], str] = lambda text: text,
) -> str:
    """The replay section of the debug output, /logs and the one-shot report ('' if no request)."""
    script = commands(requests, module, timeout, scrub)
    if not script:
        return ""
    # Variables an earlier command of the script assigns (NAME=$(...)) are not the operator's.
    assigned = {
        name for _c, command in script for name in re.findall(r"^(\w+)=\$\(", command, re.MULTILINE)
    }
    lines = ["# Replay of this probe's requests with curl. Set these variables first:"]
    for name in variables_needed(script):
        if name in assigned:
            continue
        base = re.sub(r"_\d+$", "", name)
        explanation = _EXPLANATIONS.get(base, f"the value of the {base} header")
        lines.append(f"#   export {name}=...   # {explanation}")
    for name in sorted(assigned):
        meaning = {
            SESSION_VARIABLE: _EXPLANATIONS[SESSION_VARIABLE],
            "MCP_TOKEN": "set by the token request from its access_token",
        }.get(name, "set by the command before its first use")
        lines.append(f"# {name} is {meaning}.")
    for comment, command in script:
        lines.append(f"# {comment}")
        lines.append(command)
    return "\n".join(lines) + "\n"
