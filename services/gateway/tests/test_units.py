"""Unit tests of the gateway's pure pieces: routing, balancing, OpenAPI merge, Accept, cookies."""

from __future__ import annotations

import time

from gateway.docs import merge_specs, render_docs
from gateway.routes import Upstream, is_public, is_unsafe_path, match_route, route_label
from gateway.static import cache_control, prefers_html
from shared.auth import cookie_value, extract_token


def test_match_route() -> None:
    assert match_route("/api/shows") == "shows"
    assert match_route("/api/dashboard/photos/recent") == "media"
    assert match_route("/api/media/unfiled") == "media" and match_route("/api/media/7/file") == "media"
    assert match_route("/api/dashboard/comments") == "social"
    assert match_route("/api/dashboard") is None
    assert match_route("/internal/shows/1/access") is None
    assert match_route("/api/shows-evil") is None
    assert route_label("/api/shows/12/setlist") == "/api/shows"
    assert route_label("/api/dashboard/stats") == "/api/dashboard/stats"
    assert route_label("/assets/x.js") == "static"


def test_issue16_routes() -> None:
    """Notifications, messages, blocks, share links and friends' positions go to social; /s/ is social's page."""
    for path in ("/api/notifications", "/api/notifications/ws", "/api/messages/3", "/api/users/3/block",
                 "/api/share-links/tok", "/api/public/shows/tok", "/api/shows/12/location",
                 "/api/shows/12/friends-locations", "/api/shows/12/share-links", "/s/tok"):
        assert match_route(path) == "social", path
    for path in ("/api/shows/12", "/api/shows/12/setlist", "/api/shows/12/location/x", "/api/shows/location"):
        assert match_route(path) == "shows", path
    assert match_route("/s/") is None and match_route("/s") is None and match_route("/s/a/b") is None
    assert is_public("/s/tok") and is_public("/api/public/unsubscribe")
    assert not is_public("/api/notifications") and not is_public("/api/publicity")
    assert match_route("/u/ann") == "social" and is_public("/u/ann") and is_public("/api/users/ann/profile")
    assert match_route("/api/users/ann/profile") == "social"
    for path in ("/api/users/me/profile-settings", "/api/users/1/block", "/api/users/a/b/profile",
                 "/api/users/ann/profile/x"):
        assert not is_public(path), path


def test_issue15_album_and_clip_routes() -> None:
    """A concert's album and clips on a show's setlist are media's; the rest of the setlist stays shows'."""
    for path in ("/api/concerts/3/album", "/api/shows/12/setlist/clips", "/api/shows/12/setlist/7/clips",
                 "/api/shows/{show_id}/setlist/{song_id}/clips"):
        assert match_route(path) == "media", path
    for path in ("/api/shows/12/setlist/7", "/api/shows/12/setlist/clips/x", "/api/shows/12/setlist//clips",
                 "/api/shows/12/setlist/7/clips/8", "/api/shows/12/setlist/7/clipsx", "/api/shows/12/clips",
                 "/api/shows/12/setlist/import"):
        assert match_route(path) == "shows", path
    assert route_label("/api/concerts/3/album") == "/api/concerts"


def test_unsafe_paths() -> None:
    assert is_unsafe_path("/api/shows/../internal")
    assert is_unsafe_path("/api/shows/./x")
    assert is_unsafe_path("/api/shows/a\x00")
    assert not is_unsafe_path("/api/shows/1.json")
    assert not is_unsafe_path("/api/auth/.well-known/jwks.json")


def test_round_robin_and_ejection() -> None:
    up = Upstream("shows", ["http://a", "http://b"], eject_s=0.2)
    picks = [up.pick().base for _ in range(4)]  # type: ignore[union-attr]
    assert picks == ["http://a", "http://b", "http://a", "http://b"]
    up.eject(up.instances[0])
    assert {up.pick().base for _ in range(4)} == {"http://b"}  # type: ignore[union-attr]
    assert up.pick(exclude=up.instances[1]).base == "http://a"  # type: ignore[union-attr]
    time.sleep(0.25)
    assert {up.pick().base for _ in range(4)} == {"http://a", "http://b"}  # type: ignore[union-attr]


def test_least_connections() -> None:
    up = Upstream("media", ["http://a", "http://b"], mode="least_conn")
    up.instances[0].active = 3
    assert up.pick().base == "http://b"  # type: ignore[union-attr]


