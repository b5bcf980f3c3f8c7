"""Live chat sockets lose their grant: revoked session, unfriending, visibility change, deletion, expiry,
the periodic re-check, and shows being down (fail closed). In-process app with the real wiring."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from starlette.websockets import WebSocketDisconnect

from shared.auth import TokenVerifier
from shared.events import ShowDeletedV1, ShowUpdatedV1, UserDeletedV1, make_envelope
from shared.revocation import CHANNEL, RevocationList
from shared.testing.plugin import AUDIENCE, ISSUER

OWNER, FRIEND, STRANGER = 1, 2, 3
SHOW, CONCERT = 10, 100

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def live(social_factory: Callable[..., Any], world: Any, jwks: dict[str, Any], fake_server: str) -> Any:
    """The social app with a revocation list fed by a fake auth (catch-up) and its own broadcast (push)."""
    verifier = TokenVerifier(None, ISSUER, AUDIENCE, jwks=jwks, revocations=RevocationList())
    social = social_factory(verifier, AUTH_URL=fake_server)
    for uid, name in ((OWNER, "owner"), (FRIEND, "friend"), (STRANGER, "stranger")):
        social.add_user(uid, name)
    world.add_show(SHOW, OWNER, visibility="friends", concert_id=CONCERT)
    social.befriend(OWNER, FRIEND)
    world.checked_in.add((FRIEND, CONCERT))  # the friend is at the concert: may chat
    assert verifier.revocations is not None and verifier.revocations.ready  # caught up at start-up
    return social


@pytest.fixture
def sockets() -> Iterator[list[Any]]:
    """Sockets opened by a test, closed at its end (a finished TestClient would wait for them)."""
    opened: list[Any] = []
    yield opened
    for ws in opened:
        with contextlib.suppress(Exception):
            ws.close()
        with contextlib.suppress(Exception):
            ws.__exit__(None, None, None)


def _closed(ws: Any, within: float) -> tuple[int, str, float]:
    """Read frames (a listening client) until the server closes; (code, reason, seconds)."""
    started = time.monotonic()
    box: dict[str, Any] = {}

    def read() -> None:
        try:
            while True:
                frame = ws.receive_json()
                box.setdefault("frames", []).append(frame)
        except WebSocketDisconnect as exc:
            box["closed"] = (exc.code, exc.reason)

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(within)
    assert "closed" in box, f"the socket was still open after {within}s (frames: {box.get('frames')})"
    code, reason = box["closed"]
    return code, reason, time.monotonic() - started


def _join(live: Any, sockets: list[Any], user: int = FRIEND, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else live.headers(user)
    ws = live.client.websocket_connect(f"/api/chat/show/{SHOW}/ws", headers=headers)
    ws.__enter__()
    sockets.append(ws)
    assert ws.receive_json()["type"] == "history"
    return ws


def test_revoked_session_closes_a_listening_socket_with_4401(live: Any, sockets: list[Any]) -> None:
    token = live.token_factory(FRIEND, "friend")
    sid = live.app.state.token_verifier.verify(token)["sid"]
    ws = _join(live, sockets, token=token)
    other = _join(live, sockets, OWNER)
    # what auth does on logout: push the revocation to every process (this one included)
    live.app.state.broadcast.publish(CHANNEL, {"sid": sid, "user_id": FRIEND, "expires_at": time.time() + 600})
    code, reason, took = _closed(ws, 5)
    assert code == 4401 and reason == "You were signed out."
    print(f"socket closed {took * 1000:.0f} ms after the push")
    other.send_json({"type": "ping"})
    assert _next(other, "pong")  # other sessions keep their sockets


def test_unfriending_closes_the_ex_friends_socket_with_4403(live: Any, sockets: list[Any]) -> None:
    ws = _join(live, sockets)
    owner = _join(live, sockets, OWNER)  # the owner keeps access to their own show
    friendship = live.client.get("/api/friends", headers=live.headers(OWNER)).json()["friends"][0]["id"]
    # social deletes the friendship; shows' copy still has it (its event has not been applied yet)
    assert live.client.delete(f"/api/friends/{friendship}", headers=live.headers(OWNER)).status_code == 204
    assert frozenset((OWNER, FRIEND)) in live.world.friends
    code, reason, _ = _closed(ws, 5)
    assert code == 4403 and reason == "You no longer have access to this show."
    assert "0" in live.world.friends_params  # social told shows what it knows
    owner.send_json({"type": "ping"})
    assert _next(owner, "pong")


def test_show_turned_private_closes_its_sockets(live: Any, sockets: list[Any]) -> None:
    ws = _join(live, sockets)
    live.world.shows[SHOW]["visibility"] = "private"
    subscriptions = live.app.state.event_subscriptions  # the consumer's handlers, with the live-socket hooks
    env = make_envelope(ShowUpdatedV1(show_id=SHOW, user_id=OWNER, concert_id=CONCERT, visibility="private",
                                      aggregate_version=2), "shows")
    _deliver(live, subscriptions, env)
    code, _, _ = _closed(ws, 5)
    assert code == 4403


def test_show_deleted_closes_its_sockets(live: Any, sockets: list[Any]) -> None:
    ws = _join(live, sockets)
    del live.world.shows[SHOW]
    _deliver(live, live.app.state.event_subscriptions,
             make_envelope(ShowDeletedV1(show_id=SHOW, user_id=OWNER, concert_id=CONCERT, aggregate_version=2),
                           "shows"))
    assert _closed(ws, 5)[0] == 4403


def test_user_deleted_closes_their_sockets(live: Any, sockets: list[Any]) -> None:
    ws = _join(live, sockets)
    _deliver(live, live.app.state.event_subscriptions,
             make_envelope(UserDeletedV1(user_id=FRIEND, aggregate_version=2), "auth"))
    code, reason, _ = _closed(ws, 5)
    assert code == 4401 and reason == "This account was deleted."


def test_token_expiry_closes_unless_the_client_reauthenticates(live: Any, sockets: list[Any]) -> None:
    # lifetimes of several seconds: on a loaded machine the join and the renewal alone can take a second or two
    first_expires = time.monotonic() + 6
    ws = _join(live, sockets, token=live.token_factory(FRIEND, "friend", ttl_s=6))
    ws.send_json({"type": "auth", "token": live.token_factory(OWNER, "owner")})  # someone else's: refused
    assert _next(ws, "error")["code"] == "invalid_token"
    ws.send_json({"type": "auth", "token": live.token_factory(FRIEND, "friend", ttl_s=12)})
    assert _next(ws, "auth")["ok"] is True
    time.sleep(max(0.0, first_expires - time.monotonic()) + 0.5)  # past the first token's expiry: still open
    ws.send_json({"type": "ping"})
    assert _next(ws, "pong")
    code, reason, _ = _closed(ws, 12)  # the renewed token expires too
    assert code == 4401 and reason == "Your session expired; sign in again."


def test_periodic_recheck_and_failing_closed_when_shows_is_down(
    social_factory: Callable[..., Any], world: Any, jwks: dict[str, Any], fake_server: str, sockets: list[Any]
) -> None:
    social = social_factory(TokenVerifier(None, ISSUER, AUDIENCE, jwks=jwks), AUTH_URL=fake_server,
                            SOCIAL_CHAT_RECHECK_S="0.5", SOCIAL_CHAT_POLICY="checked_in")
    social.add_user(FRIEND, "friend")
    world.add_show(SHOW, OWNER, visibility="public", concert_id=CONCERT)
    # no notice at all: the check-in ends at shows, the timer finds out
    world.checked_in.add((FRIEND, CONCERT))
    ws = _join(social, sockets)
    world.checked_in.clear()
    assert _closed(ws, 5)[0] == 4403
    world.checked_in.add((FRIEND, CONCERT))
    ws = _join(social, sockets)
    world.shows_down = True
    code, reason, _ = _closed(ws, 5)
    assert code == 1013 and "cannot be checked" in reason


def _next(ws: Any, kind: str) -> dict[str, Any]:
    while True:
        frame: dict[str, Any] = ws.receive_json()
        if frame["type"] == kind:
            return frame


def _deliver(live: Any, subscriptions: Any, env: Any) -> None:
    from shared.messaging import EventBus, EventConsumer

    consumer = EventConsumer(EventBus(live.app.state.settings), subscriptions,
                             live.app.state.session_factory, live.app.state.outbox)
    consumer.handle(env)


def test_unfriending_drops_cached_grants_at_once(social_factory: Callable[..., Any], world: Any,
                                                   token_verifier: Any) -> None:
    """A cached "may comment" answer (production keeps them a second) ends with the friendship, not after."""
    social = social_factory(token_verifier, SOCIAL_ACCESS_CACHE_TTL_S="60")
    for uid, name in ((OWNER, "owner"), (FRIEND, "friend")):
        social.add_user(uid, name)
    world.add_show(SHOW, OWNER, visibility="friends", concert_id=CONCERT)
    social.befriend(OWNER, FRIEND)
    c = social.client
    assert c.post("/api/comments", json={"show_id": SHOW, "text": "what a night"},
                  headers=social.headers(FRIEND)).status_code == 201  # the grant is now cached
    assert c.get(f"/api/comments/show/{SHOW}", headers=social.headers(FRIEND)).status_code == 200
    friendship = c.get("/api/friends", headers=social.headers(OWNER)).json()["friends"][0]["id"]
    assert c.delete(f"/api/friends/{friendship}", headers=social.headers(OWNER)).status_code == 204
    assert frozenset((OWNER, FRIEND)) in world.friends  # shows' copy still has the friendship
    r = c.post("/api/comments", json={"show_id": SHOW, "text": "still here?"}, headers=social.headers(FRIEND))
    assert r.status_code == 404, r.text
    assert c.get(f"/api/comments/show/{SHOW}", headers=social.headers(FRIEND)).status_code == 404
    assert c.get(f"/api/comments/show/{SHOW}", headers=social.headers(OWNER)).status_code == 200
