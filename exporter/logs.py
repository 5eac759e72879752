"""Logging: structlog for everything, logfmt or JSON, aiohttp access logs included."""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, TextIO

import structlog
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web import BaseRequest, StreamResponse

from .untrusted import clean

LogFormat = Literal["logfmt", "json"]


_level = logging.INFO


class _NamedWriteLogger(structlog.WriteLogger):
    """A structlog WriteLogger that knows the name it was asked for."""

    def __init__(self, file: TextIO, name: str) -> None:
        super().__init__(file)
        self.name = name


class _LoggerFactory:
    def __init__(self, file: TextIO) -> None:
        self._file = file

    def __call__(self, *args: Any) -> _NamedWriteLogger:
        return _NamedWriteLogger(self._file, str(args[0]) if args else "mcp_exporter")


def _add_logger_name(
    logger: Any, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    event_dict.setdefault("logger", getattr(logger, "name", "mcp_exporter"))
    return event_dict


def _clean_values(
    _logger: Any, _method: str, event_dict: structlog.types.EventDict
) -> structlog.types.EventDict:
    """No lone surrogate or control character from a target (an exception's message, a server
    name) reaches the log stream: terminals and log shippers read it."""
    for key, value in event_dict.items():
        if isinstance(value, str) and not (value.isascii() and value.isprintable()):
            event_dict[key] = clean(value)
    return event_dict


def setup(level: str = "info", fmt: LogFormat = "logfmt") -> None:
    """Configure structlog, and route stdlib logging (aiohttp, asyncio) to the same renderer.

    The exporter's own events go straight from structlog to stderr: the stdlib round trip cost
    a measurable share of a probe's CPU for the one line every probe writes.
    """
    global _level  # noqa: PLW0603 - one process-wide level, set once at startup
    _level = logging.getLevelName(level.upper())
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.processors.LogfmtRenderer(
            key_order=["ts", "level", "logger", "event"], drop_missing=True
        )
    )
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts")
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            _add_logger_name,
            timestamper,
            structlog.processors.format_exc_info,
            _clean_values,
            renderer,
        ],
        logger_factory=_LoggerFactory(sys.stderr),
        wrapper_class=structlog.make_filtering_bound_logger(_level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                _clean_values,
                renderer,
            ],
            foreign_pre_chain=[
                structlog.stdlib.add_log_level,
                structlog.stdlib.add_logger_name,
                timestamper,
            ],
        )
    )
    handler.addFilter(_without_request_line)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(_level)


def _without_request_line(record: logging.LogRecord) -> bool:
    """aiohttp logs a request it cannot parse with an exception that quotes the request line,
    query string included (a target's credentials, a token); the log keeps the error's kind."""
    exc = record.exc_info[1] if record.exc_info else None
    if isinstance(exc, HttpProcessingError):
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        record.msg = "malformed request from %s: %s"
        record.args = (remote, f"{type(exc).__name__} (HTTP {exc.code})")
        record.exc_info = None
        record.exc_text = None
    return True


class AccessLogger(AbstractAccessLogger):
    """aiohttp access log lines as structured events (no query strings: they may hold URLs)."""

    @property
    def enabled(self) -> bool:
        """aiohttp skips log() entirely when access logs would be dropped anyway."""
        return _level <= logging.DEBUG

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        """One access-log event: method, path, status, size and seconds."""
        structlog.get_logger("mcp_exporter.access").debug(
            "request",
            method=request.method,
            path=request.path,
            status=response.status,
            duration_seconds=round(time, 6),
            remote=request.remote,
        )