def test_merge_collisions_rewrite_nested_refs() -> None:
    def spec(field: str) -> dict:
        return {
            "paths": {
                "/api/shows/x": {"get": {"operationId": "op", "responses": {"200": {"content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Wrapper"}}}}}}},
                "/internal/x": {"get": {}},
            },
            "components": {"schemas": {
                "Wrapper": {"properties": {"item": {"$ref": "#/components/schemas/Item"}}},
                "Item": {"properties": {field: {"type": "string"}}},
                "Same": {"type": "string"},
            }},
        }

    a = spec("a")
    b = spec("b")
    b["paths"] = {"/api/photos/x": b["paths"]["/api/shows/x"], "/api/shows/not-mine": {"get": {}}}
    merged = merge_specs({"shows": a, "media": b})
    schemas = merged["components"]["schemas"]
    # Item differs, so Wrapper (identical text, but pointing at different Items) must be split too
    assert {"shows_Item", "media_Item", "shows_Wrapper", "media_Wrapper", "Same"} <= set(schemas)
    assert schemas["media_Wrapper"]["properties"]["item"]["$ref"] == "#/components/schemas/media_Item"
    assert set(merged["paths"]) == {"/api/shows/x", "/api/photos/x", "/health"}
    ops = [merged["paths"][p]["get"]["operationId"] for p in ("/api/shows/x", "/api/photos/x")]
    assert len(set(ops)) == 2
    assert b"/api/photos/x" in render_docs(merged)


def test_prefers_html() -> None:
    assert prefers_html("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
    assert not prefers_html("*/*")
    assert not prefers_html("application/json")
    assert not prefers_html("application/json, text/html;q=0.5")
    assert not prefers_html(None)


def test_cache_control() -> None:
    assert b"immutable" in cache_control("assets/index-4f3a2b1c.js")
    assert cache_control("index.html") == b"no-cache"
    assert cache_control("favicon.ico") == b"public, max-age=3600"


def test_tokens_from_headers() -> None:
    assert cookie_value("a=1; access_token_cookie=tok; b=2", "access_token_cookie") == "tok"
    assert cookie_value("xaccess_token_cookie=no", "access_token_cookie") is None
    assert extract_token("Bearer abc", "access_token_cookie=c") == ("abc", False)
    assert extract_token(None, "access_token_cookie=c") == ("c", True)
    assert extract_token("Basic xyz", None) == (None, False)


def test_merged_operations_document_what_the_gateway_answers_itself() -> None:
    spec = {
        "paths": {
            "/api/shows/{show_id}": {"put": {"parameters": [{"name": "show_id", "in": "path"}],
                                             "requestBody": {"content": {"application/json": {}}},
                                             "responses": {"200": {"description": "ok"}}}},
            "/api/shows": {"get": {"responses": {"200": {"description": "ok"}}}},
        }
    }
    auth = {"paths": {"/api/auth/login": {"post": {"requestBody": {"content": {"application/json": {}}},
                                                   "responses": {"401": {"description": "wrong password"}}}}}}
    merged = merge_specs({"shows": spec, "auth": auth})
    put = merged["paths"]["/api/shows/{show_id}"]["put"]["responses"]
    assert {"400", "401", "413", "429", "502", "503", "504"} <= set(put)
    assert "Retry-After" in put["429"]["headers"]
    get = merged["paths"]["/api/shows"]["get"]["responses"]
    assert {"401", "429", "503"} <= set(get) and "413" not in get and "400" not in get
    login = merged["paths"]["/api/auth/login"]["post"]["responses"]
    assert login["401"] == {"description": "wrong password"}  # the service's own description wins
    assert merged["components"]["schemas"]["GatewayError"]["required"] == ["error", "code"]


def test_bulk_metrics_match_prometheus_own_observations() -> None:
    from prometheus_client import CollectorRegistry, Histogram

    from gateway.metrics import Metrics
    from shared.metrics import LATENCY, REQUESTS

    values = [0.0001, 0.005, 0.0050001, 0.01, 0.3, 2.5, 9.9, 42.0]
    reference = Histogram("ref_seconds", "x", buckets=LATENCY._upper_bounds[:-1], registry=CollectorRegistry())
    m = Metrics("unit-bulk")
    for v in values:
        reference.observe(v)
        m.observe("GET", "/api/unit", 200, v)
    m.flush()
    m.observe("GET", "/api/unit", 200, 0.02)  # a tally not flushed yet is in the exposition too
    reference.observe(0.02)
    text = m.exposition()[0].decode()

    def buckets(lines: list[str], key: str) -> list[str]:
        return [line.rsplit(" ", 1)[1] for line in lines if key in line and "_bucket" in line]

    ours = buckets([ln for ln in text.splitlines() if 'service="unit-bulk"' in ln], "http_request_duration")
    ref = buckets(reference.collect()[0].samples and [
        f"{s.name} {s.value}" for s in reference.collect()[0].samples], "ref_seconds")
    assert ours == ref and len(ours) == len(LATENCY._upper_bounds)
    assert REQUESTS.labels("unit-bulk", "GET", "/api/unit", "200")._value.get() == len(values) + 1
