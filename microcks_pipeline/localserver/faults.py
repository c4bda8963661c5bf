"""Fault injection for tests (errors, 429, latency, token expiry) and a log of the requests the server saw."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field


class FaultsDisabled(RuntimeError):
    """Fault injection was not enabled when the server was created (ServerConfig.faults_enabled)."""


@dataclass
class _Rule:
    kind: str  # "fail" | "throttle" | "latency"
    method: str | None
    path_prefix: str
    remaining: int | None  # None: every matching request
    status: int = 500
    body: str = ""
    retry_after: int = 1
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and path.startswith(self.path_prefix)

    def describe(self) -> dict[str, object]:
        return {
            "kind": self.kind,
            "method": self.method,
            "path_prefix": self.path_prefix,
            "remaining": self.remaining,
            "status": self.status,
            "retry_after": self.retry_after,
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class Injected:
    """What the fault layer does to one request: wait, then maybe answer instead of the app."""

    delay_seconds: float = 0.0
    status: int | None = None
    body: str = ""
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    query: str
    status: int
    started: float = 0.0  # time.monotonic() when the request came in
    ended: float = 0.0  # ... and when its answer was sent
    service: str = ""  # an upload's 201 answer: the `name:version` it imported into


@dataclass
class RequestLog:
    """Every request answered (fault endpoints excepted), so tests can count Microcks calls."""

    _calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    def calls(self, *, method: str | None = None, path_prefix: str = "") -> list[Call]:
        with self._lock:
            return [
                c
                for c in self._calls
                if (method is None or c.method == method) and c.path.startswith(path_prefix)
            ]

    def clear(self) -> None:
        with self._lock:
            self._calls.clear()


class Faults:
    """Controls injected faults; every method raises FaultsDisabled unless enabled at start."""

    def __init__(
        self, enabled: bool, expire_tokens: Callable[[], None], set_token_ttl: Callable[[int], None]
    ) -> None:
        self.enabled = enabled
        self._expire_tokens = expire_tokens
        self._set_token_ttl = set_token_ttl
        self._rules: list[_Rule] = []
        self._lock = threading.Lock()

    def _check(self) -> None:
        if not self.enabled:
            raise FaultsDisabled(
                "fault injection is disabled for this server (faults_enabled=False)"
            )

    def _add(self, rule: _Rule) -> None:
        self._check()
        if rule.remaining is not None and rule.remaining < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._rules.append(rule)

    def fail_next(
        self,
        count: int,
        status: int = 500,
        *,
        method: str | None = None,
        path_prefix: str = "/",
        body: str = "",
    ) -> None:
        """Answer the next `count` matching requests with `status` (and `body`)."""
        if not 100 <= status <= 599:
            raise ValueError("status must be an HTTP status code")
        self._add(_Rule("fail", _method(method), path_prefix, count, status=status, body=body))

    def throttle_next(
        self, count: int, retry_after: int = 1, *, method: str | None = None, path_prefix: str = "/"
    ) -> None:
        """Answer the next `count` matching requests 429 with `Retry-After: <retry_after>`."""
        if retry_after < 0:
            raise ValueError("retry_after must not be negative")
        self._add(
            _Rule(
                "throttle", _method(method), path_prefix, count, status=429, retry_after=retry_after
            )
        )

    def add_latency(
        self,
        seconds: float,
        *,
        method: str | None = None,
        path_prefix: str = "/",
        count: int | None = None,
    ) -> None:
        """Delay matching requests by `seconds` (the next `count` ones, or all when count is None)."""
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        self._add(_Rule("latency", _method(method), path_prefix, count, seconds=seconds))

    def expire_tokens(self) -> None:
        """Every token issued so far is rejected as expired from now on."""
        self._check()
        self._expire_tokens()

    def set_token_ttl(self, seconds: int) -> None:
        """Lifetime of tokens issued from now on."""
        self._check()
        if seconds < 1:
            raise ValueError("seconds must be at least 1")
        self._set_token_ttl(seconds)

    def clear(self) -> None:
        self._check()
        with self._lock:
            self._rules.clear()

    def active(self) -> list[dict[str, object]]:
        self._check()
        with self._lock:
            return [rule.describe() for rule in self._rules]

    def apply(self, method: str, path: str) -> Injected:
        """Consume the rules matching this request (no-op when disabled)."""
        if not self.enabled:
            return Injected()
        delay = 0.0
        with self._lock:
            for rule in self._rules:
                if rule.kind == "latency" and rule.matches(method, path):
                    delay += rule.seconds
                    _consume(rule)
            answer = next(
                (
                    r
                    for r in self._rules
                    if r.kind in ("fail", "throttle") and r.matches(method, path)
                ),
                None,
            )
            if answer is not None:
                _consume(answer)
            self._rules = [r for r in self._rules if r.remaining is None or r.remaining > 0]
        if answer is None:
            return Injected(delay_seconds=delay)
        headers: tuple[tuple[str, str], ...] = ()
        if answer.kind == "throttle":
            headers = (("Retry-After", str(answer.retry_after)),)
        return Injected(delay, answer.status, answer.body, headers)


def _consume(rule: _Rule) -> None:
    if rule.remaining is not None:
        rule.remaining -= 1


def _method(method: str | None) -> str | None:
    return method.upper() if method else None
