"""GET /api/shows: filters, sorting, pagination headers and N+1-free queries."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import event


@pytest.fixture
def catalogue(make_show: Any) -> dict[str, Any]:
    """Five shows of user 1 (and one of user 2 that must never appear)."""
    today = dt.date.today()
    shows = {
        "bjork": make_show(
            1,
            artist_name="Björk",
            venue_name="Royal Albert Hall",
            venue_location="London, UK",
            date="2019-06-01",
            notes="Utopia tour",
        ),
        "am2022": make_show(
            1,
            artist_name="Arctic Monkeys",
            venue_name="Madison Square Garden",
            venue_location="New York, NY",
            date="2022-09-10",
            notes="100% fun_stuff",
        ),
        "am2023": make_show(
            1,
            artist_name="Arctic Monkeys",
            venue_name="The O2",
            venue_location="London, UK",
            date="2023-03-04",
            notes="",
        ),
        "future": make_show(
            1,
            artist_name="Radiohead",
            venue_name="Zénith",
            venue_location="Paris, France",
            date=(today + dt.timedelta(days=30)).isoformat(),
            notes="café",
        ),
        "today": make_show(
            1, artist_name="Radiohead", venue_name="Olympia", venue_location="Paris, France", date=today.isoformat()
        ),
    }
    make_show(2, artist_name="Björk", venue_name="Harpa", venue_location="Reykjavik, Iceland", date="2020-01-01")
    return shows


def _ids(resp: Any) -> list[int]:
    assert resp.status_code == 200, resp.text
    return [s["id"] for s in resp.json()]


def test_default_is_callers_shows_newest_first(client: Any, auth: Any, catalogue: dict[str, Any]) -> None:
    resp = client.get("/api/shows", headers=auth(1))
    c = catalogue
    assert _ids(resp) == [c[k]["id"] for k in ("future", "today", "am2023", "am2022", "bjork")]
    assert resp.headers["X-Total-Count"] == "5"
    assert "Link" not in resp.headers
    assert all(s["user_id"] == 1 for s in resp.json())


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("artist=arctic", ["am2023", "am2022"]),
        ("artist=BJORK", ["bjork"]),
        ("artist=bj%C3%B6rk", ["bjork"]),
        ("venue=zenith", ["future"]),
        ("venue=o2", ["am2023"]),
        ("city=london", ["am2023", "bjork"]),
        ("city=NEW%20york", ["am2022"]),
        ("year=2022", ["am2022"]),
        ("year=1999", []),
        ("date_from=2022-01-01&date_to=2023-12-31", ["am2023", "am2022"]),
        ("filter=past", ["am2023", "am2022", "bjork"]),
        ("filter=upcoming", ["today", "future"]),
        ("filter=upcoming&sort=-date", ["future", "today"]),
        ("filter=all&sort=date", ["bjork", "am2022", "am2023", "today", "future"]),
        ("q=utopia", ["bjork"]),
        ("q=cafe", ["future"]),
        ("q=paris", ["future", "today"]),
        ("q=madison", ["am2022"]),
        ("q=100%25", ["am2022"]),
        ("q=_", ["am2022"]),
        ("artist=%25", []),
        ("artist=radiohead&venue=olympia", ["today"]),
    ],
)
def test_filters(client: Any, auth: Any, catalogue: dict[str, Any], query: str, expected: list[str]) -> None:
    resp = client.get(f"/api/shows?{query}", headers=auth(1))
    assert _ids(resp) == [catalogue[k]["id"] for k in expected]
    assert resp.headers["X-Total-Count"] == str(len(expected))


def test_id_filters(client: Any, auth: Any, catalogue: dict[str, Any]) -> None:
    am = catalogue["am2022"]
    assert _ids(client.get(f"/api/shows?artist_id={am['artist']['id']}&sort=date", headers=auth(1))) == [
        am["id"],
        catalogue["am2023"]["id"],
    ]
    assert _ids(client.get(f"/api/shows?venue_id={am['venue']['id']}", headers=auth(1))) == [am["id"]]
    # the id filter wins over the name filter
    assert _ids(client.get(f"/api/shows?venue_id={am['venue']['id']}&venue=nothing", headers=auth(1))) == [am["id"]]


@pytest.mark.parametrize(
    "query",
    ["offset=-1", "filter=soon", "sort=name", "year=abc", "date_from=2024-02-30", "limit=ten", "user_id=0"],
)
def test_invalid_query_is_422(client: Any, auth: Any, query: str) -> None:
    resp = client.get(f"/api/shows?{query}", headers=auth(1))
    assert resp.status_code == 422
    assert resp.json()["details"]


def test_pagination_links_and_boundaries(client: Any, auth: Any, make_show: Any) -> None:
    for day in range(1, 26):
        make_show(1, date=f"2021-01-{day:02d}")
    first = client.get("/api/shows?limit=10", headers=auth(1))
    assert len(first.json()) == 10 and first.headers["X-Total-Count"] == "25"
    link = first.headers["Link"]
    assert 'rel="next"' in link and 'rel="prev"' not in link
    next_url = link.split(";")[0].strip("<>")
    assert parse_qs(urlparse(next_url).query) == {"limit": ["10"], "offset": ["10"]}
    assert next_url.startswith("/api/shows?")
    second = client.get(next_url, headers=auth(1))
    assert 'rel="prev"' in second.headers["Link"] and 'rel="next"' in second.headers["Link"]
    assert not set(_ids(first)) & set(_ids(second))
    last = client.get("/api/shows?limit=10&offset=20", headers=auth(1))
    assert len(last.json()) == 5 and 'rel="next"' not in last.headers["Link"]
    past_end = client.get("/api/shows?offset=500", headers=auth(1))
    assert past_end.json() == [] and past_end.headers["X-Total-Count"] == "25"
    assert len(client.get("/api/shows", headers=auth(1)).json()) == 20  # default limit
    assert len(client.get("/api/shows?limit=0", headers=auth(1)).json()) == 1  # clamped up
    assert len(client.get("/api/shows?limit=-5", headers=auth(1)).json()) == 1
    huge = client.get("/api/shows?limit=101", headers=auth(1))
    assert len(huge.json()) == 25 and 'rel="next"' not in huge.headers.get("Link", "")


def test_limit_is_clamped_to_100(client: Any, auth: Any, session_factory: Any) -> None:
    from shared.testing.directory import StaticDirectory
    from shows import service
    from shows.schemas import ShowCreate

    with session_factory() as s:
        for i in range(105):
            service.create_show(
                s,
                viewer=service.Viewer(1, "u1"),
                data=ShowCreate(artist_name=f"Band {i}", venue_name="Club", date=dt.date(2020, 1, 1)),
                users=StaticDirectory(),
            )
        s.commit()
    resp = client.get("/api/shows?limit=1000", headers=auth(1))
    assert len(resp.json()) == 100 and resp.headers["X-Total-Count"] == "105"


def test_list_uses_two_queries_whatever_the_page_size(
    client: Any, auth: Any, app: Any, make_show: Any, befriend: Any
) -> None:
    for day in range(1, 16):
        make_show(2, date=f"2021-02-{day:02d}", visibility="public")
    befriend(1, 2)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = app.state.engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        resp = client.get("/api/shows?user_id=2&limit=15", headers=auth(1))
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert len(resp.json()) == 15
    # friendship lookup + one page query + one count query + one query for the bills of the page
    assert len(statements) <= 4, statements
