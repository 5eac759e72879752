"""The aiohttp application: routes, shared state under typed app keys, reloads."""

from __future__ import annotations

import asyncio
import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import generate_latest

from . import __version__, pages
from .config import ConfigError, RuntimeConfig, load, masked_dump, module_yaml
from .history import History
from .metrics import CONTENT_TYPE, ExporterMetrics
from .probe import (
    DEFAULT_MODULE,
    BadRequest,
    debug_output,
    display_target,
    effective_timeout,
    parse_target,
    run_probe,
)
from .web_config import WebConfig, basic_auth_middleware, headers_middleware

logger = structlog.get_logger("mcp_exporter")


@dataclass
class Settings:
    """Command-line settings the app needs."""

    config_file: Path | None
    timeout_offset: float = 0.5
    history_size: int = 100
    max_concurrent_probes: int = 1000
    demo_target: str | None = None
    web_config: WebConfig | None = None


@dataclass
class State:
    """Everything the handlers share. One per app; no per-target state."""

    settings: Settings
    config: RuntimeConfig
    metrics: ExporterMetrics
    history: History
    last_reload_error: str | None = None
    in_flight: int = 0
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def reload(self) -> bool:
        """Load the config file again; keep the old config if the new one is invalid.

        Loading (validation, TLS contexts) runs in a thread so probes in flight are not held
        up; one reload at a time. Running probes keep the module they started with.
        """
        async with self.reload_lock:
            try:
                new = await asyncio.to_thread(load, self.settings.config_file)
            except ConfigError as exc:
                return self._reload_failed(exc)
            self.config = new
            self.last_reload_error = None
            self.metrics.config_last_reload_successful.set(1)
            self.metrics.config_last_reload_success_timestamp.set(time.time())
            logger.info("config loaded", source=new.source, modules=len(new.modules))
            return True

    def _reload_failed(self, exc: ConfigError) -> bool:
        self.last_reload_error = str(exc)
        self.metrics.config_last_reload_successful.set(0)
        for problem in exc.problems:
            logger.error(
                "config reload failed; keeping the previous config",
                source=exc.source,
                problem=problem,
            )
        return False


STATE: web.AppKey[State] = web.AppKey("state", State)


