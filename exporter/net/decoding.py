"""Content-Encoding decoders whose output is bounded, so a decompression bomb stops at the cap."""

from __future__ import annotations

import zlib
from typing import Final, Protocol

import brotli  # type: ignore[import-untyped]  # no stubs; two calls used

from .errors import ProtocolViolation

# What the exporter offers, like the HTTP clients of MCP SDKs and gateways do.
ACCEPT_ENCODING: Final = "gzip, deflate, br"


class Decoder(Protocol):
    """One body's decoder: fed chunk by chunk, each output bounded by `limit`."""

    def decode(self, data: bytes, limit: int) -> bytes:
        """Decoded bytes of `data`, at most `limit` + 1 of them (more means over the cap)."""

    def flush(self, limit: int) -> bytes:
        """What is left once the body ended."""


class Identity:
    """No Content-Encoding: the bytes as they came."""

    def decode(self, data: bytes, limit: int) -> bytes:
        """The bytes unchanged (the session enforces the cap)."""
        return data

    def flush(self, limit: int) -> bytes:
        """Nothing is held back."""
        return b""


class _Zlib:
    def __init__(self, wbits: int, name: str) -> None:
        self._name = name
        self._wbits = wbits
        self._obj = zlib.decompressobj(wbits)
        self._first = True

    def decode(self, data: bytes, limit: int) -> bytes:
        try:
            out = self._obj.decompress(data, limit + 1)
        except zlib.error as exc:
            if self._first and self._name == "deflate":
                # Some servers send raw deflate without the zlib wrapper (as browsers accept).
                self._first = False
                self._obj = zlib.decompressobj(-zlib.MAX_WBITS)
                return self.decode(data, limit)
            raise ProtocolViolation(f"invalid {self._name} body: {exc}") from None
        self._first = False
        return out

    def flush(self, limit: int) -> bytes:
        try:
            out = self._obj.decompress(self._obj.unconsumed_tail, limit + 1)
            return out + self._obj.flush() if len(out) <= limit else out
        except zlib.error as exc:
            raise ProtocolViolation(f"invalid {self._name} body: {exc}") from None


class _Brotli:
    def __init__(self) -> None:
        self._obj = brotli.Decompressor()

    def decode(self, data: bytes, limit: int) -> bytes:
        try:
            return bytes(self._obj.process(data, output_buffer_limit=limit + 1))
        except brotli.error as exc:
            raise ProtocolViolation(f"invalid br body: {exc}") from None

    def flush(self, limit: int) -> bytes:
        return b""


def decoder_for(content_encoding: str | None) -> Decoder:
    """The decoder for a Content-Encoding value (one coding; a chain is not offered, so refused)."""
    coding = (content_encoding or "").strip().lower()
    if coding in ("", "identity"):
        return Identity()
    if coding in ("gzip", "x-gzip"):
        return _Zlib(zlib.MAX_WBITS | 16, "gzip")
    if coding == "deflate":
        return _Zlib(zlib.MAX_WBITS, "deflate")
    if coding == "br":
        return _Brotli()
    raise ProtocolViolation(f"unsupported Content-Encoding {coding[:40]!r}")
