"""Value types of the configuration: durations, sizes, secrets, and the strict base model."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ByteSize,
    ConfigDict,
    Field,
    PlainSerializer,
    model_validator,
)

# RFC 6749 section 3.3 scope-token.
SCOPE_PATTERN: Final = r"^[\x21\x23-\x5b\x5d-\x7e]+$"
PROTOCOL_VERSIONS: Final = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28")
ProtocolVersion = Literal["2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25", "2026-07-28"]
Step = Literal["tools_list", "ping", "resources_list", "prompts_list", "tool_call"]

# Prometheus' duration units (1d, 1w, 1y are as long as Prometheus makes them).
_DURATION_RE: Final = re.compile(r"^(?:(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y))+$")
_DURATION_PART_RE: Final = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)")
_UNITS: Final = {
    "ms": 0.001,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
    "y": 365 * 86400.0,
}


def _duration(value: object) -> object:
    """Accept Prometheus-style durations ("10s", "1m30s", "500ms") and plain seconds."""
    if isinstance(value, bool):
        raise ValueError("expected a duration such as 10s or 500ms")
    seconds: float | None = None
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if _DURATION_RE.match(text):
            seconds = sum(float(n) * _UNITS[u] for n, u in _DURATION_PART_RE.findall(text))
        else:
            try:
                seconds = float(text)
            except ValueError:
                seconds = None
    # inf and nan parse as floats but are no duration (a timeout of inf never ends).
    if seconds is None or not math.isfinite(seconds):
        raise ValueError(f"invalid duration {value!r}: expected e.g. 10s, 500ms or 1m30s")
    return seconds


def size_problem(value: object) -> str:
    """The one message for a value that is no size."""
    return f"invalid size {value!r}: expected bytes or e.g. 64KiB, 4MiB"


def _no_bool(value: object) -> object:
    # YAML's `yes` is an int to ByteSize (1 byte); in a size it is a mistake.
    if isinstance(value, bool):
        raise ValueError(size_problem(value))
    return value


def compiled_regex(value: str, placeholder: str | None = None) -> str:
    """A regular expression that compiles (with `placeholder` standing for what a probe puts
    there), kept as its text so /config shows what the operator wrote."""
    try:
        re.compile(value.replace(placeholder, "0") if placeholder else value)
    except re.error as exc:
        raise ValueError(f"invalid regular expression: {exc}") from None
    return value


Duration = Annotated[float, BeforeValidator(_duration), Field(gt=0)]
Regex = Annotated[str, AfterValidator(compiled_regex)]
# pydantic's ByteSize: 4MiB, 64 KiB, 1.5MB, 100 (bytes); dumped as a plain int for /config.
Size = Annotated[ByteSize, BeforeValidator(_no_bool), Field(gt=0), PlainSerializer(int)]


class StrictModel(BaseModel):
    """The base of every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Secret(StrictModel):
    """A secret given inline, read from a file, or read from an environment variable.

    A plain string in YAML is an inline secret. Files are read at use time so that rotated
    credentials (for example a re-mounted Kubernetes Secret) take effect without a reload.
    """

    value: str | None = None
    file: Path | None = None
    env: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_string(cls, data: object) -> object:
        if isinstance(data, str):
            return {"value": data}
        return data

    @model_validator(mode="after")
    def _exactly_one(self) -> Secret:
        given = [n for n in ("value", "file", "env") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of value, file, env")
        return self

    def reveal(self) -> str:
        """The secret's current value; raises OSError/KeyError naming the source if missing."""
        if self.value is not None:
            return self.value
        if self.file is not None:
            try:
                return self.file.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise OSError(f"cannot read secret file {self.file}: {exc.strerror}") from None
            except UnicodeDecodeError:
                raise OSError(f"cannot read secret file {self.file}: not UTF-8 text") from None
            except ValueError as exc:  # a NUL in the file name, which no file can have
                raise OSError(f"cannot read secret file {str(self.file)!r}: {exc}") from None
        assert self.env is not None
        try:
            return os.environ[self.env]
        except KeyError:
            raise KeyError(f"environment variable {self.env} is not set") from None

    def check(self) -> str | None:
        """A one-line problem if the secret cannot be read now, else None."""
        try:
            self.reveal()
        except (OSError, KeyError) as exc:
            return str(exc).strip("'\"")
        return None

    def masked(self) -> str:
        """How the secret appears in /config and debug output."""
        if self.file is not None:
            return f"<secret from file {self.file}>"
        if self.env is not None:
            return f"<secret from env {self.env}>"
        return "<secret>"

    def __repr__(self) -> str:
        return f"Secret({self.masked()})"

    __str__ = __repr__
