"""Logging: structlog for everything, logfmt or JSON, aiohttp access logs included."""

from __future__ import annotations

import logging
import sys
from typing import Literal

import structlog
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web import BaseRequest, StreamResponse

LogFormat = Literal["logfmt", "json"]


def setup(level: str = "info", fmt: LogFormat = "logfmt") -> None:
    """Configure structlog and route stdlib logging (aiohttp, asyncio) through it."""
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.processors.LogfmtRenderer(
            key_order=["ts", "level", "logger", "event"], drop_missing=True
        )
    )
    shared: list[structlog.types.Processor] = [
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="ts"),
    ]
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
            ],
            foreign_pre_chain=shared,
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class AccessLogger(AbstractAccessLogger):
    """aiohttp access log lines as structured events (no query strings: they may hold URLs)."""

    @property
    def enabled(self) -> bool:
        """aiohttp skips log() entirely when access logs would be dropped anyway."""
        return logging.getLogger("mcp_exporter.access").isEnabledFor(logging.DEBUG)

    def log(self, request: BaseRequest, response: StreamResponse, time: float) -> None:
        structlog.get_logger("mcp_exporter.access").debug(
            "request",
            method=request.method,
            path=request.path,
            status=response.status,
            duration_seconds=round(time, 6),
            remote=request.remote,
        )
