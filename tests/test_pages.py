"""The HTML pages (landing, /logs, /probe?debug=true) rendered in a real headless Chromium, and the
content negotiation that keeps the text forms for curl.

Chromium and chromedriver are Debian's (tests/peers/install.sh), driven by Selenium. Selenium's
calls block, so they run in a thread while the exporter serves on the test's event loop.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from exporter.pages import prefers_html
from tests import fakes
from tests.conftest import Exporter, ExporterFactory
from tests.peers.mcp_servers import Peer

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
SECRET = "tok-Zq8v1Lw9Xr4Np2Ks"
CONFIG = f"""
modules:
  mcp: {{prober: mcp, timeout: 5s}}
  hostile: {{prober: mcp, timeout: 5s, mcp: {{bearer_token: {SECRET}}}}}
"""
# What a hostile target answers: markup that would run script if it were not escaped, and the
# credential it was sent.
INJECTION = '<script>window.pwned=1</script><img src=x onerror="window.pwned=2">'


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        "--window-size=1280,1000",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


async def _open(driver: WebDriver, url: str) -> None:
    await asyncio.to_thread(driver.get, url)


async def _run(driver: WebDriver, script: str, *args: Any) -> Any:
    return await asyncio.to_thread(driver.execute_script, script, *args)


async def _screenshot(driver: WebDriver, path: Path) -> None:
    height = await _run(driver, "return document.documentElement.scrollHeight")
    await asyncio.to_thread(driver.set_window_size, 1280, min(max(int(height), 600), 4000))
    assert await asyncio.to_thread(driver.save_screenshot, str(path))
    assert (await asyncio.to_thread(path.stat)).st_size > 10_000


async def _echo(request: web.Request) -> web.Response:
    """Answers every request with an error page carrying markup and the request's credential."""
    return web.Response(
        status=400, text=f"{INJECTION} bad request with {request.headers.get('Authorization')}"
    )


@pytest.fixture
async def probed(make_exporter: ExporterFactory, sdk_stateful: Peer) -> Exporter:
    """An exporter whose recent probes are: 0 a healthy SDK server, 1 a closed port, 2 a hostile
    server."""
    exporter = await make_exporter(CONFIG)
    await exporter.probe(sdk_stateful.url)
    await exporter.probe("http://127.0.0.1:1/mcp")
    async with fakes.serve(_echo) as url:
        await exporter.probe(url, module="hostile")
    return exporter


def _rows(driver: WebDriver, hop: str) -> list[dict[str, Any]]:
    rows = driver.find_elements(By.CSS_SELECTOR, f'.wf-row[data-hop="{hop}"]')
    out = []
    for row in rows:
        bar = row.find_element(By.CSS_SELECTOR, ".wf-bar")
        out.append(
            {
                "phase": row.get_attribute("data-phase"),
                "failed": "failed" in (row.get_attribute("class") or ""),
                "x": bar.rect["x"],
                "width": bar.rect["width"],
                "colour": bar.value_of_css_property("background-color"),
            }
        )
    return out


async def test_landing_page_lists_modules_and_recent_probes(
    probed: Exporter, browser: WebDriver, tmp_path: Path
) -> None:
    """The landing page in Chromium: modules with probe and debug links, recent probes newest
    first with their result, reason and a one-line waterfall, linking their logs."""
    await _open(browser, f"{probed.base}/")
    assert browser.title == "MCP Exporter"
    modules = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "table code")]
    assert modules == ["mcp", "hostile"]
    rows = browser.find_elements(By.CSS_SELECTOR, "#recent tr[data-id]")
    assert [r.get_attribute("data-id") for r in rows] == ["2", "1", "0"]
    cells = [[c.text for c in r.find_elements(By.TAG_NAME, "td")] for r in rows]
    assert cells[1][3] == "http://127.0.0.1:1/mcp"
    assert cells[1][4:6] == ["failure", "connect_refused"]
    assert cells[2][4:6] == ["success", ""]
    assert cells[0][5] == "http_status"
    healthy_bars = rows[2].find_elements(By.CSS_SELECTOR, ".mini i")
    assert len(healthy_bars) >= 5
    assert rows[1].find_elements(By.CSS_SELECTOR, ".mini i.failed")
    links = [a.get_attribute("href") for a in browser.find_elements(By.LINK_TEXT, "debug")]
    assert len(links) == 2
    assert all((link or "").endswith("&debug=true") for link in links)
    await _screenshot(browser, tmp_path / "landing.png")