def _text(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/plain", charset="utf-8")


def _html(body: str) -> web.Response:
    """A page for a browser; its policy allows no script, whatever a target put in the text."""
    response = web.Response(text=body, content_type="text/html", charset="utf-8")
    response.headers["Content-Security-Policy"] = pages.CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The same URL answers text to curl and HTML to a browser.
    response.headers["Vary"] = "Accept"
    return response


def _wants_html(request: web.Request) -> bool:
    return pages.prefers_html(request.headers.get("Accept"))


async def handle_probe(request: web.Request) -> web.Response:
    """GET /probe?target=&module=[&debug=true]"""
    state = request.app[STATE]
    query = request.query
    module_name = query.get("module") or DEFAULT_MODULE
    module = state.config.modules.get(module_name)
    if module is None:
        state.metrics.module_unknown.inc()
        return _text(f"unknown module {module_name[:100]!r}\n", 400)
    try:
        target = parse_target(query.get("target"))
        timeout = effective_timeout(
            request.headers.get("X-Prometheus-Scrape-Timeout-Seconds"),
            module.config.timeout,
            state.settings.timeout_offset,
        )
    except BadRequest as exc:
        return _text(f"{exc}\n", 400)
    if state.in_flight >= state.settings.max_concurrent_probes:
        state.metrics.probes_rejected.inc()
        return _text(
            f"too many concurrent probes (limit {state.settings.max_concurrent_probes})\n", 503
        )
    state.in_flight += 1
    state.metrics.probes_in_flight.inc()
    try:
        outcome = await run_probe(target, module, timeout)
    finally:
        state.in_flight -= 1
        state.metrics.probes_in_flight.dec()
    result = "success" if outcome.success else "failure"
    state.metrics.probes.labels(module_name, result).inc()
    state.metrics.probe_duration.labels(module_name).observe(outcome.duration)
    shown = display_target(target)
    state.history.add(
        started=outcome.log.started,
        module=module_name,
        target=shown,
        success=outcome.success,
        reason=outcome.reason,
        duration=outcome.duration,
        log=outcome.log,
    )
    failure = outcome.failure
    logger.info(
        "probe",
        module=module_name,
        target=shown,
        result=result,
        reason=outcome.reason or None,
        hop=failure.hop if failure else None,
        phase=failure.phase if failure else None,
        duration_seconds=round(outcome.duration, 6),
    )
    if query.get("debug", "").lower() == "true":
        if _wants_html(request):
            return _html(
                pages.probe_page(
                    title=f"Probe of {shown}",
                    target=shown,
                    module=module_name,
                    success=outcome.success,
                    duration=outcome.duration,
                    log=outcome.log,
                    hops=dict(outcome.context.hops),
                    notes=outcome.context.notes,
                    metrics=outcome.registry.render(),
                    module_config=module_yaml(module.config),
                )
            )
        return _text(debug_output(outcome, module))
    return web.Response(
        body=outcome.registry.render().encode(), headers={"Content-Type": CONTENT_TYPE}
    )


async def handle_metrics(request: web.Request) -> web.Response:
    """GET /metrics: the exporter's own metrics."""
    body = generate_latest(request.app[STATE].metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def handle_config(request: web.Request) -> web.Response:
    """GET /config: the loaded config as YAML, secrets masked."""
    state = request.app[STATE]
    return web.Response(
        text=masked_dump(state.config.config), content_type="text/plain", charset="utf-8"
    )


async def handle_logs(request: web.Request) -> web.Response:
    """GET /logs?id=N: one recent probe's log."""
    raw = request.query.get("id", "")
    if not raw.isdigit():
        return _text("id parameter must be a probe number\n", 400)
    record = request.app[STATE].history.get(int(raw))
    if record is None:
        return _text(f"probe {raw} is not among the recent probes\n", 404)
    if _wants_html(request):
        return _html(
            pages.probe_page(
                title=f"Probe {record.id}",
                target=record.target,
                module=record.module,
                success=record.success,
                duration=record.duration,
                log=record.probe_log,
            )
        )
    return _text(record.log)


async def handle_reload(request: web.Request) -> web.Response:
    """POST /-/reload"""
    state = request.app[STATE]
    ok = await state.reload()
    if ok:
        return _text("config reloaded\n")
    return _text(
        f"config reload failed; the previous config stays loaded:\n{state.last_reload_error}\n", 500
    )


async def handle_healthy(_request: web.Request) -> web.Response:
    """GET /-/healthy"""
    return _text("Healthy\n")


async def handle_ready(_request: web.Request) -> web.Response:
    """GET /-/ready"""
    return _text("Ready\n")


async def handle_landing(request: web.Request) -> web.Response:
    """GET /: version, modules, example links, recent probes."""
    state = request.app[STATE]
    esc = html.escape
    example = state.settings.demo_target or "http://127.0.0.1:9676/mcp"
    if _wants_html(request):
        return _html(
            pages.landing_page(
                version=__version__,
                config_source=state.config.source,
                reload_error=state.last_reload_error,
                modules=[
                    pages.ModuleLine(name, m.config.prober, m.config.timeout)
                    for name, m in state.config.modules.items()
                ],
                example_target=example,
                records=state.history.recent(),
            )
        )
    target = quote(example, safe="")
    modules = "".join(
        f'<li><a href="probe?target={target}&amp;module={quote(name)}">{esc(name)}</a>'
        f" ({esc(m.config.prober)}, timeout {m.config.timeout:g}s) &middot; "
        f'<a href="probe?target={target}&amp;module={quote(name)}&amp;debug=true">debug</a></li>'
        for name, m in state.config.modules.items()
    )
    rows = "".join(
        f"<tr><td>{r.id}</td><td>{time.strftime('%H:%M:%S', time.localtime(r.started))}</td>"
        f"<td>{esc(r.module)}</td><td>{esc(r.target)}</td>"
        f"<td>{'success' if r.success else 'failure'}</td><td>{esc(r.reason)}</td>"
        f'<td>{r.duration:.3f}s</td><td><a href="logs?id={r.id}">logs</a></td></tr>'
        for r in state.history.recent()
    )
    reload_note = (
        f"<p><b>Last config reload failed:</b> {esc(state.last_reload_error)}</p>"
        if state.last_reload_error
        else ""
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>MCP Exporter</title></head>
<body>
<h1>MCP Exporter</h1>
<p>Version {esc(__version__)} &middot; config: {esc(state.config.source)}</p>
{reload_note}
<p>Probe an MCP server: <code>probe?target=&lt;url&gt;&amp;module=&lt;module&gt;</code>.
Example target: <code>{esc(example)}</code></p>
<h2>Modules</h2><ul>{modules}</ul>
<p><a href="metrics">Metrics</a> &middot; <a href="config">Configuration</a></p>
<h2>Recent probes</h2>
<table border="1" cellpadding="3">
<tr><th>id</th><th>time</th><th>module</th><th>target</th><th>result</th><th>reason</th>
<th>duration</th><th>log</th></tr>
{rows}
</table>
</body></html>
"""
    return web.Response(text=page, content_type="text/html", charset="utf-8")


def create_app(settings: Settings) -> web.Application:
    """Build the app; raises ConfigError if the initial config is invalid."""
    metrics = ExporterMetrics()
    config = load(settings.config_file)
    metrics.config_last_reload_successful.set(1)
    metrics.config_last_reload_success_timestamp.set(time.time())
    middlewares: list[Middleware] = []
    web_config = settings.web_config
    if web_config is not None:
        if web_config.http_server_config.headers:
            middlewares.append(headers_middleware(web_config.http_server_config.headers))
        if web_config.basic_auth_users:
            middlewares.append(basic_auth_middleware(web_config.basic_auth_users))
    app = web.Application(client_max_size=64 * 1024, middlewares=middlewares)
    app[STATE] = State(settings, config, metrics, History(settings.history_size))
    app.router.add_get("/", handle_landing)
    app.router.add_get("/probe", handle_probe)
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/config", handle_config)
    app.router.add_get("/logs", handle_logs)
    app.router.add_post("/-/reload", handle_reload)
    app.router.add_get("/-/healthy", handle_healthy)
    app.router.add_get("/-/ready", handle_ready)
    return app
