"""The route table (data, not handlers) and the per-upstream load balancer."""

from __future__ import annotations

import re
import time

# prefix -> owning service (docs/conventions.md, "Gateway route table"); /internal is never routed.
ROUTE_TABLE: tuple[tuple[str, str], ...] = (
    ("/api/auth", "auth"),
    ("/api/shows", "shows"),
    ("/api/artists", "shows"),
    ("/api/venues", "shows"),
    ("/api/dashboard/stats", "shows"),
    ("/api/dashboard/artists", "shows"),
    ("/api/dashboard/venues", "shows"),
    ("/api/jobs", "shows"),
    ("/api/imports", "shows"),
    ("/api/stats", "shows"),
    ("/api/catalog", "shows"),
    ("/api/photos", "media"),
    ("/api/audio", "media"),
    ("/api/videos", "media"),
    ("/api/dashboard/photos", "media"),
    ("/api/dashboard/audio", "media"),
    ("/api/dashboard/videos", "media"),
    ("/api/me/usage", "media"),
    ("/api/uploads", "media"),
    ("/api/concerts", "media"),
    ("/api/media", "media"),
    ("/api/comments", "social"),
    ("/api/friends", "social"),
    ("/api/chat", "social"),
    ("/api/feed", "social"),
    ("/api/dashboard/comments", "social"),
    ("/api/notifications", "social"),
    ("/api/messages", "social"),
    ("/api/users", "social"),
    ("/api/share-links", "social"),
    ("/api/public", "social"),
)

# Sub-resources of a show that another service owns: /api/shows/{id}/<name> (issue 16's friends' positions
# and share links live in social, next to friendships and check-ins); everything else under /api/shows is shows'.
SHOW_SUBRESOURCES: dict[str, str] = {"location": "social", "friends-locations": "social", "share-links": "social"}
# Clips on a show's setlist are media's: /api/shows/{id}/setlist/clips and /api/shows/{id}/setlist/{song_id}/clips.

# Pages outside /api that a service renders itself: /s/{token} (a show's public share page), /u/{username} (an
# opt-in public profile).
PAGE_ROUTES: dict[str, str] = {"s": "social", "u": "social"}

# Paths anyone may call without a token, by design of the owning service (public share pages and their JSON,
# the unsubscribe link of a notification mail, public profiles); a token, if sent, is still checked when valid.
PUBLIC_PREFIXES: tuple[str, ...] = ("/api/public/", "/s/", "/u/")
PUBLIC_PATHS = re.compile(r"^/api/users/[^/]+/profile$")  # a public profile's JSON (social answers 404 when off)

# Services that have public operations (sign in, refresh, password reset, the JWKS ...) and check
# tokens themselves: the gateway forwards their requests with or without a token, and a missing,
# expired or revoked one is theirs to judge, so a stale cookie never blocks signing in. Which of their
# operations are public is theirs to say (FastAPI dependencies), not a list kept here. Every other
# service has only signed-in operations: a missing or bad token is refused before forwarding.
SELF_AUTHENTICATING: frozenset[str] = frozenset({"auth"})

_ONE: dict[str, str] = {}
_TWO: dict[tuple[str, str], str] = {}
for _prefix, _service in ROUTE_TABLE:
    _parts = _prefix.split("/")[2:]
    if len(_parts) == 1:
        _ONE[_parts[0]] = _service
    else:
        _TWO[(_parts[0], _parts[1])] = _service


def _is_clips(rest: str) -> bool:
    # what follows /api/shows/{id}/setlist/: "clips" (every song's count) or "{song_id}/clips" (one song's)
    return rest == "clips" or (rest.endswith("/clips") and rest.count("/") == 1 and len(rest) > 6)


def match_route(path: str) -> str | None:
    """The service owning `path`, or None when the path is not routed."""
    if not path.startswith("/api/"):
        page = path.split("/", 3)
        return PAGE_ROUTES.get(page[1]) if len(page) == 3 and page[2] else None
    parts = path.split("/", 5)
    if parts[2] == "shows" and len(parts) >= 5:
        if len(parts) == 5 and parts[4] in SHOW_SUBRESOURCES:
            return SHOW_SUBRESOURCES[parts[4]]
        if len(parts) == 6 and parts[4] == "setlist" and _is_clips(parts[5]):
            return "media"
    service = _ONE.get(parts[2])
    if service is None and len(parts) > 3:
        service = _TWO.get((parts[2], parts[3]))
    return service


def is_public(path: str) -> bool:
    """Whether anonymous callers may reach `path` (PUBLIC_PREFIXES, PUBLIC_PATHS)."""
    return path.startswith(PUBLIC_PREFIXES) or PUBLIC_PATHS.match(path) is not None


def prefixes_of(service: str) -> tuple[str, ...]:
    """Every routed prefix of a service."""
    return tuple(p for p, s in ROUTE_TABLE if s == service)


def route_label(path: str) -> str:
    """A low-cardinality label for metrics: the matched prefix or a fixed name."""
    if path.startswith("/api/"):
        parts = path.split("/", 4)
        if parts[2] in _ONE:
            return "/api/" + parts[2]
        if len(parts) > 3 and (parts[2], parts[3]) in _TWO:
            return f"/api/{parts[2]}/{parts[3]}"
        return "/api/other"
    if path.startswith("/s/"):
        return "/s"
    if path in ("/", "/health", "/ready", "/docs", "/openapi.json", "/metrics"):
        return path
    return "static"


def is_unsafe_path(path: str) -> bool:
    """True when the decoded path has dot segments, backslashes or NUL (refused, never forwarded)."""
    if "\x00" in path or "\\" in path:
        return True
    if "/." not in path:
        return False
    return any(seg in (".", "..") for seg in path.split("/"))


class Instance:
    """One base URL of an upstream with its connection count and ejection deadline."""

    __slots__ = ("active", "base", "down_until")

    def __init__(self, base: str) -> None:
        """Remember the base URL."""
        self.base = base
        self.active = 0
        self.down_until = 0.0


class Upstream:
    """A service with one or more instances, balanced round-robin or by least connections."""

    def __init__(self, name: str, bases: list[str], mode: str = "round_robin", eject_s: float = 5.0) -> None:
        """Build the instances."""
        self.name = name
        self.instances = [Instance(b) for b in bases]
        self.least_conn = mode in ("least_conn", "least_connections", "leastconn")
        self.eject_s = eject_s
        self._rr = 0

    def pick(self, exclude: Instance | None = None) -> Instance | None:
        """Choose an instance that is not ejected (or the least recently ejected one)."""
        instances = self.instances
        n = len(instances)
        if n == 1:
            inst = instances[0]
            return None if inst is exclude else inst
        now = time.monotonic()
        if self.least_conn:
            best: Instance | None = None
            for inst in instances:
                if inst is exclude or inst.down_until > now:
                    continue
                if best is None or inst.active < best.active:
                    best = inst
            if best is not None:
                return best
        else:
            start = self._rr
            self._rr = (start + 1) % n
            for i in range(n):
                inst = instances[(start + i) % n]
                if inst is not exclude and inst.down_until <= now:
                    return inst
        candidates = [i for i in instances if i is not exclude]
        return min(candidates, key=lambda i: i.down_until) if candidates else None

    def eject(self, inst: Instance) -> None:
        """Stop sending to an instance for a while (it refused connections)."""
        inst.down_until = time.monotonic() + self.eject_s

    def has_other(self, inst: Instance) -> bool:
        """Whether a retry could go to a different instance."""
        return len(self.instances) > 1
