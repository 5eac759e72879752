"""A response of the network layer: its headers and its body, read on demand within the caps.

`Session.request` returns a `Response` once the status line and headers have arrived; the body
is read only when asked for, decoded as it arrives and cut off at `Limits.max_body_bytes`, and a
`Headers` keeps repeated fields in order. `Limits` holds the caps a session applies to whatever a
target sends back.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Final

import h2.exceptions
import httpcore

from .decoding import Decoder, decoder_for
from .errors import (
    ConnectionDropped,
    NetError,
    ProtocolViolation,
    TooLarge,
    protocol_error,
    shown,
)

# Yield to the event loop after this many bytes of a body that arrives all at once.
_YIELD_EVERY: Final = 65536


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps on what a target may send back."""

    max_body_bytes: int = 4 * 1024 * 1024
    max_header_bytes: int = 64 * 1024
    max_redirects: int = 5


class Headers:
    """Response headers: case-insensitive, repeated fields kept in order."""

    __slots__ = ("_items",)

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of header `name` (case-insensitive), or `default`."""
        lname = name.lower()
        for key, value in self._items:
            if key == lname:
                return value
        return default

    def get_all(self, name: str) -> list[str]:
        """Every value of header `name` (case-insensitive), in order."""
        lname = name.lower()
        return [v for k, v in self._items if k == lname]

    def items(self) -> list[tuple[str, str]]:
        """(name, value) pairs, names lower-cased, in the order received."""
        return list(self._items)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None


class Response:
    """A response whose body is read on demand, decoded, within the session's size cap."""

    def __init__(
        self, raw: httpcore.Response, method: str, url: str, headers: Headers, limits: Limits
    ) -> None:
        self._raw = raw
        self.method = method
        self.url = url
        self.status = raw.status
        reason = raw.extensions.get("reason_phrase", b"")
        self.reason = reason.decode("latin-1") if isinstance(reason, bytes) else ""
        version = raw.extensions.get("http_version", b"HTTP/1.1")
        self.http_version = version.decode("ascii", "replace") if isinstance(version, bytes) else ""
        self.headers = headers
        self._limits = limits
        self._reading = False
        self._closed = False

    @property
    def content_type(self) -> str:
        """The media type without parameters, lower-cased ('' if absent)."""
        value = self.headers.get("content-type") or ""
        return value.split(";", 1)[0].strip().lower()

    async def iter_chunks(self) -> AsyncIterator[bytes]:
        """Yield the decoded body as it arrives; raises TooLarge past the cap."""
        if self._reading:
            raise RuntimeError("body already being read")
        self._reading = True
        cap = self._limits.max_body_bytes
        decoder: Decoder = decoder_for(self.headers.get("content-encoding"))
        total = 0
        since_yield = 0
        try:
            async for raw in _stream(self._raw):
                chunk = decoder.decode(raw, cap - total)
                total += len(chunk)
                if total > cap:
                    raise TooLarge(f"response body from {shown(self.url)} exceeds {cap} bytes")
                if chunk:
                    yield chunk
                # A fast target's whole body is buffered already; let other probes in.
                since_yield += len(raw) + 512
                if since_yield >= _YIELD_EVERY:
                    since_yield = 0
                    await asyncio.sleep(0)
            tail = decoder.flush(cap - total)
            total += len(tail)
            if total > cap:
                raise TooLarge(f"response body from {shown(self.url)} exceeds {cap} bytes")
            if tail:
                yield tail
        except NetError:
            await self.aclose()
            raise
        except httpcore.ReadError as exc:
            await self.aclose()
            raise ConnectionDropped(f"connection lost while reading the body: {exc}") from None
        except httpcore.RemoteProtocolError as exc:
            await self.aclose()
            raise protocol_error(exc) from None
        except h2.exceptions.ProtocolError as exc:
            # httpcore passes h2's errors on a body through unmapped (a length lie, say).
            await self.aclose()
            raise ProtocolViolation(f"invalid HTTP/2 answer: {exc or type(exc).__name__}") from None
        await self.aclose()

    async def read(self) -> bytes:
        """Read the whole body (bounded by the session's cap)."""
        return b"".join([chunk async for chunk in self.iter_chunks()])

    async def aclose(self) -> None:
        """Release the connection; an unread body makes httpcore close it."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(httpcore.ReadError, httpcore.RemoteProtocolError, OSError):
            await self._raw.aclose()


async def _stream(raw: httpcore.Response) -> AsyncIterator[bytes]:
    async for chunk in raw.aiter_stream():
        yield chunk
