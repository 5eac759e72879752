"""The HTML pages a person opens in a browser: the landing page, a probe's log, the debug view.

Each probe is drawn as a waterfall: one bar per timed phase (dns, connect, tls, initialize,
tools_list, ...) on one time axis, grouped by hop, with the hop and phase that failed highlighted.
Curl and scripts keep the text forms; these pages are served only to clients whose Accept header
prefers text/html (see `prefers_html`).

Everything shown that a target or a config could have supplied (URLs, log lines, failure details,
notes, module names) is HTML-escaped, and text from a probe goes through that probe's redactor, so
a credential echoed back by a target is masked here as everywhere else. The pages carry a
Content-Security-Policy that allows no script at all.
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import quote

from .history import ProbeLog, ProbeRecord, Span
from .untrusted import clean

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'"

# Colour families of the bars: the network set-up, the MCP exchanges, authorization.
_NETWORK_PHASES = frozenset({"dns", "connect", "tls", "proxy_connect", "policy"})
_AUTH_PHASES = frozenset(
    {"www_authenticate", "protected_resource", "authorization_server", "token"}
)

_STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2330;
background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:10px 24px}header a{color:#c9d7ff}
main{padding:16px 24px;max-width:1200px}h1{font-size:20px;margin:0}
h2{font-size:16px;margin:24px 0 8px}
code,pre{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:#fff;border:1px solid #dde1e7;padding:10px;overflow:auto;white-space:pre-wrap;
word-break:break-all}
table{border-collapse:collapse;background:#fff;width:100%}
td,th{border:1px solid #dde1e7;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#eef0f4}
.ok{color:#137333;font-weight:600}.fail{color:#b3261e;font-weight:600}
.summary{display:flex;gap:24px;flex-wrap:wrap;background:#fff;border:1px solid #dde1e7;
padding:10px 14px}
.summary .k{display:block;color:#5f6b7a;font-size:12px}
.failure{background:#fdecea;border:1px solid #f1b0aa;padding:10px 14px;margin:12px 0}
.waterfall{background:#fff;border:1px solid #dde1e7;padding:8px 12px}
.wf-hop{margin:6px 0 2px;font-weight:600;display:flex;gap:8px;align-items:center}
.wf-hop.failed{color:#b3261e}
.wf-hop .badge{font-size:11px;padding:1px 6px;border-radius:8px;background:#e6f4ea;color:#137333}
.wf-hop.failed .badge{background:#b3261e;color:#fff}
.wf-group.failed{background:#fdecea;border-left:4px solid #b3261e;padding-left:6px}
.wf-row{display:flex;align-items:center;height:22px}
.wf-label{width:200px;flex:none;font:12px ui-monospace,monospace;overflow:hidden;
text-overflow:ellipsis;white-space:nowrap}
.wf-track{position:relative;flex:1;height:14px;background:#f1f3f6}
.wf-bar{position:absolute;top:0;height:14px;min-width:2px;background:#4f7fd9}
.wf-bar.mcp{background:#2e9d5b}.wf-bar.auth{background:#8b5cc7}
.wf-row.failed .wf-bar{background:#d93025;outline:2px solid #7a1711}
.wf-row.failed .wf-label{color:#b3261e;font-weight:700}
.wf-time{width:90px;flex:none;text-align:right;font:12px ui-monospace,monospace;color:#5f6b7a}
.wf-axis{display:flex;margin-left:200px;margin-right:90px;justify-content:space-between;
font-size:11px;color:#5f6b7a;border-top:1px solid #c4cad3;margin-top:4px}
.mini{display:inline-block;position:relative;width:160px;height:10px;background:#f1f3f6}
.mini i{position:absolute;top:0;height:10px;min-width:1px;background:#4f7fd9}
.mini i.mcp{background:#2e9d5b}.mini i.auth{background:#8b5cc7}.mini i.failed{background:#d93025}
"""


