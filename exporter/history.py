"""Per-probe logs and the ring of recent probes shown on the landing page and at /logs."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from .untrusted import clean

# Field values are often a target's text (an error body, a server name): one line is bounded,
# after redaction, so a cut never leaves half a secret behind.
MAX_LINE_CHARS: Final = 4000


def _logfmt_value(value: Any) -> str:
    text = clean(str(value))
    if text == "" or any(c in text for c in ' "=\n\t'):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    return text


@dataclass(frozen=True, slots=True)
class Span:
    """One timed phase of a probe on one hop, for the waterfall of the HTML pages.

    `start` and `end` are seconds since the probe began; `seconds` is the phase's own time as
    probe_mcp_phase_duration_seconds counts it (a step's time excludes connection set-up done
    inside it, which has spans of its own).
    """

    hop: str
    phase: str
    start: float
    end: float
    seconds: float


@dataclass
class ProbeLog:
    """Log entries of one probe, kept for debug output and /logs (bounded).

    Entries are formatted only when read: most probes' logs are never looked at, and
    formatting every line of every probe was a measurable share of a probe's CPU.
    """

    max_lines: int = 500
    started: float = field(default_factory=time.time)
    entries: list[tuple[float, str, str, dict[str, Any]]] = field(default_factory=list)
    dropped: int = 0
    # Applied to every rendered line: scrubs credentials echoed back by a target.
    redactor: Callable[[str], str] | None = None
    spans: list[Span] = field(default_factory=list)
    max_spans: int = 200

    def span(self, hop: str, phase: str, start: float, end: float, seconds: float) -> None:
        """Record a timed phase (times from time.time(), turned into offsets here)."""
        if len(self.spans) < self.max_spans:
            self.spans.append(
                Span(hop, phase, start - self.started, end - self.started, max(0.0, seconds))
            )

    def _add(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        if len(self.entries) >= self.max_lines:
            self.dropped += 1
            return
        self.entries.append((time.time() - self.started, level, msg, fields))

    def debug(self, msg: str, **fields: Any) -> None:
        """Detail of one exchange."""
        self._add("debug", msg, fields)

    def info(self, msg: str, **fields: Any) -> None:
        """A step's outcome."""
        self._add("info", msg, fields)

    def warning(self, msg: str, **fields: Any) -> None:
        """Something off that did not fail the probe."""
        self._add("warn", msg, fields)

    def error(self, msg: str, **fields: Any) -> None:
        """What failed the probe."""
        self._add("error", msg, fields)

    @property
    def lines(self) -> list[str]:
        """The entries as logfmt lines."""
        out = []
        for offset, level, msg, fields in self.entries:
            parts = [f"t={offset:.6f}", f"level={level}", f"msg={_logfmt_value(msg)}"]
            parts.extend(f"{k}={_logfmt_value(v)}" for k, v in fields.items())
            line = " ".join(parts)
            if self.redactor is not None:
                line = self.redactor(line)
            out.append(clean(line, MAX_LINE_CHARS))
        return out

    def text(self) -> str:
        """All lines, newline-terminated."""
        tail = [f"... {self.dropped} more lines dropped"] if self.dropped else []
        return "".join(f"{line}\n" for line in [*self.lines, *tail])


@dataclass(frozen=True, slots=True)
class ProbeRecord:
    """A finished probe as the landing page lists it."""

    id: int
    started: float
    module: str
    target: str
    success: bool
    reason: str
    duration: float
    probe_log: ProbeLog
    replay: Callable[[], str] | None = None

    @property
    def log(self) -> str:
        """The probe's log, rendered now, followed by its curl replay."""
        replay = self.replay() if self.replay is not None else ""
        return self.probe_log.text() + (f"\nReplay:\n{replay}" if replay else "")


class History:
    """The most recent probes, newest first, with stable ids."""

    def __init__(self, size: int = 100) -> None:
        self._records: deque[ProbeRecord] = deque(maxlen=size)
        self._next_id = 0

    def add(
        self,
        *,
        started: float,
        module: str,
        target: str,
        success: bool,
        reason: str,
        duration: float,
        log: ProbeLog,
        replay: Callable[[], str] | None = None,
    ) -> int:
        """Record a probe; returns its id."""
        probe_id = self._next_id
        self._next_id += 1
        self._records.append(
            ProbeRecord(probe_id, started, module, target, success, reason, duration, log, replay)
        )
        return probe_id

    def recent(self) -> list[ProbeRecord]:
        """Newest first."""
        return list(reversed(self._records))

    def get(self, probe_id: int) -> ProbeRecord | None:
        """One probe by id, if still kept."""
        for record in self._records:
            if record.id == probe_id:
                return record
        return None
