"""The web app in headless Chromium against the real stack: the flows of issue 8, with screenshots.

Screenshots go to test-artifacts/screenshots/ (git-ignored). Needs web/dist (`make web`) and Debian's
chromium (`apt-get install chromium`); `.ci/run` installs both.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyotp
import pytest
from PIL import Image

from shared.stack import REPO_ROOT, Stack
from shared.testing.media import jpeg_bytes, make_video

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
PASSWORD = "front row at the encore 2024"


@pytest.fixture(scope="module")
def browser(stack: Stack) -> Iterator[object]:
    if not (REPO_ROOT / "web" / "dist" / "index.html").exists():
        pytest.fail("web/dist is missing: build the web app with `make web` (needs Node.js 20)", pytrace=False)
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: `apt-get install -y chromium`", pytrace=False)
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        b = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        yield b
        b.close()


def _page(browser: object, stack: Stack, mobile: bool = False):  # type: ignore[no-untyped-def]
    viewport = {"width": 390, "height": 844} if mobile else {"width": 1280, "height": 900}
    ctx = browser.new_context(base_url=stack.gateway_url, viewport=viewport)  # type: ignore[attr-defined]
    ctx.set_default_timeout(30_000)
    page = ctx.new_page()
    # what the Content-Security-Policy blocked (Chromium reports each refusal on the console)
    page.csp_violations = []
    page.on("console", lambda m: "Content Security Policy" in m.text and page.csp_violations.append(m.text))
    return page


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _next_totp(secret: str, after_step: int | None = None) -> tuple[str, int]:
    """A TOTP code from a time step later than `after_step` (codes are single-use per step)."""
    totp = pyotp.TOTP(secret)
    while True:
        step = int(time.time() // 30)
        if after_step is None or step > after_step:
            return totp.at(step * 30), step
        time.sleep(1)


def _register(page, username: str, mfa: str = "") -> None:  # type: ignore[no-untyped-def]
    page.goto("/register")
    page.get_by_test_id("register-username").fill(username)
    page.get_by_test_id("register-email").fill(f"{username.lower()}@example.test")
    page.get_by_test_id("register-password").fill(PASSWORD)
    page.get_by_test_id("register-confirm").fill(PASSWORD)
    if mfa:
        page.get_by_test_id("register-mfa").select_option(mfa)
    page.get_by_test_id("register-submit").click()


def _login(page, username: str) -> None:  # type: ignore[no-untyped-def]
    page.goto("/login")
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(PASSWORD)
    page.get_by_test_id("login-submit").click()


def _create_show(page, artist: str, venue: str, date: str, visibility: str = "friends") -> int:  # type: ignore[no-untyped-def]
    page.goto("/shows/new")
    page.get_by_test_id("show-artist").fill(artist)
    page.get_by_test_id("show-venue").fill(venue)
    page.get_by_test_id("show-location").fill("Chicago, IL")
    page.get_by_test_id("show-date").fill(date)
    page.get_by_test_id("show-time").fill("20:00")
    page.get_by_test_id("show-visibility").select_option(visibility)
    page.get_by_test_id("show-submit").click()
    page.wait_for_url("**/shows/*")
    detail = page.get_by_test_id("show-detail")
    detail.wait_for()
    return int(detail.get_attribute("data-show-id"))


def test_the_whole_journey_in_two_browsers(browser: object, stack: Stack, tmp_path: Path) -> None:
    pages: list[object] = []
    try:
        _journey(browser, stack, tmp_path, pages)
    except Exception:
        for i, page in enumerate(pages):  # what the browsers showed when it failed
            _shot(page, f"failure-{i}")
        raise


def _journey(browser: object, stack: Stack, tmp_path: Path, pages: list[object]) -> None:
    alice_name = f"alice{uuid.uuid4().hex[:6]}"
    bob_name = f"bob{uuid.uuid4().hex[:6]}"
    a = _page(browser, stack)
    pages.append(a)

    # sign up with TOTP: scan (read) the secret, confirm, keep the recovery codes
    _register(a, alice_name, mfa="totp")
    a.get_by_test_id("totp-setup").wait_for()
    _shot(a, "01-signup-totp")
    secret = a.get_by_test_id("totp-secret").inner_text().replace(" ", "").strip()
    code, used_step = _next_totp(secret)
    a.get_by_test_id("totp-confirm-code").fill(code)
    a.get_by_test_id("totp-confirm-submit").click()
    a.get_by_test_id("recovery-codes").wait_for()
    if a.get_by_test_id("register-continue").count():
        a.get_by_test_id("register-continue").click()

    # log out, log in again with a fresh TOTP code
    a.goto("/settings")
    a.get_by_test_id("settings-logout").click()
    a.wait_for_url("**/login")  # the app goes there once the logout answered (its cookies cleared)
    _login(a, alice_name)
    a.wait_for_url("**/login/mfa*")
    code, _ = _next_totp(secret, used_step)
    a.get_by_test_id("mfa-code").fill(code)
    a.get_by_test_id("mfa-submit").click()
    a.get_by_test_id("current-user").wait_for()
    assert alice_name in a.get_by_test_id("current-user").inner_text()

    # create a show with a setlist and reorder it
    show_id = _create_show(a, "The National", "Salt Shed", "2024-10-05", visibility="friends")
    a.get_by_test_id("tab-setlist").click()
    for title in ("Don't Swallow the Cap", "Bloodbuzz Ohio", "Fake Empire"):
        a.get_by_test_id("song-title").fill(title)
        a.get_by_test_id("song-add").click()
        a.get_by_test_id("setlist-song").filter(has_text=title).wait_for()
    a.get_by_test_id("song-up-3").click()
    a.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=setlist-song-title]')].map(e => e.textContent)[1]"
        " === 'Fake Empire'"
    )
    _shot(a, "02-setlist")

    # upload a photo and watch it become a thumbnail
    photo = tmp_path / "stage.jpg"
    photo.write_bytes(jpeg_bytes(1600, 1200, orientation=6, gps=True))
    a.get_by_test_id("tab-photos").click()
    a.get_by_test_id("upload-photo-input").set_input_files(str(photo))
    if a.get_by_test_id("upload-photo-submit").count():
        a.get_by_test_id("upload-photo-submit").click()
    a.locator("[data-testid=photo-item][data-status=ready]").first.wait_for(timeout=90_000)
    a.wait_for_function(
        "() => { const i = document.querySelector('[data-testid=photo-thumb]'); return i && i.naturalWidth > 0 }",
        timeout=30_000,
    )
    _shot(a, "03-photos")
    _resume_after_reload(a, tmp_path)

    # upload a short video and play it
    clip = make_video(tmp_path / "clip.mp4", seconds=2, width=640, height=360)
    a.get_by_test_id("tab-videos").click()
    a.get_by_test_id("upload-video-input").set_input_files(str(clip))
    if a.get_by_test_id("upload-video-submit").count():
        a.get_by_test_id("upload-video-submit").click()
    a.locator("[data-testid=video-item][data-status=ready]").first.wait_for(timeout=120_000)
    # the tab polls until the HLS ladder is ready, then the player streams it through hls.js (MediaSource)
    a.locator("[data-testid=video-player][data-mode=hlsjs]").wait_for(timeout=120_000)
    video = a.get_by_test_id("video-element").first
    a.wait_for_function(
        "() => { const v = document.querySelector('[data-testid=video-element]'); return v && v.readyState >= 1 }",
        timeout=30_000,
    )
    assert video.evaluate("v => v.currentSrc").startswith("blob:")  # MSE, not the MP4 nor native HLS
    video.evaluate("v => { v.muted = true; return v.play() }")
    a.wait_for_function(
        "() => { const v = document.querySelector('[data-testid=video-element]'); return v && v.currentTime > 0.2 }",
        timeout=30_000,
    )
    _shot(a, "04-video")

    # comment
    a.get_by_test_id("tab-comments").click()
    a.get_by_test_id("comment-input").fill("Best night of the year")
    a.get_by_test_id("comment-submit").click()
    a.get_by_test_id("comment").filter(has_text="Best night of the year").wait_for()

    # Bob signs up in a second browser and asks Alice to be friends; Alice accepts
    b = _page(browser, stack, mobile=True)
    pages.append(b)
    _register(b, bob_name)
    b.locator("[data-testid=register-success], [data-testid=current-user]").first.wait_for()
    if not b.get_by_test_id("current-user").count():
        _login(b, bob_name)
        b.get_by_test_id("current-user").wait_for(state="attached")  # behind the menu on a phone
    b.goto("/friends?tab=find")
    b.get_by_test_id("friend-search-input").fill(alice_name)
    b.get_by_test_id("friend-search-submit").click()
    b.get_by_test_id(f"friend-add-{alice_name}").click()
    b.locator(f"[data-testid=friend-search-result][data-username='{alice_name}']").filter(
        has_text="Request sent"
    ).wait_for()
    a.goto("/friends?tab=requests")
    a.get_by_test_id(f"request-accept-{bob_name}").click()
    a.goto("/friends?tab=friends")
    a.locator(f"[data-testid=friend-item][data-username='{bob_name}']").wait_for()
    _shot(a, "05-friends")

    # Bob now sees Alice's friends-only show (visibility reaches shows by an event: reload until it shows)
    alice_id = a.evaluate("() => fetch('/api/auth/me').then(r => r.json()).then(u => u.id)")
    deadline = time.monotonic() + 30
    while True:
        b.goto(f"/shows?user_id={alice_id}")
        b.get_by_test_id("shows-list").wait_for()
        if b.locator(f"[data-testid=show-card][data-show-id='{show_id}']").count():
            break
        assert time.monotonic() < deadline, "friends-only show never became visible to the friend"
        time.sleep(1)
    _shot(b, "06-friend-sees-show-mobile")

    # Bob logs the same concert; both open the live chat and talk
    _create_show(b, "The National", "Salt Shed", "2024-10-05")
    b.get_by_test_id("tab-live").click()
    a.goto(f"/shows/{show_id}?tab=live")
    a.get_by_test_id("chat-status").filter(has_text="Connected").wait_for()
    b.get_by_test_id("chat-status").filter(has_text="Connected").wait_for()
    a.get_by_test_id("chat-input").fill("Meet at the merch stand?")
    a.get_by_test_id("chat-send").click()
    b.get_by_test_id("chat-message").filter(has_text="Meet at the merch stand?").wait_for()
    b.get_by_test_id("chat-input").fill("On my way!")
    b.get_by_test_id("chat-send").click()
    a.get_by_test_id("chat-message").filter(has_text="On my way!").wait_for()
    _shot(a, "07-chat-alice")
    _shot(b, "08-chat-bob-mobile")

    # Bob signs out everywhere from another tab: the chat he left open says so at once (its session ended)
    tab = b.context.new_page()
    tab.goto("/settings")
    tab.get_by_test_id("session-row").first.wait_for()
    tab.get_by_test_id("sessions-revoke-all").click()
    tab.wait_for_url("**/login*")
    b.get_by_test_id("chat-error").filter(has_text="You were signed out.").wait_for(timeout=15_000)
    _shot(b, "09-chat-signed-out-mobile")
    tab.close()

    # the dashboard counts what happened
    a.goto("/dashboard")
    a.get_by_test_id("stat-shows").filter(has_text="1").wait_for()
    _shot(a, "10-dashboard")

    # settings show the storage used; the email opt-in works
    a.goto("/settings")
    a.get_by_test_id("storage-usage").filter(has_text="3 items").wait_for()  # two photos (one resumed), a video
    a.get_by_test_id("findable-by-email").check()
    a.wait_for_function("() => document.querySelector('[data-testid=findable-by-email]').checked")

    # the whole journey ran under the web app's CSP without a single refusal
    assert a.csp_violations == [] and b.csp_violations == [], a.csp_violations + b.csp_violations
    csp = a.evaluate(
        "() => fetch('/settings', {headers: {Accept: 'text/html'}}).then(r => r.headers.get('content-security-policy'))"
    )
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp


def _resume_after_reload(page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A photo larger than one tus chunk: the connection dies after the first chunk, the page reloads, the
    same file chosen again continues at the server's offset (HEAD, then PATCH from there, no new POST)."""
    big = tmp_path / "wide.png"  # noise does not compress: ~6.5 MB, two chunks
    Image.frombytes("RGB", (1800, 1200), os.urandom(1800 * 1200 * 3)).save(big)
    patches: list[str] = []

    def cut_after_first_chunk(route) -> None:  # type: ignore[no-untyped-def]
        if route.request.method != "PATCH":
            route.continue_()
        elif not patches:
            patches.append(route.request.url)
            route.continue_()
        else:
            route.abort()

    page.route("**/api/uploads/*", cut_after_first_chunk)
    with page.expect_response(lambda r: r.request.method == "PATCH" and r.status == 204):
        page.get_by_test_id("upload-photo-input").set_input_files(str(big))
        page.get_by_test_id("upload-photo-submit").click()
    page.reload()  # with the cut still in place: no later chunk may slip through before the page is gone
    page.unroute("**/api/uploads/*")
    page.get_by_test_id("upload-pending-name").filter(has_text="wide.png").wait_for()
    sent: list[tuple[str, str, str | None]] = []
    page.on("request", lambda r: "/api/uploads" in r.url
            and sent.append((r.method, r.url, r.headers.get("upload-offset"))))
    page.get_by_test_id("upload-photo-input").set_input_files(str(big))
    page.get_by_test_id("upload-photo-submit").click()
    page.locator("[data-testid=upload-item][data-state=done]").wait_for(timeout=60_000)
    assert [m for m, _, _ in sent][:2] == ["HEAD", "PATCH"] and "POST" not in [m for m, _, _ in sent], sent
    # from what the server kept: at least the first chunk (a cut request may have left a little more)
    assert sent[0][1] == patches[0] and 4 * 1024 * 1024 <= int(sent[1][2] or 0) < big.stat().st_size, sent
    page.get_by_test_id("upload-pending").wait_for(state="detached")
    page.locator("[data-testid=photo-item][data-status=ready]").nth(1).wait_for(timeout=90_000)