async def test_log_page_draws_the_waterfall_of_a_healthy_probe(
    probed: Exporter, browser: WebDriver, tmp_path: Path
) -> None:
    """/logs?id=0: every phase of the healthy probe is a bar on one time axis, in the order the
    phases ran, on the client_to_upstream hop, none highlighted."""
    await _open(browser, f"{probed.base}/logs?id=0")
    assert browser.title == "Probe 0"
    groups = browser.find_elements(By.CSS_SELECTOR, ".wf-group")
    assert [g.get_attribute("data-hop") for g in groups] == ["client_to_upstream"]
    assert "failed" not in (groups[0].get_attribute("class") or "")
    rows = _rows(browser, "client_to_upstream")
    phases = [r["phase"] for r in rows]
    for phase in ("dns", "connect", "initialize", "initialized", "tools_list", "session_delete"):
        assert phase in phases
    assert phases.index("initialize") < phases.index("tools_list") < phases.index("session_delete")
    xs = [r["x"] for r in rows]
    assert xs == sorted(xs), "bars start later as the probe goes on"
    assert all(r["width"] >= 1 for r in rows)
    assert not any(r["failed"] for r in rows)
    assert "probe succeeded" in browser.find_element(By.ID, "log").text
    await _screenshot(browser, tmp_path / "log-healthy.png")


async def test_log_page_highlights_the_failing_hop_and_phase(
    probed: Exporter, browser: WebDriver, tmp_path: Path
) -> None:
    """/logs?id=1 (a closed port): the failure box names hop, phase and reason; the hop's group
    and its connect bar are drawn in red."""
    await _open(browser, f"{probed.base}/logs?id=1")
    failure = browser.find_element(By.ID, "failure").text
    assert "Failed at hop client_to_upstream, phase connect: connect_refused" in failure
    result = browser.find_element(By.CSS_SELECTOR, ".summary .fail")
    assert result.text == "failure"
    assert result.value_of_css_property("color") == "rgba(179, 38, 30, 1)"
    group = browser.find_element(By.CSS_SELECTOR, '.wf-group[data-hop="client_to_upstream"]')
    assert "failed" in (group.get_attribute("class") or "")
    assert "connect_refused" in group.find_element(By.CSS_SELECTOR, ".badge").text
    rows = _rows(browser, "client_to_upstream")
    failed = [r for r in rows if r["failed"]]
    assert [r["phase"] for r in failed] == ["connect"]
    assert failed[0]["colour"] == "rgba(217, 48, 37, 1)"
    assert all(r["colour"] != failed[0]["colour"] for r in rows if not r["failed"])
    await _screenshot(browser, tmp_path / "log-failed.png")


async def test_target_text_is_escaped_and_redacted(
    probed: Exporter, browser: WebDriver, tmp_path: Path
) -> None:
    """/logs?id=2 (a server answering with markup and the credential it was sent): the markup is
    shown as text and runs nothing, and the credential is masked on the page and in its source."""
    await _open(browser, f"{probed.base}/logs?id=2")
    assert await _run(browser, "return window.pwned === undefined")
    assert not browser.find_elements(By.CSS_SELECTOR, "main script, main img")
    failure = browser.find_element(By.ID, "failure").text
    assert INJECTION in failure
    assert "bad request with <secret>" in failure
    assert SECRET not in browser.page_source
    assert "<script>window.pwned=1</script>" in browser.find_element(By.ID, "log").text
    await _screenshot(browser, tmp_path / "log-hostile.png")


async def test_a_target_url_with_markup_is_shown_as_text(
    make_exporter: ExporterFactory, browser: WebDriver, tmp_path: Path
) -> None:
    """A probed URL carrying markup (Prometheus passes whatever a target list says) is listed as
    text on the landing page and its log page, and runs nothing."""
    exporter = await make_exporter(CONFIG)
    target = 'http://127.0.0.1:1/"><script>window.pwned=3</script><span/id=injected>x</span>'
    await exporter.probe(target)
    for path in ("/", "/logs?id=0"):
        await _open(browser, f"{exporter.base}{path}")
        assert await _run(browser, "return window.pwned === undefined")
        assert not browser.find_elements(By.CSS_SELECTOR, "main script, #injected")
        assert target in browser.find_element(By.TAG_NAME, "main").text
    await _screenshot(browser, tmp_path / "log-markup-target.png")


