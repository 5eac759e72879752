"""The OAuth client-credentials token cache: the one thing that outlives a probe.

Each loaded module owns one cache (on its `RuntimeModule`), keyed by target, so a config load
starts with an empty cache for every module and no token ever crosses modules or targets.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Final

MAX_ENTRIES: Final = 1000


@dataclass(frozen=True, slots=True)
class CachedToken:
    """An access token and when to stop using it (monotonic clock, margin already taken)."""

    access_token: str = field(repr=False)
    use_until: float
    token_endpoint: str

    def fresh(self, now: float | None = None) -> bool:
        """Whether the token may still be sent."""
        return (time.monotonic() if now is None else now) < self.use_until


class TokenCache:
    """Tokens of one module, per target, with one lock per target so that concurrent probes
    of the same target share one token request."""

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def get(self, key: str) -> CachedToken | None:
        """The cached token for `key` if it is still fresh."""
        token = self._tokens.get(key)
        if token is None:
            return None
        if not token.fresh():
            del self._tokens[key]
            return None
        return token

    def put(self, key: str, token: CachedToken) -> None:
        """Remember a token; the stalest entries go first when the cache is full."""
        self._tokens.pop(key, None)
        if len(self._tokens) >= MAX_ENTRIES:
            now = time.monotonic()
            for stale in [k for k, t in self._tokens.items() if not t.fresh(now)]:
                del self._tokens[stale]
            while len(self._tokens) >= MAX_ENTRIES:
                del self._tokens[next(iter(self._tokens))]
        self._tokens[key] = token

    def forget(self, key: str) -> None:
        """Drop a token the resource server rejected."""
        self._tokens.pop(key, None)

    def lock(self, key: str) -> asyncio.Lock:
        """The lock that serialises token requests for `key`."""
        lock = self._locks.get(key)
        if lock is None:
            if len(self._locks) >= MAX_ENTRIES:
                for idle in [k for k, v in self._locks.items() if not v.locked()]:
                    del self._locks[idle]
            lock = self._locks[key] = asyncio.Lock()
        return lock

    def __len__(self) -> int:
        return len(self._tokens)

    def __repr__(self) -> str:
        return f"TokenCache({len(self._tokens)} tokens)"