def prefers_html(accept: str | None) -> bool:
    """Whether an Accept header asks for HTML before plain text.

    A browser names text/html (q=1) and reaches text/plain only through a lower-weighted */*;
    curl sends */*, which prefers nothing, so it gets the text form.
    """
    if not accept:
        return False
    html_q: float | None = None
    plain_q = 0.0
    plain_specificity = -1
    for part in accept.split(",")[:50]:
        media, *params = (p.strip() for p in part.split(";"))
        media = media.lower()
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    q = min(max(float(value), 0.0), 1.0)
                except ValueError:
                    q = 0.0
        if media in ("text/html", "application/xhtml+xml"):
            html_q = max(html_q or 0.0, q)
        specificity = {"text/plain": 2, "text/*": 1, "*/*": 0}.get(media, -1)
        if specificity > plain_specificity:
            plain_q, plain_specificity = q, specificity
    return html_q is not None and html_q > 0 and html_q >= plain_q


@dataclass(frozen=True, slots=True)
class FailureView:
    """The failure of a probe as the pages show it."""

    hop: str
    phase: str
    reason: str
    detail: str


def failure_from_log(log: ProbeLog) -> FailureView | None:
    """The failure a probe's log recorded (its "probe failed" entry), if any."""
    for _offset, level, msg, fields in reversed(log.entries):
        if level == "error" and msg == "probe failed":
            return FailureView(
                str(fields.get("hop", "")),
                str(fields.get("phase", "")),
                str(fields.get("reason", "")),
                str(fields.get("detail", "")),
            )
    return None


def _esc(text: object) -> str:
    # clean: no lone surrogate (it would not encode) and no control character reaches the page.
    return html.escape(clean(str(text)), quote=True)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds < 10 else f"{seconds:.2f} s"


def _family(phase: str) -> str:
    if phase in _NETWORK_PHASES:
        return "net"
    if phase in _AUTH_PHASES:
        return "auth"
    return "mcp"


def _failed_span_index(spans: Sequence[Span], failure: FailureView | None) -> int | None:
    """The span the failure happened in: the last one of its hop and phase."""
    if failure is None:
        return None
    for i in range(len(spans) - 1, -1, -1):
        if spans[i].hop == failure.hop and spans[i].phase == failure.phase:
            return i
    return None


def waterfall(
    spans: Sequence[Span],
    failure: FailureView | None,
    duration: float,
    hops: dict[str, bool] | None = None,
) -> str:
    """A probe's phases as bars on one time axis, grouped by hop, the failing hop highlighted."""
    spans = sorted(spans, key=lambda s: (s.start, s.end))
    total = max([duration, *(s.end for s in spans), 1e-6])
    failed_index = _failed_span_index(spans, failure)
    order: list[str] = []
    for span in spans:
        if span.hop not in order:
            order.append(span.hop)
    for hop in hops or {}:
        if hop not in order:
            order.append(hop)
    if failure is not None and failure.hop not in order:
        order.append(failure.hop)
    groups = []
    for hop in order:
        failed_hop = failure is not None and failure.hop == hop
        ok = not failed_hop and (hops or {}).get(hop, True)
        rows = []
        for i, span in enumerate(spans):
            if span.hop != hop:
                continue
            left = span.start / total * 100
            width = max((span.end - span.start) / total * 100, 0.3)
            failed = i == failed_index
            rows.append(
                f'<div class="wf-row{" failed" if failed else ""}" data-hop="{_esc(hop)}" '
                f'data-phase="{_esc(span.phase)}" data-start="{span.start:.6f}" '
                f'data-seconds="{span.seconds:.6f}" title="{_esc(span.phase)}: '
                f'{_esc(_ms(span.seconds))}, from +{_esc(_ms(span.start))}">'
                f'<div class="wf-label">{_esc(span.phase)}</div><div class="wf-track">'
                f'<div class="wf-bar {_family(span.phase)}" style="left:{left:.3f}%;'
                f'width:{min(width, 100 - left):.3f}%"></div></div>'
                f'<div class="wf-time">{_esc(_ms(span.seconds))}</div></div>'
            )
        if failed_hop and failed_index is None and failure is not None:
            # The failure happened where nothing was timed (a policy refusal, a failure the
            # gateway reported for its upstream): mark it at the end of the probe.
            rows.append(
                f'<div class="wf-row failed" data-hop="{_esc(hop)}" '
                f'data-phase="{_esc(failure.phase)}" data-start="{total:.6f}" data-seconds="0">'
                f'<div class="wf-label">{_esc(failure.phase or "?")}</div><div class="wf-track">'
                f'<div class="wf-bar" style="left:99.5%;width:0.5%"></div></div>'
                f'<div class="wf-time">{_esc(failure.reason)}</div></div>'
            )
        if not rows:
            rows.append(
                f'<div class="wf-row" data-hop="{_esc(hop)}"><div class="wf-label">'
                "(reported, not timed)</div>"
                '<div class="wf-track"></div><div class="wf-time"></div></div>'
            )
        badge = (
            f"failed: {_esc(failure.reason)} at {_esc(failure.phase)}"
            if failed_hop and failure is not None
            else ("ok" if ok else "failed")
        )
        state = "failed" if failed_hop or not ok else "ok"
        groups.append(
            f'<div class="wf-group {state}" data-hop="{_esc(hop)}">'
            f'<div class="wf-hop {state}">{_esc(hop)}<span class="badge">{badge}</span></div>'
            + "".join(rows)
            + "</div>"
        )
    ticks = "".join(f"<span>{_esc(_ms(total * i / 4))}</span>" for i in range(5))
    if not groups:
        groups.append("<p>No phase was timed.</p>")
    return (
        f'<div class="waterfall" data-total="{total:.6f}">'
        + "".join(groups)
        + f'<div class="wf-axis">{ticks}</div></div>'
    )


