"""The state the exporter's handlers share: command-line settings, the loaded config, reloads.

`State` holds one app's config and web config, its metrics, the recent probes and service
discovery, and the flags /-/ready reports. Loading the config file for the first time and
reloading it (with the web config file, keeping both old ones if either new one is invalid) run
the loaders in a daemon thread, one load at a time; `apply` makes a loaded config current.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import structlog

from .config import ConfigError, RuntimeConfig, load
from .history import History
from .metrics import ExporterMetrics
from .sd import ServiceDiscovery
from .web_config import SwappableTLSContext, WebConfig, load_web_config

logger = structlog.get_logger("mcp_exporter")

A = TypeVar("A")
T = TypeVar("T")


@dataclass
class Settings:
    """Command-line settings the app needs."""

    config_file: Path | None
    timeout_offset: float = 0.5
    history_size: int = 100
    max_concurrent_probes: int = 1000
    demo_target: str | None = None
    web_config: WebConfig | None = None
    web_config_file: Path | None = None


@dataclass
class State:
    """Everything the handlers share. One per app; no per-target state."""

    settings: Settings
    metrics: ExporterMetrics
    history: History
    sd: ServiceDiscovery
    config: RuntimeConfig | None = None
    web_config: WebConfig | None = None
    tls: SwappableTLSContext | None = None
    last_reload_error: str | None = None
    in_flight: int = 0
    serving: bool = False
    stopping: bool = False
    reload_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Set once the first config is loaded, or when the process gives up waiting for it.
    settled: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def ready(self) -> bool:
        """Ready for scrapes: a config is loaded and the server serves and is not stopping."""
        return self.config is not None and self.serving and not self.stopping

    async def loaded_config(self) -> RuntimeConfig | None:
        """The config, once the first one is loaded: a scrape that arrives while it loads waits
        for it rather than failing; None when the process stops without one."""
        await self.settled.wait()
        return self.config

    def give_up_loading(self) -> None:
        """Release the requests waiting for a first config that will not come."""
        self.settled.set()

    async def load_initial(self) -> None:
        """Load the config file the first time; ConfigError if it is invalid."""
        async with self.reload_lock:
            self.apply(await _in_thread(load, self.settings.config_file), self.web_config)

    async def reload(self) -> bool:
        """Load the config file and the web config file again; keep both old ones if either new
        one is invalid.

        Loading (validation, TLS contexts) runs in a thread so probes in flight are not held
        up; one reload at a time. Running probes keep the module they started with, open
        connections the TLS settings they started with.
        """
        async with self.reload_lock:
            try:
                new = await _in_thread(load, self.settings.config_file)
                web_config = self.web_config
                web_config_file = self.settings.web_config_file
                if web_config_file is not None:
                    web_config = await _in_thread(load_web_config, web_config_file)
                    self._check_tls_unchanged(web_config_file, web_config)
            except ConfigError as exc:
                return self._reload_failed(exc)
            self.apply(new, web_config)
            return True

    def _check_tls_unchanged(self, source: Path, new: WebConfig) -> None:
        # The listener is plain HTTP or TLS from the start (as with exporter-toolkit): a reload
        # may change certificates and client auth, not switch TLS on or off.
        before = self.web_config is not None and self.web_config.tls_server_config is not None
        if before != (new.tls_server_config is not None):
            state = "added" if not before else "removed"
            raise ConfigError(
                str(source),
                [f"tls_server_config: {state} by a reload; restart the exporter to change it"],
            )

    def apply(self, config: RuntimeConfig, web_config: WebConfig | None) -> None:
        """Make a loaded config and web config the current ones: forget the service discovery
        of removed sources, release the requests waiting for a first config, swap in the new
        TLS context, and report the reload as successful."""
        self.config = config
        self.web_config = web_config
        self.sd.forget_removed(config)
        self.settled.set()
        if self.tls is not None and web_config is not None and web_config.tls_context:
            self.tls.current = web_config.tls_context
        self.last_reload_error = None
        self.metrics.config_last_reload_successful.set(1)
        self.metrics.config_last_reload_success_timestamp.set(time.time())
        logger.info("config loaded", source=config.source, modules=len(config.modules))

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


async def _in_thread(function: Callable[[A], T], argument: A) -> T:
    """Run a loader in a daemon thread: a config read that hangs (a FIFO, a stuck network
    mount) must not keep SIGTERM from ending the process, as the default executor would by
    joining its threads at exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():  # the awaiting task may have been cancelled
            outcome()

    def run() -> None:
        try:
            result = function(argument)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task, which decides
            done = functools.partial(settle, functools.partial(future.set_exception, exc))
        else:
            done = functools.partial(settle, functools.partial(future.set_result, result))
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            loop.call_soon_threadsafe(done)

    threading.Thread(target=run, name="config-load", daemon=True).start()
    return await future
