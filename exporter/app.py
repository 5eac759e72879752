"""The aiohttp application: routes, their handlers, and the shared state under a typed app key."""

from __future__ import annotations

import html
import time
from typing import Final
from urllib.parse import quote

import structlog
from aiohttp import web
from aiohttp.typedefs import Middleware
from prometheus_client import generate_latest

from . import __version__, pages
from .config import load, masked_dump, module_yaml
from .history import History
from .metrics import CONTENT_TYPE, ExporterMetrics
from .probe import (
    DEFAULT_MODULE,
    BadRequest,
    debug_output,
    display_target,
    effective_timeout,
    parse_target,
    replay_of,
    run_probe,
)
from .sd import NoTargets, ServiceDiscovery
from .state import Settings, State
from .untrusted import encodable
from .web_config import WebConfig, basic_auth_middleware, headers_middleware, swappable

logger = structlog.get_logger("mcp_exporter")

NOT_LOADED: Final = "the configuration is not loaded yet\n"

STATE: web.AppKey[State] = web.AppKey("state", State)


def _text(body: str, status: int = 200) -> web.Response:
    # A probe's log and debug output carry a target's text; it must always encode.
    return web.Response(
        body=encodable(body).encode(), status=status, content_type="text/plain", charset="utf-8"
    )


def _html(body: str) -> web.Response:
    """A page for a browser; its policy allows no script, whatever a target put in the text."""
    response = web.Response(
        body=encodable(body).encode(), content_type="text/html", charset="utf-8"
    )
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
    config = await state.loaded_config()
    if config is None:
        return _text(NOT_LOADED, 503)
    query = request.query
    module_name = query.get("module") or DEFAULT_MODULE
    module = config.modules.get(module_name)
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
        replay=replay_of(outcome),
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
        body=encodable(outcome.registry.render()).encode(), headers={"Content-Type": CONTENT_TYPE}
    )


async def handle_sd(request: web.Request) -> web.Response:
    """GET /sd?source=NAME: Prometheus HTTP service discovery (http_sd_configs)."""
    state = request.app[STATE]
    config = await state.loaded_config()
    if config is None:
        return _text("no configuration is loaded\n", 503)
    name = request.query.get("source", "")
    if not name:
        return _text("source parameter is missing\n", 400)
    if name not in config.config.service_discovery.litellm:
        return _text(f"unknown source {name[:100]!r}\n", 404)
    try:
        targets = await state.sd.targets(name, config)
    except NoTargets as exc:
        return _text(f"{exc}\n", 503)
    return web.json_response(targets)


async def handle_metrics(request: web.Request) -> web.Response:
    """GET /metrics: the exporter's own metrics (once the config is loaded, so that
    mcp_exporter_config_last_reload_successful never reads 0 for a config still loading)."""
    state = request.app[STATE]
    await state.loaded_config()
    body = generate_latest(state.metrics.registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def handle_config(request: web.Request) -> web.Response:
    """GET /config: the loaded config as YAML, secrets masked."""
    config = await request.app[STATE].loaded_config()
    if config is None:
        return _text(NOT_LOADED, 503)
    return web.Response(text=masked_dump(config.config), content_type="text/plain", charset="utf-8")


async def handle_logs(request: web.Request) -> web.Response:
    """GET /logs?id=N: one recent probe's log."""
    raw = request.query.get("id", "")
    # ASCII digits only: str.isdigit() also takes '²' and other scripts' digits, which int()
    # refuses, and int() refuses more than 4300 digits.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 20):
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


async def handle_ready(request: web.Request) -> web.Response:
    """GET /-/ready: 200 once a config is loaded and the server serves, 503 before and while
    shutting down (as Prometheus answers)."""
    state = request.app[STATE]
    if state.ready:
        return _text("Ready\n")
    return _text("Stopping\n" if state.stopping else "Not ready: " + NOT_LOADED, 503)


async def handle_landing(request: web.Request) -> web.Response:
    """GET /: version, modules, example links, recent probes."""
    state = request.app[STATE]
    config = await state.loaded_config()
    if config is None:
        return _text(NOT_LOADED, 503)
    esc = html.escape
    example = state.settings.demo_target or "http://127.0.0.1:9676/mcp"
    if _wants_html(request):
        return _html(
            pages.landing_page(
                version=__version__,
                config_source=config.source,
                reload_error=state.last_reload_error,
                modules=[
                    pages.ModuleLine(name, m.config.prober, m.config.timeout)
                    for name, m in config.modules.items()
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
        for name, m in config.modules.items()
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
<p>Version {esc(__version__)} &middot; config: {esc(config.source)}</p>
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
    return web.Response(body=encodable(page).encode(), content_type="text/html", charset="utf-8")


def create_app(settings: Settings, *, load_config: bool = True) -> web.Application:
    """Build the app. With `load_config` the config is loaded now (ConfigError if invalid);
    without, the caller serves first and awaits `app[STATE].load_initial()`; until then
    /-/healthy and /-/ready (503) answer, and every other request waits for the config."""
    web_config = settings.web_config
    metrics = ExporterMetrics()
    state = State(
        settings,
        metrics,
        History(settings.history_size),
        ServiceDiscovery(metrics),
        web_config=web_config,
        tls=swappable(web_config.tls_context)
        if web_config is not None and web_config.tls_context is not None
        else None,
    )
    if load_config:
        state.apply(load(settings.config_file), web_config)
    middlewares: list[Middleware] = []
    if web_config is not None or settings.web_config_file is not None:
        # Installed whenever a web config is in use: a reload may add headers or users.
        def current() -> WebConfig | None:
            return state.web_config

        middlewares += [headers_middleware(current), basic_auth_middleware(current)]
    app = web.Application(client_max_size=64 * 1024, middlewares=middlewares)
    app[STATE] = state
    app.on_startup.append(_serving)
    app.router.add_get("/", handle_landing)
    app.router.add_get("/probe", handle_probe)
    app.router.add_get("/metrics", handle_metrics)
    app.router.add_get("/config", handle_config)
    app.router.add_get("/logs", handle_logs)
    app.router.add_get("/sd", handle_sd)
    app.router.add_post("/-/reload", handle_reload)
    app.router.add_get("/-/healthy", handle_healthy)
    app.router.add_get("/-/ready", handle_ready)
    return app


async def _serving(app: web.Application) -> None:
    # Startup hooks run just before the listener opens: no request can come earlier.
    app[STATE].serving = True
