"""The source clients against the recorded answers: documented shapes, rate limits, 404s, malformed pages.

With `--live` (or SMS_LIVE_SOURCES=1) the same client calls go to the real services (setlist.fm needs
SETLISTFM_API_KEY); otherwise they run against the fake source server over a real socket.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.stack import free_port
from shared.testing.fakesources import FakeSources, serve
from shows.catalog.http import RateLimiter, SourceMalformed, SourceNotFound, SourceRefused, SourceUnavailable
from shows.catalog.musicbrainz import parse_artist, parse_event_setlist
from shows.catalog.setlistfm import parse_setlist
from shows.catalog.sources import build_sources
from shows.catalog.text import song_key
from shows.config import ShowsSettings

FIXTURES = Path(__file__).resolve().parents[4] / "tests" / "fixtures"
LIVE = os.environ.get("SMS_LIVE_SOURCES") == "1"


def _fixture(source: str, name: str) -> object:
    return json.loads((FIXTURES / source / f"{name}.json").read_text())


def test_the_published_setlist_example_parses() -> None:
    sl = parse_setlist(_fixture("setlistfm", "setlist-63de4613"))
    assert (sl.id, sl.artist_name, sl.date, sl.venue_name, sl.city, sl.state) == (
        "63de4613", "The Beatles", dt.date(1964, 8, 23), "Compaq Center", "Hollywood", "CA")
    assert [len(s.songs) for s in sl.sets] == [2, 2] and sl.sets[0].songs[0].name == "Yesterday"
    assert sl.sets[0].songs[1].tape is True and sl.latitude is None  # the example's coords are {}


def test_live_shape_of_sets_parses_too() -> None:
    page = _fixture("setlistfm", "attended-lantern-fan-1")
    sl = parse_setlist(page["setlist"][0])  # type: ignore[index]
    assert [s.encore for s in sl.sets] == [0, 1] and sl.song_count == 3


def test_the_published_artist_example_parses() -> None:
    artist = parse_artist(_fixture("musicbrainz", "artist-5b11f4ce-a62d-471e-81fc-a69a8278c7da"))
    assert (artist.name, artist.disambiguation, artist.aliases) == ("Nirvana", "90s US grunge band", ["Nirvana US"])


def test_event_setlist_syntax() -> None:
    songs = parse_event_setlist("@ [0e4f7f0c-0000-4000-8000-000000000000|Act]\n* [5a1e0001-0000-4000-8000-"
                                "000000000001|Song A] (extended)\n# comment\n* Song B\n")
    assert [(s.title, s.act, s.note) for s in songs] == [("Song A", "Act", "(extended)"), ("Song B", "Act", "")]


def test_malformed_shapes_are_refused() -> None:
    with pytest.raises(SourceMalformed):
        parse_setlist({"artist": {"name": "x"}, "venue": {}, "eventDate": "2024-12-05"})
    with pytest.raises(SourceMalformed):
        parse_artist({"name": "no id"})


def test_song_keys_match_across_spellings() -> None:
    assert song_key("Don't Look Back in Anger") == song_key("Don’t look back in anger (Live)")
    assert song_key("Rock & Roll - Remastered 2011") == song_key("rock and roll")


def test_limiter_spaces_calls() -> None:
    clock = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        clock[0] += s

    limiter = RateLimiter(1.0, clock=lambda: clock[0], sleep=sleep)
    for _ in range(3):
        limiter.wait()
    assert slept == [1.0, 1.0]
    limiter.hold_off(5)
    limiter.wait()
    assert slept[-1] == pytest.approx(5.0)


@pytest.fixture(scope="module")
def sources() -> Iterator[object]:
    if LIVE:
        settings = ShowsSettings(ENV="testing", DATABASE_URL="sqlite://")
        s = build_sources(settings, None)
        yield s
        s.close()
        return
    fake = FakeSources(FIXTURES, setlistfm_key="unit-key")
    port = free_port()
    server = serve(fake, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{port}"
    settings = ShowsSettings(ENV="testing", DATABASE_URL="sqlite://", SETLISTFM_API_KEY="unit-key",
                             musicbrainz_url=base, setlistfm_url=base + "/rest", wikidata_url=base,
                             catalog_max_wait_s=3)
    s = build_sources(settings, None)
    s.fake = fake  # type: ignore[attr-defined]
    yield s
    s.close()
    server.shutdown()


def test_musicbrainz_calls_are_one_per_second_with_a_user_agent(sources: object) -> None:
    mb = sources.musicbrainz  # type: ignore[attr-defined]
    started = time.monotonic()
    hits = mb.search_artists("Nirvana" if LIVE else "The Lanterns")
    info = mb.artist("5b11f4ce-a62d-471e-81fc-a69a8278c7da")
    assert hits and info.name == "Nirvana"
    assert time.monotonic() - started >= 0.9  # the second call waited its turn (the fake answers 503 otherwise)
    if not LIVE:
        log = [r for r in sources.fake.requests if r["path"].startswith("/ws/2/")]  # type: ignore[attr-defined]
        assert all(r["user_agent"].startswith("ShareMyShows/") for r in log)
        with pytest.raises(SourceNotFound):
            mb.artist("00000000-0000-4000-8000-000000000000")
        with pytest.raises(SourceMalformed):
            mb.search_artists("malformed")


@pytest.mark.skipif(LIVE and not os.environ.get("SETLISTFM_API_KEY"), reason="live setlist.fm needs SETLISTFM_API_KEY")
def test_setlistfm_setlist_and_rate_limit_answers(sources: object) -> None:
    sf = sources.setlistfm  # type: ignore[attr-defined]
    assert sf.setlist("63de4613").artist_name == "The Beatles"
    if LIVE:
        return
    started = time.monotonic()
    assert sf.setlist("ratelimited1").song_count == 2  # a 429 with Retry-After: 1, waited out, then the answer
    assert time.monotonic() - started >= 1.0
    with pytest.raises(SourceUnavailable) as busy:
        sf.setlist("busy1")  # Retry-After 120 is longer than we wait inside a task: the task retries later
    assert busy.value.retry_after == 120
    with pytest.raises(SourceMalformed):
        sf.setlist("malformed1")
    with pytest.raises(SourceNotFound):
        sf.setlist("unknown404")
    assert sf.search(artist_name="Nobody", date=dt.date(2024, 1, 1)) == []


def test_setlistfm_refuses_a_wrong_key() -> None:
    if LIVE:
        pytest.skip("only against the fake")
    fake = FakeSources(FIXTURES, setlistfm_key="right")
    port = free_port()
    server = serve(fake, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        settings = ShowsSettings(ENV="testing", DATABASE_URL="sqlite://", SETLISTFM_API_KEY="wrong",
                                 setlistfm_url=f"http://127.0.0.1:{port}/rest")
        s = build_sources(settings, None)
        with pytest.raises(SourceRefused):
            s.setlistfm.setlist("63de4613")
        s.close()
    finally:
        server.shutdown()
