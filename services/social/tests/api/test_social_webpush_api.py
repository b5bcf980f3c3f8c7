"""Web Push: browsers subscribe (only endpoints of known push services), a new notification reaches each of the
recipient's browsers encrypted (aes128gcm, VAPID-signed) through a fake push service that records requests, a
subscription the push service calls gone is deleted, and without a VAPID key the feature is off."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from shared.events import Event, MediaReadyV1, make_envelope
from shared.messaging import EventBus, EventConsumer
from shared.testing.fakepush import Browser, FakePushService
from social.models import PushSubscription
from social.webpush import allowed_endpoint, public_key

OWNER, OTHER = 1, 2
# a fixed test key (never used anywhere else): raw P-256 private value, base64url
VAPID = "FUucr6Ub_FeoT4kmV8etpZIRS45_5ZSgMb-wk_EN55Y"


@pytest.fixture
def push_service() -> Iterator[FakePushService]:
    service = FakePushService()
    yield service
    service.close()


def _deliver(app: Any, event: Event) -> None:
    """Through the app's own consumers (the live path, which pushes), as the bus would."""
    state = app.app.state
    EventConsumer(EventBus(state.settings), state.event_subscriptions, state.session_factory,
                  state.outbox).handle(make_envelope(event, "test"))


def test_known_push_services_only() -> None:
    hosts = ["fcm.googleapis.com", ".push.services.mozilla.com"]
    assert allowed_endpoint("https://fcm.googleapis.com/fcm/send/abc", hosts, [])
    assert allowed_endpoint("https://updates.push.services.mozilla.com/wpush/v2/x", hosts, [])
    for bad in ("http://fcm.googleapis.com/x", "https://evil.example/x", "https://fcm.googleapis.com.evil.example/",
                "https://user:pw@fcm.googleapis.com/x", "https://127.0.0.1/x", "file:///etc/passwd", "https:///x",
                "https://push.services.mozilla.com.evil/x"):
        assert not allowed_endpoint(bad, hosts, []), bad
    assert allowed_endpoint("http://127.0.0.1:9/x", hosts, ["127.0.0.1"])


def test_a_notification_reaches_each_browser_encrypted_and_a_gone_one_is_forgotten(
    social_factory: Any, token_verifier: Any, push_service: FakePushService
) -> None:
    app = social_factory(token_verifier, SOCIAL_VAPID_PRIVATE_KEY=VAPID, SOCIAL_PUSH_INSECURE_HOSTS="127.0.0.1")
    app.add_user(OWNER, "owner")
    app.add_user(OTHER, "other")
    key = app.client.get("/api/notifications/push-key", headers=app.headers(OWNER)).json()["public_key"]
    assert key == public_key(VAPID) and len(base64.urlsafe_b64decode(key + "=")) == 65
    laptop, phone, other = Browser(), Browser(), Browser()
    subs = {"laptop": (laptop, f"{push_service.url}/push/laptop"), "phone": (phone, f"{push_service.url}/gone/phone")}
    for browser, endpoint in subs.values():
        r = app.client.post("/api/notifications/push-subscriptions", headers=app.headers(OWNER),
                            json={"endpoint": endpoint, "expirationTime": None, "keys": browser.keys})
        assert r.status_code == 201, r.text
    r = app.client.post("/api/notifications/push-subscriptions", headers=app.headers(OTHER),
                        json={"endpoint": f"{push_service.url}/push/other", "keys": other.keys})
    assert r.status_code == 201
    bad = app.client.post("/api/notifications/push-subscriptions", headers=app.headers(OWNER),
                          json={"endpoint": "https://169.254.169.254/latest", "keys": laptop.keys})
    assert bad.status_code == 422 and bad.json()["code"] == "validation_error"

    _deliver(app, MediaReadyV1(media_id=7, kind="photo", show_id=3, user_id=OWNER))
    got = {r["path"]: r for r in push_service.wait(2)}
    assert set(got) == {"/push/laptop", "/gone/phone"}  # the owner's browsers, not the other person's
    for path, browser in (("/push/laptop", laptop), ("/gone/phone", phone)):
        req = got[path]
        assert req["headers"]["content-encoding"] == "aes128gcm" and int(req["headers"]["ttl"]) > 0
        assert req["headers"]["authorization"].startswith("vapid t=") and f"k={key}" in req["headers"]["authorization"]
        payload = browser.decrypt(req["body"])
        assert payload["type"] == "media_ready" and payload["title"] == "ShareMyShows" and payload["body"]
    # the push service said the phone's subscription is gone: it is deleted
    deadline = time.monotonic() + 5
    while True:
        with app.session() as s:
            left = sorted(s.scalars(select(PushSubscription.endpoint).where(PushSubscription.user_id == OWNER)))
        if left == [subs["laptop"][1]] or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert left == [subs["laptop"][1]]
    # the browser unsubscribes
    r = app.client.request("DELETE", "/api/notifications/push-subscriptions", headers=app.headers(OWNER),
                           json={"endpoint": subs["laptop"][1]})
    assert r.status_code == 204
    _deliver(app, MediaReadyV1(media_id=8, kind="photo", show_id=3, user_id=OWNER))
    time.sleep(0.3)
    assert len(push_service.requests) == 2


def test_without_a_vapid_key_push_is_off(social: Any) -> None:
    social.add_user(OWNER, "owner")
    r = social.client.get("/api/notifications/push-key", headers=social.headers(OWNER))
    assert r.status_code == 404 and r.json()["code"] == "push_disabled"
    r = social.client.post("/api/notifications/push-subscriptions", headers=social.headers(OWNER),
                           json={"endpoint": "https://fcm.googleapis.com/fcm/send/x", "keys": Browser().keys})
    assert r.status_code == 404
    assert social.client.get("/api/notifications/push-key").status_code == 401
