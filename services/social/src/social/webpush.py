"""Web Push (issue 16, optional): a person's browsers get their new notifications even with no tab open.

Off unless `SOCIAL_VAPID_PRIVATE_KEY` is set (the base64url P-256 private key that `vapid --gen` or
`web-push generate-vapid-keys` print; the public key browsers need is derived from it). A browser subscribes
through the web app's service worker and hands social its endpoint and keys. A notification, once its
transaction committed, is encrypted for each of the recipient's subscriptions (aes128gcm, `pywebpush`) and
POSTed to the push service off the request/consumer thread; a subscription the push service calls gone
(404/410) is deleted. Only endpoints of known push services are accepted (`SOCIAL_PUSH_HOSTS`), over HTTPS:
social never POSTs to an address a client made up (no SSRF); tests allow their fake service by
`SOCIAL_PUSH_INSECURE_HOSTS`.
"""

from __future__ import annotations

import base64
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid
from pywebpush import WebPushException, webpush
from sqlalchemy.orm import Session, sessionmaker

from shared.db import session_scope
from shared.errors import NotFound, ValidationFailed
from social import repository as repo
from social.config import SocialSettings
from social.notifications import Live

log = logging.getLogger(__name__)
KEEP_PER_USER = 10  # browsers per person; the oldest subscription goes first
TIMEOUT_S = 5.0


class PushDisabled(NotFound):
    default_code = "push_disabled"
    default_message = "Web Push is not configured on this server."


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_key(private_key: str) -> str:
    """The applicationServerKey browsers subscribe with: the uncompressed public point, base64url."""
    raw = base64.urlsafe_b64decode(private_key + "=" * (-len(private_key) % 4))
    if len(raw) == 32:
        key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
    else:  # DER
        key = serialization.load_der_private_key(raw, password=None)  # type: ignore[assignment]
    point = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return _b64url(point)


def allowed_endpoint(endpoint: str, hosts: list[str], insecure_hosts: list[str]) -> bool:
    """An HTTPS endpoint on a known push service (a host equal to an entry or under one starting with a dot),
    or any endpoint on a host listed as insecure (tests)."""
    try:
        parts = urlsplit(endpoint)
        host = (parts.hostname or "").lower()
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    if host in insecure_hosts:
        return parts.scheme in ("http", "https")
    return parts.scheme == "https" and any(host == h or (h.startswith(".") and host.endswith(h)) for h in hosts)


def _csv(value: str) -> list[str]:
    return [v.strip().lower() for v in value.split(",") if v.strip()]


class PushSender:
    """Sends notifications to browsers (a no-op when no VAPID key is configured)."""

    def __init__(self, session_factory: sessionmaker[Session], settings: SocialSettings) -> None:
        self.session_factory = session_factory
        self.settings = settings
        self.enabled = bool(settings.vapid_private_key)
        self.vapid = Vapid.from_string(private_key=settings.vapid_private_key) if self.enabled else None
        self.public_key = public_key(settings.vapid_private_key) if self.enabled else ""
        self.hosts, self.insecure = _csv(settings.push_hosts), _csv(settings.push_insecure_hosts)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="webpush") if self.enabled else None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def wrap(self, live: Live) -> Live:
        """`live` plus a push of every notification frame to the recipient's browsers."""
        if not self.enabled:
            return live

        def both(user_id: int, frame: dict[str, Any]) -> None:
            live(user_id, frame)
            if frame.get("type") == "notification" and self._pool is not None:
                self._pool.submit(self.deliver, user_id, frame["notification"])

        return both

    def deliver(self, user_id: int, notification: dict[str, Any]) -> int:
        """Push one notification to each of a person's subscriptions; how many the push services took."""
        data = json.dumps({"title": "ShareMyShows", "body": notification.get("text") or "",
                           "type": notification.get("type"), "id": notification.get("id"), "url": "/"})
        with session_scope(self.session_factory) as session:
            subs = [(s.endpoint, s.p256dh, s.auth) for s in repo.push_subscriptions_of(session, user_id)]
        sent = 0
        for endpoint, p256dh, auth in subs:
            status = self._send(endpoint, p256dh, auth, data)
            if status in (404, 410):  # the browser unsubscribed or the subscription expired
                with session_scope(self.session_factory) as session:
                    repo.delete_push_subscription(session, endpoint)
            sent += status < 300
        return sent

    def _send(self, endpoint: str, p256dh: str, auth: str, data: str) -> int:
        if not allowed_endpoint(endpoint, self.hosts, self.insecure):  # the list may have shrunk since
            return 410
        try:
            resp: Any = webpush({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}, data=data,
                                vapid_private_key=self.vapid, vapid_claims={"sub": self.settings.vapid_subject},
                                timeout=TIMEOUT_S, ttl=self.settings.push_ttl_s)
            return int(resp.status_code)
        except WebPushException as exc:
            status = int(exc.response.status_code) if exc.response is not None else 0
            log.info("push to %s failed: %s", urlsplit(endpoint).hostname, status or exc)
            return status
        except Exception as exc:  # a push service down must never hurt the notification itself
            log.warning("push to %s failed: %s", urlsplit(endpoint).hostname, exc)
            return 0


def key(sender: PushSender) -> dict[str, str]:
    """The VAPID public key the web app subscribes with; PushDisabled when not configured."""
    if not sender.enabled:
        raise PushDisabled()
    return {"public_key": sender.public_key}


def subscribe(*, session: Session, sender: PushSender, user_id: int, endpoint: str, p256dh: str,
              auth: str) -> dict[str, str]:
    """Store the caller's browser subscription (422 for an endpoint that is not a known push service)."""
    if not sender.enabled:
        raise PushDisabled()
    if not allowed_endpoint(endpoint, sender.hosts, sender.insecure):
        raise ValidationFailed("This is not the endpoint of a known push service.", field="endpoint")
    row = repo.add_push_subscription(session, user_id=user_id, endpoint=endpoint, p256dh=p256dh, auth=auth,
                                     keep=KEEP_PER_USER)
    return {"endpoint": row.endpoint}


def unsubscribe(*, session: Session, user_id: int, endpoint: str) -> None:
    """Forget one of the caller's browser subscriptions (idempotent)."""
    repo.delete_push_subscription(session, endpoint, user_id=user_id)
