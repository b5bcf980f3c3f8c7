"""Two real social instances (uvicorn processes) sharing one database and one bus (kombu filesystem).

Clients on different instances each receive every message exactly once, see each other's presence,
get history on join and what they missed on reconnect (`?after=`); bad sockets are refused; a grant
taken back on one instance (unfriending, revoked session) closes the sockets on the other.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from shared.db import run_migrations
from shared.stack import free_port

SHOW_A, SHOW_B, CONCERT = 10, 11, 500
ALICE, BOB, CAROL, DAVE = 1, 2, 3, 4


def _env(tmp_path: Path, fake: str, port: int, broker: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in list(env):
        if key.endswith("_DATABASE_URL") or key in ("DATABASE_URL", "BROKER_URL", "REDIS_URL"):
            env.pop(key)
    env.update({
        "ENV": "testing", "VAR_DIR": str(tmp_path / "var"), "DATABASE_URL": f"sqlite:///{tmp_path / 'social.db'}",
        "PORT": str(port), "JWKS_URL": f"{fake}/jwks", "SHOWS_URL": fake, "MEDIA_URL": fake, "AUTH_URL": fake,
        "BUS_RELAY_ENABLED": "false", "BUS_CONSUMER_ENABLED": "false", "LOG_FORMAT": "text",
        "LOG_LEVEL": "WARNING", "SOCIAL_CHAT_EXCHANGE": f"sms.chat.{tmp_path.name}", "PYTHONUNBUFFERED": "1",
    })
    if broker:
        env["BROKER_URL"] = broker
    return env


@pytest.fixture(params=["filesystem", "rabbitmq"])
def broker(request: pytest.FixtureRequest) -> str:
    """The bus both instances share: kombu's filesystem transport (a temp dir) or a RabbitMQ vhost."""
    return "" if request.param == "filesystem" else request.getfixturevalue("rabbit_url")


@pytest.fixture
def instances(tmp_path: Path, world: Any, fake_server: str, broker: str) -> Iterator[list[str]]:
    """Two social processes; yields their base URLs."""
    world.add_show(SHOW_A, ALICE, visibility="public", concert_id=CONCERT)
    world.add_show(SHOW_B, BOB, visibility="public", concert_id=CONCERT)
    world.checked_in.add((DAVE, CONCERT))
    run_migrations("social", f"sqlite:///{tmp_path / 'social.db'}")
    procs: list[subprocess.Popen[bytes]] = []
    urls: list[str] = []
    for i in range(2):
        port = free_port()
        log = (tmp_path / f"social{i}.log").open("wb")
        procs.append(subprocess.Popen([sys.executable, "-c", "import social.main as m; m.main()"],
                                      env=_env(tmp_path, fake_server, port, broker), stdout=log,
                                      stderr=subprocess.STDOUT, start_new_session=True))
        urls.append(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 40
        for proc, url in zip(procs, urls, strict=True):
            while True:
                assert proc.poll() is None, (tmp_path / "social0.log").read_text()[-3000:]
                try:
                    if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "social instance not ready"
                time.sleep(0.2)
        yield urls
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _ws(base: str, show_id: int, token: str | None, query: str = "") -> Any:
    url = base.replace("http://", "ws://") + f"/api/chat/show/{show_id}/ws{query}"
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return websockets.connect(url, additional_headers=headers, open_timeout=10)


async def _recv(ws: Any, wait_s: float = 10.0) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), wait_s))


