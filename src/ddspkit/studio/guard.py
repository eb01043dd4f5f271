"""Requests the studio answers: for its own address only (a DNS-rebinding guard).

A web page anywhere can make the browser send requests to ``127.0.0.1``; the browser's
same-origin rule keeps the answers from that page, unless the page's own name is re-pointed
("rebound") at 127.0.0.1, when the browser takes the studio for the page's own site. Two
checks close that door, on every route (the page, files, uploads and the API's call
endpoints): the ``Host`` header must name this computer's loopback (``127.0.0.1``,
``localhost``, ``[::1]``, any port) or the address the studio was told to listen on, else
421; and a request that carries an ``Origin`` (a browser's cross-site or state-changing
request) must come from one of those hosts on the studio's own port, else 403.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
WILDCARDS = ("0.0.0.0", "::", "")
REFUSED_HEADER = "x-ddspkit-refused"  # on a refusal: which check refused ("host" or "origin")


def allowed_hosts(listen_host: str) -> frozenset[str]:
    """Host names (lower case, without port or brackets) the studio answers to: loopback,
    the address it listens on, and for a wildcard address this computer's name and addresses."""
    names = {*LOOPBACK_NAMES, listen_host.strip("[]").lower()}
    if listen_host in WILDCARDS:
        hostname = socket.gethostname()
        names |= {hostname.lower(), f"{hostname.lower()}.local"}
        try:
            names |= {info[4][0].lower() for info in socket.getaddrinfo(hostname, None)}
        except OSError:
            pass
    return frozenset(names - set(WILDCARDS))


def split_host(value: str) -> tuple[str, int | None] | None:
    """'127.0.0.1:7860' -> ('127.0.0.1', 7860); '[::1]:80' -> ('::1', 80); None if malformed."""
    try:
        parts = urlsplit(f"//{value}")
        return (parts.hostname or "").lower(), parts.port
    except ValueError:
        return None


def refusal(scope_headers: list[tuple[bytes, bytes]], hosts: frozenset[str]) -> tuple[int, str] | None:
    """(status, reason) if a request with these headers must be refused, else None."""
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope_headers}
    host = split_host(headers.get("host", ""))
    if host is None or host[0] not in hosts:
        shown = headers.get("host", "")[:100]
        return 421, (f"ddspkit studio: refused, the request is for host '{shown}'; the studio "
                     "answers on this computer's own address only (DNS-rebinding guard)")
    origin = headers.get("origin")
    if origin is not None:
        parts = split_host(urlsplit(origin).netloc) if origin.startswith(("http://", "https://")) else None
        if parts is None or parts[0] not in hosts or parts[1] != host[1]:
            return 403, (f"ddspkit studio: refused, a request from the page of another site "
                         f"('{origin[:100]}')")
    return None


class HostGuard:
    """ASGI middleware applying :func:`refusal` to every HTTP and websocket request."""

    def __init__(self, app, listen_host: str = "127.0.0.1") -> None:
        self.app = app
        self.hosts = allowed_hosts(listen_host)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        refused = refusal(scope.get("headers", []), self.hosts)
        if refused is None:
            return await self.app(scope, receive, send)
        status, reason = refused
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": reason[:120]})
            return None
        body = (reason + "\n").encode()
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                                (REFUSED_HEADER.encode(), b"host" if status == 421 else b"origin"),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
        return None
