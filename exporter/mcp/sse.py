"""An incremental Server-Sent Events parser (WHATWG "event stream interpretation")."""

from __future__ import annotations

import codecs
import io
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Event:
    """One dispatched SSE event. `data` is '' for priming events."""

    event: str = "message"
    data: str = ""
    id: str | None = None
    retry_ms: int | None = None


class SSEParser:
    """Feed bytes as they arrive; get complete events back.

    Handles CRLF, CR and LF line endings split across chunks, comments, a leading BOM, and
    invalid UTF-8 (replaced, so a hostile stream cannot raise here).
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # The unterminated start of the current line. A buffer rather than a string, so that a
        # long line fed in small chunks costs linear time, not quadratic.
        self._partial = io.StringIO()
        self._pending_cr = False
        self._started = False
        self._event = ""
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None
        self._saw_field = False

    def feed(self, chunk: bytes) -> list[Event]:
        """Parse a chunk and return the events it completed."""
        text = self._decoder.decode(chunk)
        if not text:
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._pending_cr:
            self._pending_cr = False
            text = text.removeprefix("\n")
        # A CR at the end may be the first half of a CRLF split across chunks.
        self._pending_cr = text.endswith("\r")
        lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        self._partial.write(lines[0])
        if len(lines) == 1:
            return []
        lines[0] = self._partial.getvalue()
        self._partial = io.StringIO()
        self._partial.write(lines.pop())
        events: list[Event] = []
        for line in lines:
            # Blank lines with no field before them dispatch nothing; skip them cheaply.
            if line or self._saw_field:
                event = self._line(line)
                if event is not None:
                    events.append(event)
        return events

    def _line(self, line: str) -> Event | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        self._saw_field = True
        if name == "event":
            self._event = value
        elif name == "data":
            self._data.append(value)
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry" and value.isascii() and value.isdigit() and len(value) <= 9:
            self._retry = int(value)
        return None

    def _dispatch(self) -> Event | None:
        if not self._saw_field:
            return None
        event = Event(
            event=self._event or "message",
            data="\n".join(self._data),
            id=self._id,
            retry_ms=self._retry,
        )
        self._event = ""
        self._data = []
        self._retry = None
        self._saw_field = False
        return event