def test_web_client_matches_the_merged_openapi(stack: Stack) -> None:
    """Every operation the web client calls exists in the gateway's merged OpenAPI (a contract break fails here)."""
    import subprocess

    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js is missing: install Node.js 20 (`apt-get install -y nodejs npm`)", pytrace=False)
    result = subprocess.run(
        [node, str(REPO_ROOT / "web" / "scripts" / "check-openapi.mjs"), stack.gateway_url + "/openapi.json"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_catalogue_pages_in_the_browser(browser: object, stack: Stack) -> None:
    """Issue 14: a festival logged with the lineup editor, a setlist imported with its progress, the artist page,
    the year in review, the venue map (markers, not tiles: tests run offline) and a history import."""
    from shared.testing.plugin import register_and_login

    name = f"carol{uuid.uuid4().hex[:6]}"
    api = register_and_login(stack.gateway_url, name, PASSWORD)
    page = _page(browser, stack)
    try:
        _login(page, name)
        page.get_by_test_id("current-user").wait_for()

        # a festival day with two acts, through the lineup editor
        page.goto("/shows/new")
        page.get_by_test_id("show-artist").fill("Florence Vale")
        page.get_by_test_id("show-venue").fill("Grant Park")
        page.get_by_test_id("show-location").fill("Chicago, IL")
        page.get_by_test_id("show-date").fill("2024-08-02")
        page.get_by_test_id("lineup-add").click()
        page.get_by_test_id("lineup-act-name-1").fill("The Lanterns")
        page.get_by_test_id("show-festival-name").fill("Lollapalooza")
        page.get_by_test_id("show-ticket-price").fill("120")
        page.get_by_test_id("show-currency").fill("USD")
        page.get_by_test_id("show-submit").click()
        page.wait_for_url("**/shows/*")
        page.get_by_test_id("show-detail").wait_for()
        fest_id = int(page.get_by_test_id("show-detail").get_attribute("data-show-id"))
        fest = api.client.get(f"/api/shows/{fest_id}").json()
        assert [a["artist"]["name"] for a in fest["lineup"]] == ["Florence Vale", "The Lanterns"]
        assert fest["festival"]["name"] == "Lollapalooza"

        # a club show whose setlist comes from setlist.fm, with the job's progress on the page
        club = api.client.post("/api/shows", json={"artist_name": "The Lanterns", "venue_name": "The Salt Shed",
                                                   "venue_location": "Chicago, IL", "date": "2024-12-05"}).json()
        page.goto(f"/shows/{club['id']}?tab=setlist")
        page.get_by_test_id("setlist-import").locator("summary").click()
        page.get_by_test_id("setlist-import-start").click()
        page.locator('[data-testid="setlist-import-job"][data-status="succeeded"]').wait_for(timeout=60_000)
        page.locator('[data-testid="setlist-song"]').nth(5).wait_for()
        assert page.get_by_test_id("setlist-song-title").all_inner_texts()[:2] == ["Intro", "Lantern Light"]
        _shot(page, "20-setlist-imported")

        # the artist page: looked up on MusicBrainz from the page, then songs heard and not heard yet
        lanterns = club["artist"]["id"]
        page.goto(f"/artists/{lanterns}")
        page.get_by_test_id("artist-lookup").click()
        page.locator('[data-testid="artist-lookup-job"][data-status="succeeded"]').wait_for(timeout=60_000)
        page.get_by_test_id("artist-not-heard-song").first.wait_for()
        assert page.get_by_test_id("artist-name").inner_text() == "The Lanterns"
        assert page.get_by_test_id("artist-disambiguation").inner_text() == "Chicago indie band"
        assert page.get_by_test_id("artist-show").count() == 2
        assert page.get_by_test_id("artist-not-heard-song").all_inner_texts() == ["Slow River"]
        assert "5 / 5" in page.get_by_test_id("artist-coverage").inner_text()
        _shot(page, "21-artist")

        # the year in review
        page.goto("/years/2024")
        page.get_by_test_id("year-shows").wait_for()
        assert page.get_by_test_id("year-shows").locator(".stat-value").inner_text() == "2"
        assert page.get_by_test_id("year-new-artists").locator(".stat-value").inner_text() == "2"
        assert page.get_by_test_id("year-most-seen").inner_text().startswith("The Lanterns")
        assert "120.00 USD" in page.get_by_test_id("year-spending").inner_text()
        _shot(page, "22-year")

        # the map: one marker (The Salt Shed got its place from setlist.fm; Grant Park has none)
        page.goto("/map")
        page.get_by_test_id("venue-map").wait_for()
        page.locator('[data-testid="map-marker"]').first.wait_for()
        markers = page.locator('[data-testid="map-marker"]')
        assert markers.count() == 1 and markers.first.get_attribute("data-count") == "1"
        assert "1 venues have no known place" in page.get_by_test_id("map-missing").inner_text()
        _shot(page, "23-map")

        # a Concert Archives file through the import page: the Salt Shed show is already there
        page.goto("/import")
        archive = REPO_ROOT / "tests" / "fixtures" / "imports" / "concertarchives.csv"
        page.get_by_test_id("import-file").set_input_files(str(archive))
        page.get_by_test_id("import-submit").click()
        page.locator('[data-testid="import-job"][data-status="succeeded"]').wait_for(timeout=60_000)
        assert page.get_by_test_id("import-created").inner_text() == "2"
        assert page.get_by_test_id("import-matched").inner_text() == "1"
        assert page.get_by_test_id("import-skipped-row").count() == 2
        _shot(page, "24-import")
    except Exception:
        _shot(page, "failure-catalogue")
        raise
    finally:
        api.client.close()


def test_notifications_messages_sharing_and_a_friend_on_the_live_map(browser: object, stack: Stack,
                                                                       make_user: object) -> None:
    """Issue 16 in the browser: the badge and toast of a live notification, a friend's position on the live
    tab's map, a share link opened by an anonymous browser, a direct message on the messages page."""
    import datetime as dt

    alice, bob = make_user(password=PASSWORD), make_user()  # type: ignore[operator]
    req = alice.client.post("/api/friends/request", json={"friend_id": bob.id}).json()
    assert bob.client.post(f"/api/friends/request/{req['id']}/accept").status_code == 200
    today = dt.datetime.now(dt.UTC).date().isoformat()
    body = {"artist_name": f"Map Band {uuid.uuid4().hex[:6]}", "venue_name": "Field", "date": today,
            "visibility": "friends"}
    show = alice.client.post("/api/shows", json=body).json()
    bobs = bob.client.post("/api/shows", json=body).json()
    for user, s in ((alice, show), (bob, bobs)):
        assert user.client.post(f"/api/shows/{s['id']}/checkin").status_code in (200, 201)

    a = _page(browser, stack)
    errors: list[str] = []
    a.on("pageerror", lambda e: errors.append(str(e)))
    try:
        _login(a, alice.username)
        a.wait_for_url("**/dashboard")
        a.goto(f"/shows/{show['id']}?tab=live")
        a.get_by_test_id("friends-panel").wait_for()
        a.wait_for_timeout(1500)  # the notifications socket is open
        assert bob.client.post("/api/comments", json={"show_id": show["id"], "text": "what a night"}).status_code == 201
        a.get_by_test_id("toast").wait_for()
        assert "commented on your show" in a.get_by_test_id("toast").inner_text()
        # the badge counts every unread notification (the acceptance, Bob logging and checking in, the comment)
        unread = alice.client.get("/api/notifications").json()["unread"]
        assert unread >= 1 and a.get_by_test_id("notif-badge").inner_text() == str(unread)
        # Bob shares his position: it appears on Alice's map and list, live over the chat socket
        spot = {"latitude": 41.8781, "longitude": -87.6298, "accuracy_m": 15, "precision": "exact"}
        wait_until = time.monotonic() + 20
        while bob.client.put(f"/api/shows/{bobs['id']}/location", json=spot).status_code != 200:
            assert time.monotonic() < wait_until, "Bob could not share his position"
            time.sleep(0.5)
        a.get_by_test_id("friend-position").wait_for()
        a.get_by_test_id("friend-marker").wait_for()
        _shot(a, "16-live-map-friend")
        # the share button gives a link an anonymous browser can open
        a.get_by_test_id("share-create").click()
        url = a.get_by_test_id("share-url").input_value()
        anon = _page(browser, stack)
        anon.goto(url)
        assert body["artist_name"] in anon.title()
        assert anon.locator('meta[property="og:title"]').get_attribute("content").startswith(body["artist_name"])
        _shot(anon, "16-share-page")
        # a direct message shows in the messages page
        assert bob.client.post(f"/api/messages/{alice.id}", json={"text": "see you by the stage"}).status_code == 201
        a.goto(f"/messages/{bob.id}")
        a.get_by_test_id("dm").first.wait_for()
        assert "see you by the stage" in a.get_by_test_id("thread").inner_text()
        _shot(a, "16-messages")
        assert not errors, errors
    except Exception as exc:
        _shot(a, "failure-16")
        raise AssertionError(f"{exc}; page errors: {errors}; url: {a.url}") from exc
