"""The built web app (web/dist): static files with cache headers and the SPA's index.html fallback."""

from __future__ import annotations

import asyncio
import mimetypes
import os
import re
from pathlib import Path

from gateway.responses import HTML_CT, Headers, Send, send_bytes

HASHED = re.compile(r"[.-][A-Za-z0-9_-]{8,}\.[a-z0-9]+$")
CHUNK = 256 * 1024
HOST_RE = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")
# Every file of the web app: no MIME sniffing, no framing, no referrer to other sites, only the features the
# app uses (geolocation for the live map, for this origin only).
SECURITY_HEADERS: Headers = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"geolocation=(self), camera=(), microphone=(), payment=(), usb=(), interest-cohort=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
# What Vite's build needs (checked against web/dist): module scripts and styles from this origin only, no
# inline script; images also as data: URLs (blurhash placeholders, QR codes); API calls and the chat
# WebSocket to this origin. hls.js feeds <video> from MediaSource blob: URLs (media-src blob:); its worker is
# the build's own file (workerPath), so worker-src stays 'self'.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "font-src 'self'; connect-src 'self'{ws}; worker-src 'self'; manifest-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
# The gateway's own pages (not built yet, /docs) carry inline styles and no script at all.
CSP_NO_SCRIPT = b"default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; " \
    b"form-action 'none'; frame-ancestors 'none'"


def content_security_policy(host: str | None, override: str = "") -> bytes:
    """The web app's CSP; `connect-src` names ws:/wss: of the requested host (older browsers' 'self' lacks them)."""
    if override:
        return override.encode()
    ws = f" ws://{host} wss://{host}" if host and HOST_RE.match(host) else ""
    return CSP.format(ws=ws).encode()


def page_headers(host: str | None, override: str = "") -> Headers:
    """Security headers of an HTML document of the web app."""
    return [*SECURITY_HEADERS, (b"content-security-policy", content_security_policy(host, override))]
NOT_BUILT = b"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ShareMyShows</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem;line-height:1.5}
code{background:#eee;padding:.1rem .3rem;border-radius:3px}</style></head>
<body><h1>ShareMyShows</h1>
<p>The web app is not built yet. Build it with <code>make web</code>
(it runs <code>npm ci &amp;&amp; npm run build</code> in <code>web/</code>,
producing <code>web/dist</code>), then reload this page.</p>
<p>The API is up: see <a href="/docs">/docs</a> and <a href="/health">/health</a>.</p>
</body></html>
"""


def prefers_html(accept: str | None) -> bool:
    """True when the Accept header ranks text/html at least as high as JSON (browsers)."""
    if not accept or "text/html" not in accept:
        return False
    html_q = json_q = -1.0
    for part in accept.split(","):
        media, _, params = part.strip().partition(";")
        media = media.strip().lower()
        q = 1.0
        for p in params.split(";"):
            key, _, val = p.strip().partition("=")
            if key == "q":
                try:
                    q = float(val)
                except ValueError:
                    q = 0.0
        if media == "text/html":
            html_q = max(html_q, q)
        elif media == "application/json":
            json_q = max(json_q, q)
    return html_q > 0 and html_q >= json_q


def cache_control(rel: str) -> bytes:
    """Cache policy: hashed assets forever, index.html always revalidated, the rest an hour."""
    if rel == "index.html" or rel.endswith(".html"):
        return b"no-cache"
    if rel.startswith("assets/") or HASHED.search(rel):
        return b"public, max-age=31536000, immutable"
    return b"public, max-age=3600"


class StaticSite:
    """Serves files below the web directory (never outside it)."""

    def __init__(self, web_dir: str, csp: str = "") -> None:
        """Remember the directory (it may be built later, so existence is checked per request)."""
        self.root = Path(web_dir).resolve()
        self.csp = csp

    @property
    def built(self) -> bool:
        """Whether web/dist/index.html exists."""
        return (self.root / "index.html").is_file()

    def find(self, path: str) -> Path | None:
        """The file for a URL path, or None (no dot segments, no escape from the root)."""
        rel = path.lstrip("/")
        if not rel:
            return None
        candidate = (self.root / rel).resolve()
        if not candidate.is_relative_to(self.root) or not candidate.is_file():
            return None
        return candidate

    async def send_file(
        self, send: Send, file: Path, extra: Headers, *, head: bool = False, if_none_match: str | None = None,
        host: str | None = None,
    ) -> int:
        """Send a file with content type, cache and security headers and an ETag (304 when it matches)."""
        st = await asyncio.to_thread(os.stat, file)
        etag = f'"{st.st_mtime_ns:x}-{st.st_size:x}"'.encode()
        rel = file.relative_to(self.root).as_posix()
        ctype = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
        if ctype.startswith("text/") or ctype in ("application/javascript", "application/json"):
            ctype += "; charset=utf-8"
        headers: Headers = [
            (b"cache-control", cache_control(rel)),
            (b"etag", etag),
            *(page_headers(host, self.csp) if ctype.startswith("text/html") else SECURITY_HEADERS),
            *extra,
        ]
        if if_none_match and etag.decode() in [t.strip() for t in if_none_match.split(",")]:
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return 304
        headers.append((b"content-type", ctype.encode()))
        headers.append((b"content-length", str(st.st_size).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        if head:
            await send({"type": "http.response.body", "body": b""})
            return 200
        with open(file, "rb") as fh:  # noqa: ASYNC230 - reads happen in a thread below
            while True:
                chunk = await asyncio.to_thread(fh.read, CHUNK)
                if not chunk:
                    break
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return 200

    async def send_index(self, send: Send, extra: Headers, *, head: bool = False, host: str | None = None) -> int:
        """The SPA's index.html, or the 'not built' page."""
        if self.built:
            return await self.send_file(send, self.root / "index.html", extra, head=head, host=host)
        headers = [HTML_CT, (b"cache-control", b"no-cache"), *SECURITY_HEADERS,
                   (b"content-security-policy", CSP_NO_SCRIPT), *extra]
        await send_bytes(send, 200, NOT_BUILT, headers, head=head)
        return 200
