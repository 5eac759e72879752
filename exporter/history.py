"""Per-probe logs and the ring of recent probes shown on the landing page and at /logs."""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if text == "" or any(c in text for c in ' "=\n\t'):
        escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    return text


@dataclass
class ProbeLog:
    """Log lines of one probe, kept for debug output and /logs (bounded)."""

    max_lines: int = 500
    started: float = field(default_factory=time.time)
    lines: list[str] = field(default_factory=list)
    dropped: int = 0

    def _add(self, level: str, msg: str, fields: dict[str, Any]) -> None:
        if len(self.lines) >= self.max_lines:
            self.dropped += 1
            return
        offset = time.time() - self.started
        parts = [f"t={offset:.6f}", f"level={level}", f"msg={_logfmt_value(msg)}"]
        parts.extend(f"{k}={_logfmt_value(v)}" for k, v in fields.items())
        self.lines.append(" ".join(parts))

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
    log: str


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
        log: str,
    ) -> int:
        """Record a probe; returns its id."""
        probe_id = self._next_id
        self._next_id += 1
        self._records.append(
            ProbeRecord(probe_id, started, module, target, success, reason, duration, log)
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