async def test_debug_view_in_a_browser(
    probed: Exporter, browser: WebDriver, sdk_stateful: Peer, tmp_path: Path
) -> None:
    """/probe?debug=true opened in Chromium: the probe just run as a waterfall, with its log,
    the metrics it returned and the module's configuration."""
    await _open(browser, f"{probed.base}/probe?target={sdk_stateful.url}&module=mcp&debug=true")
    assert browser.title == f"Probe of {sdk_stateful.url}"
    assert [r["phase"] for r in _rows(browser, "client_to_upstream")][:2] == ["dns", "connect"]
    assert "probe_success 1" in browser.find_element(By.ID, "metrics").text
    assert "transport: auto" in browser.find_element(By.ID, "module-config").text
    await _screenshot(browser, tmp_path / "debug.png")


async def test_debug_view_masks_the_modules_secret(
    probed: Exporter, browser: WebDriver, tmp_path: Path
) -> None:
    """The debug view of the hostile probe: its module config and everything else mask the
    bearer token."""
    async with fakes.serve(_echo) as url:
        await _open(browser, f"{probed.base}/probe?target={url}&module=hostile&debug=true")
    assert SECRET not in browser.page_source
    assert "<secret>" in browser.find_element(By.ID, "module-config").text
    assert await _run(browser, "return window.pwned === undefined")
    await _screenshot(browser, tmp_path / "debug-hostile.png")


async def test_curl_keeps_the_text_forms(probed: Exporter) -> None:
    """Clients that do not prefer HTML (curl's */*, scripts) get text for /logs and debug, and the
    plain landing page; a browser's Accept gets the HTML pages with a no-script policy."""
    browser_accept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
    for accept in ("*/*", None, "text/plain"):
        headers = {"Accept": accept} if accept else {}
        async with probed.client.get(f"{probed.base}/logs?id=0", headers=headers) as resp:
            assert resp.content_type == "text/plain"
            assert "probe succeeded" in await resp.text()
        async with probed.client.get(f"{probed.base}/", headers=headers) as resp:
            assert "<td>http://127.0.0.1:1/mcp</td>" in await resp.text()
    async with probed.client.get(
        f"{probed.base}/logs?id=0", headers={"Accept": browser_accept}
    ) as resp:
        assert resp.content_type == "text/html"
        assert "script-src" not in resp.headers["Content-Security-Policy"]
        assert resp.headers["Content-Security-Policy"].startswith("default-src 'none'")
        assert resp.headers["Vary"] == "Accept"
        assert 'class="waterfall"' in await resp.text()


async def test_pages_survive_text_no_encoder_accepts(make_exporter: ExporterFactory) -> None:
    """A JSON-RPC error whose message holds a lone surrogate and control characters: the HTML
    log and debug pages still answer, with U+FFFD in their place."""

    async def hostile(request: web.Request) -> web.Response:
        body = await request.json()
        text = (
            '{"jsonrpc": "2.0", "id": %s, "error": {"code": -32000,'
            ' "message": "bad \\ud800\\u001b[2J\\u0007 end"}}'
        )
        return web.Response(text=text % json.dumps(body.get("id")), content_type="application/json")

    exporter = await make_exporter(CONFIG)
    headers = {"Accept": "text/html"}
    params = {"debug": "true"}
    async with (
        fakes.serve(hostile) as url,
        exporter.client.get(
            f"{exporter.base}/probe", params={"target": url, **params}, headers=headers
        ) as resp,
    ):
        assert resp.status == 200
        debug = await resp.text()
    async with exporter.client.get(f"{exporter.base}/logs?id=0", headers=headers) as resp:
        assert resp.status == 200
        log = await resp.text()
    for page in (debug, log):
        assert "bad \ufffd" in page
        assert "\x1b" not in page
        assert "\x07" not in page


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", True),
        ("text/html", True),
        ("*/*", False),
        ("", False),
        ("text/plain, text/html;q=0.5", False),
        ("text/html;q=0.5, text/*;q=0.4", True),
        ("text/html;q=0", False),
        ("application/json", False),
        ("text/html;q=abc", False),
    ],
)
def test_prefers_html(accept: str, html: bool) -> None:
    """HTML only when the client names it and weights it at least as high as plain text."""
    assert prefers_html(accept) is html