async def _collect(ws: Any, want: int, wait_s: float = 15.0, settle: float = 0.7) -> list[dict[str, Any]]:
    """Message frames until `want` arrived, then a little longer to catch duplicates."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait_s
    while len(got) < want and time.monotonic() < deadline:
        try:
            frame = await _recv(ws, max(0.05, deadline - time.monotonic()))
        except TimeoutError:
            break
        if frame["type"] == "message":
            got.append(frame)
    end = time.monotonic() + settle
    while time.monotonic() < end:
        try:
            frame = await _recv(ws, max(0.05, end - time.monotonic()))
        except TimeoutError:
            break
        if frame["type"] == "message":
            got.append(frame)
    return got


def test_two_instances_deliver_each_message_once(instances: list[str], token_factory: Any) -> None:
    one, two = instances
    alice, bob = token_factory(ALICE, "alice"), token_factory(BOB, "bob")

    async def scenario() -> None:
        async with _ws(one, SHOW_A, alice) as wa, _ws(two, SHOW_B, bob) as wb:
            assert (await _recv(wa))["type"] == "history"
            assert (await _recv(wb))["type"] == "history"
            # presence crosses instances: eventually someone sees both users
            seen_both = False
            deadline = time.monotonic() + 10
            while not seen_both and time.monotonic() < deadline:
                frame = await _recv(wa)
                if frame["type"] == "presence":
                    seen_both = {u["user_id"] for u in frame["users"]} == {ALICE, BOB}
            assert seen_both, "alice never saw bob's presence from the other instance"
            for i in range(5):
                await wa.send(json.dumps({"type": "message", "message": f"a{i}"}))
                await wb.send(json.dumps({"type": "message", "message": f"b{i}"}))
            got_a, got_b = await asyncio.gather(_collect(wa, 10), _collect(wb, 10))
            for got in (got_a, got_b):
                ids = [m["id"] for m in got]
                assert len(ids) == 10 and len(set(ids)) == 10, [m["message"] for m in got]
                assert sorted(m["message"] for m in got) == sorted([f"a{i}" for i in range(5)] +
                                                                   [f"b{i}" for i in range(5)])
            last_seen = max(m["id"] for m in got_a)
            active = (await asyncio.to_thread(httpx.get, f"{two}/api/chat/show/{SHOW_B}/active-users",
                               headers={"Authorization": f"Bearer {bob}"})).json()
            assert {u["user_id"] for u in active["users"]} == {ALICE, BOB}
        # alice is away; bob (reconnected on instance one) gets what dave posts; alice comes back on two
        async with _ws(one, SHOW_B, bob) as wb:
            await _recv(wb)
            for text in ("missed-1", "missed-2"):
                r = await asyncio.to_thread(
                    httpx.post, f"{two}/api/chat/show/{SHOW_B}/messages", json={"message": text},
                    headers={"Authorization": f"Bearer {token_factory(DAVE, 'dave')}"},
                )
                assert r.status_code == 201, r.text
            assert [m["message"] for m in await _collect(wb, 2)] == ["missed-1", "missed-2"]
        async with _ws(two, SHOW_A, alice, f"?after={last_seen}") as wa:
            hist = await _recv(wa)
            assert hist["type"] == "history"
            assert [m["message"] for m in hist["messages"]] == ["missed-1", "missed-2"]

    asyncio.run(scenario())


def test_refusals_and_bad_frames_on_a_real_server(instances: list[str], token_factory: Any) -> None:
    one, _ = instances

    async def closed_with(token: str | None, show: int) -> int | None:
        async with _ws(one, show, token) as ws:
            with pytest.raises(websockets.ConnectionClosed) as info:
                await _recv(ws)
            return info.value.rcvd.code if info.value.rcvd else None

    async def scenario() -> None:
        assert await closed_with(None, SHOW_A) == 4401
        assert await closed_with("garbage", SHOW_A) == 4401
        assert await closed_with(token_factory(CAROL, "carol"), SHOW_A) == 4403  # public show, not at concert
        assert await closed_with(token_factory(ALICE, "alice"), 4242) == 4404
        async with _ws(one, SHOW_A, token_factory(ALICE, "alice")) as ws:
            assert (await _recv(ws))["type"] == "history"
            await ws.send("{{{")
            frame = await _recv(ws)
            while frame["type"] == "presence":
                frame = await _recv(ws)
            assert frame["type"] == "error" and frame["code"] == "bad_frame"
            for i in range(6):
                await ws.send(json.dumps({"type": "message", "message": f"r{i}"}))
            codes = []
            while len(codes) < 6:
                frame = await _recv(ws)
                if frame["type"] in ("message", "error"):
                    codes.append(frame.get("code", "ok"))
            assert codes.count("ok") == 5 and codes.count("rate_limited") == 1

    asyncio.run(scenario())


def test_grants_taken_back_on_one_instance_close_sockets_on_the_other(
    instances: list[str], token_factory: Any, tmp_path: Path, world: Any, broker: str
) -> None:
    from sqlalchemy.orm import sessionmaker

    from shared.broadcast import AmqpBackend, Broadcast, FileBackend
    from shared.db import make_engine, session_scope
    from shared.revocation import CHANNEL
    from social import repository as repo

    one, two = instances
    show_f = 12
    world.add_show(show_f, ALICE, visibility="friends", concert_id=CONCERT)
    world.checked_in.add((CAROL, CONCERT))
    engine = make_engine(f"sqlite:///{tmp_path / 'social.db'}")
    with session_scope(sessionmaker(engine)) as s:
        for uid, name in ((ALICE, "alice"), (CAROL, "carol")):
            repo.apply_user(s, user_id=uid, username=name, email=None, version=1, deleted=False)
        row = repo.add_friend_request(s, ALICE, CAROL)
        repo.accept_if_pending(s, row.id)
        friendship_id = row.id
    engine.dispose()
    alice, carol, dave = token_factory(ALICE, "alice"), token_factory(CAROL, "carol"), token_factory(DAVE, "dave")

    async def close_of(ws: Any, within: float) -> tuple[int, str]:
        with pytest.raises(websockets.ConnectionClosed) as info:
            while True:
                await _recv(ws, within)
        assert info.value.rcvd is not None
        return info.value.rcvd.code, info.value.rcvd.reason

    async def scenario() -> None:
        async with _ws(two, show_f, carol) as wc:
            assert (await _recv(wc))["type"] == "history"
            r = await asyncio.to_thread(httpx.delete, f"{one}/api/friends/{friendship_id}",
                                        headers={"Authorization": f"Bearer {alice}"})
            assert r.status_code == 204
            started = time.monotonic()
            assert await close_of(wc, 5) == (4403, "You no longer have access to this show.")
            print(f"unfriended on one instance, socket on the other closed after "
                  f"{1000 * (time.monotonic() - started):.0f} ms")
        async with _ws(one, SHOW_B, dave) as w1, _ws(two, SHOW_B, dave) as w2:
            await _recv(w1)
            await _recv(w2)
            backend = (AmqpBackend(broker) if broker
                       else FileBackend(tmp_path / "var" / "broadcast"))
            auth = Broadcast(backend, "test-auth")
            auth.start()
            sid = token_sid(dave)
            auth.publish(CHANNEL, {"sid": sid, "user_id": DAVE, "expires_at": time.time() + 600})
            assert auth.flush()
            results = await asyncio.gather(close_of(w1, 5), close_of(w2, 5))
            auth.stop()
            assert results == [(4401, "You were signed out."), (4401, "You were signed out.")]

    asyncio.run(scenario())


def token_sid(token: str) -> str:
    import jwt

    return str(jwt.decode(token, options={"verify_signature": False})["sid"])