def mini_waterfall(log: ProbeLog, duration: float) -> str:
    """A one-line waterfall for the list of recent probes."""
    spans = sorted(log.spans, key=lambda s: (s.start, s.end))
    failure = failure_from_log(log)
    failed_index = _failed_span_index(spans, failure)
    total = max([duration, *(s.end for s in spans), 1e-6])
    bars = "".join(
        f'<i class="{"failed" if i == failed_index else _family(s.phase)}" '
        f'style="left:{s.start / total * 100:.2f}%;'
        f'width:{max((s.end - s.start) / total * 100, 0.5):.2f}%"></i>'
        for i, s in enumerate(spans)
    )
    return f'<span class="mini" title="{_esc(_ms(total))}">{bars}</span>'


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_esc(title)}</title><style>{_STYLE}</style></head><body>"
        '<header><h1><a href="./" style="color:#fff;text-decoration:none">MCP Exporter</a>'
        f"</h1></header><main>{body}</main></body></html>\n"
    )


def _result(success: bool) -> str:
    return '<span class="ok">success</span>' if success else '<span class="fail">failure</span>'


def _summary(items: Iterable[tuple[str, str]]) -> str:
    cells = "".join(f'<div><span class="k">{_esc(k)}</span>{v}</div>' for k, v in items)
    return f'<div class="summary">{cells}</div>'


def _failure_box(failure: FailureView | None, redact: Callable[[str], str]) -> str:
    if failure is None:
        return ""
    return (
        f'<div class="failure" id="failure"><b>Failed at hop {_esc(failure.hop)}, phase '
        f"{_esc(failure.phase)}: {_esc(failure.reason)}</b><br>{_esc(redact(failure.detail))}</div>"
    )


def _redactor(log: ProbeLog) -> Callable[[str], str]:
    return log.redactor or (lambda text: text)


@dataclass(frozen=True, slots=True)
class ModuleLine:
    """A module as the landing page lists it."""

    name: str
    prober: str
    timeout: float


