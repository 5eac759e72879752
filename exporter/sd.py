"""Prometheus HTTP service discovery: `/sd?source=NAME` lists the MCP servers of a LiteLLM gateway.

One target per server the source's key may use, in the `http_sd_configs` format: the gateway's
per-server MCP URL (the configured layout), labelled with the server's name, transport and auth
type, and the upstream URL in a meta label a second job can relabel into `__param_target` to probe
the upstream directly. A list is served for `refresh_interval`; when the gateway fails, the last
good list stays served and the exporter's `mcp_exporter_sd_*` metrics say so.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import structlog

from .config import LiteLLMSource, RuntimeConfig
from .metrics import ExporterMetrics
from .net import Limits, Session
from .probers.failure import ProbeFailure, classify
from .probers.http import ProbeHTTP
from .probers.litellm_servers import (
    SERVER_LIST_PATH,
    LiteLLMServer,
    get_json_body,
    key_headers,
    parse_server_list,
    server_url,
)
from .redact import Redactor

logger = structlog.get_logger("mcp_exporter.sd")

Target = dict[str, Any]


class NoTargets(Exception):
    """A source has never answered with a list; the message is the one-line reason."""


@dataclass
class _Cache:
    source: LiteLLMSource
    targets: list[Target] | None = None
    attempted_at: float = -1e18
    last_error: str | None = None
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def targets_of(name: str, source: LiteLLMSource, servers: list[LiteLLMServer]) -> list[Target]:
    """The http_sd_configs answer for a gateway's servers."""
    out = []
    for server in servers:
        labels = {
            "mcp_server": server.server_name,
            "mcp_transport": server.transport,
            "mcp_auth_type": server.auth_type,
            "__meta_litellm_source": name,
            "__meta_litellm_server_id": server.server_id,
            "__meta_litellm_server_name": server.server_name,
            "__meta_litellm_gateway_url": source.url,
            "__meta_litellm_upstream_url": server.url,
        }
        url = server_url(source.url, source.layout, server.route_name or server.server_name)
        out.append({"targets": [url], "labels": labels})
    return out


async def fetch_servers(source: LiteLLMSource, ssl_context: Any) -> list[LiteLLMServer]:
    """GET the gateway's server list once, within the source's timeout."""
    limits = source.limits
    http = ProbeHTTP(
        Session(
            record_phase=lambda _phase, _seconds: None,
            limits=Limits(
                max_body_bytes=limits.max_response_bytes,
                max_header_bytes=limits.max_header_bytes,
                max_redirects=limits.max_redirects,
            ),
            ssl_context=ssl_context,
            server_name=source.tls_config.server_name,
        )
    )
    api_key = source.api_key.reveal() if source.api_key is not None else None
    try:
        async with asyncio.timeout(source.timeout):
            body = await get_json_body(
                http,
                source.url + SERVER_LIST_PATH,
                key_headers(api_key, source.key_header),
                "client_to_gateway",
                "server_list",
            )
    finally:
        await http.aclose()
    return parse_server_list(body)


class ServiceDiscovery:
    """The cached target lists of every configured source."""

    def __init__(self, metrics: ExporterMetrics) -> None:
        self.metrics = metrics
        self._caches: dict[str, _Cache] = {}

    def forget_removed(self, config: RuntimeConfig) -> None:
        """After a reload: drop the lists and metrics of sources no longer configured."""
        for name in set(self._caches) - set(config.config.service_discovery.litellm):
            del self._caches[name]
            metrics = self.metrics
            for gauge in (
                metrics.sd_last_refresh_successful,
                metrics.sd_last_success_timestamp,
                metrics.sd_targets,
            ):
                with contextlib.suppress(KeyError):
                    gauge.remove(name)
            for result in ("success", "failure"):
                with contextlib.suppress(KeyError):
                    metrics.sd_refreshes.remove(name, result)

    async def targets(self, name: str, config: RuntimeConfig) -> list[Target]:
        """The source's targets: cached, refreshed when older than its refresh interval, the
        last good list while the gateway fails. KeyError for an unknown source, NoTargets when
        no list was ever fetched."""
        source = config.config.service_discovery.litellm[name]
        cache = self._caches.get(name)
        if cache is None or cache.source != source:
            # A new or changed source (after a reload) starts from nothing.
            cache = self._caches[name] = _Cache(source)
        async with cache.lock:
            if time.monotonic() - cache.attempted_at >= source.refresh_interval:
                await self._refresh(name, cache, config)
        if cache.targets is None:
            raise NoTargets(
                f"no target list from source {name!r} yet: {cache.last_error or 'not fetched'}"
            )
        return cache.targets

    async def _refresh(self, name: str, cache: _Cache, config: RuntimeConfig) -> None:
        cache.attempted_at = time.monotonic()
        source = cache.source
        try:
            servers = await fetch_servers(source, config.sd_ssl_contexts.get(name))
        except Exception as exc:  # noqa: BLE001 - any failure keeps the last good list; it is reported
            if isinstance(exc, ProbeFailure):
                error = f"{exc.reason}: {exc.detail}"
            elif isinstance(exc, TimeoutError):
                error = f"timeout after {source.timeout:g}s"
            elif isinstance(exc, ValueError):
                error = f"invalid server list: {exc}"
            else:
                classified = classify(exc)
                error = f"{classified.reason}: {classified.detail}"
            # The gateway's answer may echo the key: it never reaches the log or the 503.
            secrets = [source.api_key.reveal()] if source.api_key is not None else []
            cache.last_error = Redactor(secrets)(error)[:300]
            self.metrics.sd_refreshes.labels(name, "failure").inc()
            self.metrics.sd_last_refresh_successful.labels(name).set(0)
            logger.warning(
                "service discovery refresh failed; serving the last good list",
                source=name,
                error=cache.last_error,
                kept_targets=len(cache.targets) if cache.targets is not None else None,
            )
            return
        cache.targets = targets_of(name, source, servers)
        cache.last_error = None
        self.metrics.sd_refreshes.labels(name, "success").inc()
        self.metrics.sd_last_refresh_successful.labels(name).set(1)
        self.metrics.sd_last_success_timestamp.labels(name).set(time.time())
        self.metrics.sd_targets.labels(name).set(len(cache.targets))
        logger.info("service discovery refreshed", source=name, targets=len(cache.targets))
