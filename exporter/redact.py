"""Keeping credentials out of everything a probe writes down.

Secrets are masked where they are configured (/config, debug output), but a probe also writes
text that came from elsewhere: error bodies, challenges, notes. A hostile or careless server can
echo a request's Authorization header back in an error body, so every credential a probe sent is
also scrubbed from its log, notes and failure detail before anyone sees them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import parse_qsl, urlsplit, urlunsplit

SENSITIVE_HEADER_RE: Final = re.compile(
    r"auth|cookie|key|token|secret|passw|session", re.IGNORECASE
)
# Query parameters that carry credentials (?api_key=, ?access_token=, a signed URL's ?sig=).
SENSITIVE_QUERY_RE: Final = re.compile(
    r"auth|cookie|key|token|secret|passw|session|sig|code|jwt|credential", re.IGNORECASE
)
MASK: Final = "<secret>"
# Shorter values are too likely to occur in ordinary text to be replaced blindly.
_MIN_LENGTH: Final = 6
# A query value this long is treated as a credential whatever its parameter is called.
_TOKEN_LIKE_LENGTH: Final = 20


def display_url(url: str) -> str:
    """`url` as output shows it: no query string or fragment (they may carry credentials) and
    no userinfo."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def query_secrets(url: str) -> list[str]:
    """Values of `url`'s query that are credentials: those of credential-like parameters, and
    any long enough to be a token."""
    try:
        query = urlsplit(url).query
    except ValueError:
        return []
    found = []
    for name, value in parse_qsl(query, keep_blank_values=False):
        if SENSITIVE_QUERY_RE.search(name) or len(value) >= _TOKEN_LIKE_LENGTH:
            found.append(value)
            raw = next((p for p in query.split("&") if p.startswith(f"{name}=")), "")
            if raw and raw[len(name) + 1 :] != value:
                found.append(raw[len(name) + 1 :])  # the percent-encoded form, as sent
    return found


def is_sensitive_header(name: str) -> bool:
    """Headers whose values are credentials even when given inline."""
    return bool(SENSITIVE_HEADER_RE.search(name))


def header_secrets(name: str, value: str) -> list[str]:
    """The credential parts of a sensitive header's value (whole value and scheme-less part)."""
    if not is_sensitive_header(name):
        return []
    parts = [value]
    _scheme, sep, rest = value.partition(" ")
    if sep and rest:
        parts.append(rest.strip())
    return parts


class Redactor:
    """Replaces known secret values in text, and the pieces of them a cut left behind.

    Text is often cut to length before it reaches a redactor (an excerpt of an error body, a
    bounded id in a message). A piece that still holds a long secret's first or last
    `_FRAGMENT` characters is masked too, as far as it matches the secret.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._ordered: list[str] = []
        self._pieces: list[str] = []
        for secret in secrets:
            self.add(secret)

    def add(self, secret: str) -> None:
        """Remember a value to scrub."""
        if len(secret) >= _MIN_LENGTH and secret not in self._secrets:
            self._secrets.add(secret)
            # Longest first, so a value containing another is masked whole.
            self._ordered = sorted(self._secrets, key=len, reverse=True)
            self._pieces = [
                value for value in self._ordered if len(value) >= 2 * _FRAGMENT and " " not in value
            ]

    def __call__(self, text: str) -> str:
        """`text` with every known secret, and every cut piece of one, replaced by the mask."""
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, MASK)
        # Pieces only after every whole value is gone, and only of values without a space: a
        # header's "Bearer ..." starts like ordinary text, and its token is a secret of its own.
        for secret in self._pieces:
            if secret[:_FRAGMENT] in text:
                text = _mask_pieces(text, secret, from_start=True)
            if secret[-_FRAGMENT:] in text:
                text = _mask_pieces(text, secret, from_start=False)
        return text


# A cut piece of a secret is recognised by this many of its first or last characters.
_FRAGMENT: Final = 12


def _mask_pieces(text: str, secret: str, *, from_start: bool) -> str:
    """Mask each piece of `text` that is a prefix (or suffix) of `secret` of `_FRAGMENT` or
    more characters."""
    out: list[str] = []
    position = 0
    if from_start:
        needle = secret[:_FRAGMENT]
        while (found := text.find(needle, position)) != -1:
            end = found + _FRAGMENT
            limit = min(len(text), found + len(secret))
            while end < limit and text[end] == secret[end - found]:
                end += 1
            out.append(text[position:found] + MASK)
            position = end
        return "".join(out) + text[position:]
    needle = secret[-_FRAGMENT:]
    while (found := text.find(needle, position)) != -1:
        end = found + _FRAGMENT
        start = found
        offset = len(secret) - _FRAGMENT  # secret index of text[found]
        while start > position and offset > 0 and text[start - 1] == secret[offset - 1]:
            start -= 1
            offset -= 1
        out.append(text[position:start] + MASK)
        position = end
    return "".join(out) + text[position:]
