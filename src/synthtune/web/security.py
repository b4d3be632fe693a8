"""Safe by default: what every request passes before it reaches a route.

- Bound to a loopback address the server answers only requests whose ``Host`` is a loopback name (a web
  page elsewhere cannot reach it through DNS rebinding). Bound to any other address it requires the
  access token on every request: ``Authorization: Bearer``, the ``synthtune_token`` cookie, or once
  ``?token=`` in a link (which sets the cookie).
- A state-changing request (POST, PUT, PATCH, DELETE) needs the page's CSRF token in ``X-CSRF-Token``: a
  foreign page cannot send that header without a CORS preflight, which this server never grants.
- Request bodies are bounded (413 beyond ``max_body`` bytes).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_COOKIE = "synthtune_token"
CSRF_HEADER = "x-csrf-token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
MAX_BODY = 1 << 20  # 1 MiB: an edited answer is a few kilobytes


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class Guard:
    """The server's secrets and limits. ``token`` is None when bound to loopback (no token needed)."""

    token: str | None = None
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    max_body: int = MAX_BODY
    loopback_only: bool = True

    @classmethod
    def for_host(cls, host: str, token: str | None = None, max_body: int = MAX_BODY) -> Guard:
        """Loopback: no token, loopback ``Host`` headers only. Elsewhere: ``token`` or a new random one."""
        if is_loopback(host):
            return cls(token=None, max_body=max_body, loopback_only=True)
        return cls(token=token or secrets.token_urlsafe(24), max_body=max_body, loopback_only=False)


class GuardMiddleware:
    """Pure ASGI middleware enforcing :class:`Guard` (no buffering of bodies that pass)."""

    def __init__(self, app: ASGIApp, guard: Guard):
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        problem = self._check(scope, headers)
        if problem is not None:
            await _reply(send, *problem)
            return
        length = headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > self.guard.max_body):
            await _reply(send, 413, "request too large")
            return
        if not self.guard.loopback_only and "token=" in scope.get("query_string", b"").decode("latin-1"):
            send = _setting_cookie(send, self.guard.token or "")
        await self.app(scope, self._bounded(receive), send)

    def _check(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        g = self.guard
        if g.loopback_only:
            if _host_name(headers.get("host", "")) not in LOOPBACK_NAMES:
                return (403, "this server answers on localhost only")
        else:
            if not secrets.compare_digest(
                _presented_token(scope, headers).encode(), (g.token or "").encode()
            ):
                return (401, "a valid token is required (the one printed when the server started)")
        if scope["method"] in UNSAFE_METHODS and not secrets.compare_digest(
            headers.get(CSRF_HEADER, "").encode(), g.csrf.encode()
        ):
            return (403, "missing or wrong CSRF token")
        return None

    def _bounded(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.guard.max_body

        async def wrapped() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge
            return message

        return wrapped


class BodyTooLarge(Exception):
    """A streamed body went past the limit (answered 413 by the app's handler)."""


def _host_name(host: str) -> str:
    if host.startswith("["):
        return host.split("]")[0] + "]"
    return host.rsplit(":", 1)[0]


def _setting_cookie(send: Send, token: str) -> Send:
    """A ``send`` that adds the token cookie to the response (a ``?token=`` link logs the browser in)."""
    cookie = f"{TOKEN_COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/".encode()

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
        await send(message)

    return wrapped


def _presented_token(scope: Scope, headers: dict[str, str]) -> str:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if "token" in query:
        return query["token"][0]
    cookie = SimpleCookie(headers.get("cookie", ""))
    return cookie[TOKEN_COOKIE].value if TOKEN_COOKIE in cookie else ""


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