def landing_page(
    *,
    version: str,
    config_source: str,
    reload_error: str | None,
    modules: Sequence[ModuleLine],
    example_target: str,
    records: Sequence[ProbeRecord],
) -> str:
    """GET / for a browser: modules with probe and debug links, recent probes with waterfalls."""
    target = quote(example_target, safe="")
    module_rows = "".join(
        f"<tr><td><code>{_esc(m.name)}</code></td><td>{_esc(m.prober)}</td>"
        f"<td>{m.timeout:g}s</td><td>"
        f'<a href="probe?target={target}&amp;module={quote(m.name, safe="")}">probe</a> &middot; '
        f'<a href="probe?target={target}&amp;module={quote(m.name, safe="")}&amp;debug=true">'
        "debug</a></td></tr>"
        for m in modules
    )
    probe_rows = "".join(
        f'<tr class="{"ok" if r.success else "fail"}-row" data-id="{r.id}">'
        f'<td><a href="logs?id={r.id}">{r.id}</a></td>'
        f"<td>{_esc(time.strftime('%H:%M:%S', time.localtime(r.started)))}</td>"
        f"<td>{_esc(r.module)}</td><td>{_esc(_redactor(r.probe_log)(r.target))}</td>"
        f"<td>{_result(r.success)}</td><td>{_esc(r.reason)}</td>"
        f"<td>{_esc(_ms(r.duration))}</td><td>{mini_waterfall(r.probe_log, r.duration)}</td></tr>"
        for r in records
    )
    reload_note = (
        f'<div class="failure"><b>Last config reload failed:</b> {_esc(reload_error)}</div>'
        if reload_error
        else ""
    )
    body = (
        _summary(
            [
                ("version", _esc(version)),
                ("config", f"<code>{_esc(config_source)}</code>"),
                ("modules", str(len(modules))),
                ("recent probes", str(len(records))),
            ]
        )
        + reload_note
        + "<p>Probe an MCP server: <code>probe?target=&lt;url&gt;&amp;module=&lt;module&gt;</code>"
        f" (add <code>&amp;debug=true</code> for the waterfall and log). Example target: "
        f"<code>{_esc(example_target)}</code>. "
        '<a href="metrics">Metrics</a> &middot; <a href="config">Configuration</a></p>'
        "<h2>Modules</h2><table><tr><th>module</th><th>prober</th><th>timeout</th><th></th></tr>"
        f"{module_rows}</table>"
        '<h2>Recent probes</h2><table id="recent"><tr><th>id</th><th>time</th><th>module</th>'
        "<th>target</th><th>result</th><th>reason</th><th>duration</th><th>phases</th></tr>"
        f"{probe_rows}</table>" + ("" if records else "<p>No probe yet.</p>")
    )
    return _document("MCP Exporter", body)


def probe_page(
    *,
    title: str,
    target: str,
    module: str,
    success: bool,
    duration: float,
    log: ProbeLog,
    hops: dict[str, bool] | None = None,
    notes: Sequence[str] = (),
    metrics: str | None = None,
    module_config: str | None = None,
) -> str:
    """One probe: summary, the failure, the waterfall per hop, notes, log, metrics and config.

    Used for /logs?id=N (from the recent-probes ring) and /probe?debug=true (the probe just run).
    """
    redact = _redactor(log)
    failure = failure_from_log(log)
    sections = [
        _summary(
            [
                ("target", f"<code>{_esc(redact(target))}</code>"),
                ("module", f"<code>{_esc(module)}</code>"),
                ("result", _result(success)),
                ("reason", _esc(failure.reason) if failure else "&ndash;"),
                ("duration", _esc(_ms(duration))),
            ]
        ),
        _failure_box(failure, redact),
        "<h2>Phases by hop</h2>",
        waterfall(log.spans, failure, duration, hops),
    ]
    if notes:
        items = "".join(f"<li>{_esc(redact(n))}</li>" for n in notes)
        sections.append(f'<h2>What to check</h2><ul id="notes">{items}</ul>')
    sections.append(f'<h2>Log</h2><pre id="log">{_esc(log.text())}</pre>')
    if metrics is not None:
        sections.append(f'<h2>Metrics</h2><pre id="metrics">{_esc(redact(metrics))}</pre>')
    if module_config is not None:
        sections.append(
            f'<h2>Module configuration ({_esc(module)})</h2><pre id="module-config">'
            f"{_esc(module_config)}</pre>"
        )
    return _document(title, "".join(sections))
