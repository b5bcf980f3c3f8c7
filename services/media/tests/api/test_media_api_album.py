"""A concert's album and clips on the setlist through the media API (shows' answers faked)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from shared.testing.media import make_video

CONCERT = 7


@dataclass
class FakeConcerts:
    """shows' concert answers over the FakeShows access table: visibility decided by the same fake."""

    env: Any
    setlists: dict[int, dict[str, Any]] = field(default_factory=dict)

    def visible_shows(self, concert_id: int, viewer_id: int, *, setlists: bool = False) -> list[dict[str, Any]]:
        fake = self.env.shows
        out = []
        for show_id, (owner, visibility, _viewers) in sorted(fake.shows.items()):
            if fake.concert_of.get(show_id) != concert_id or not fake.access(show_id, viewer_id).can_view:
                continue
            row = {"show_id": show_id, "owner_id": owner, "username": f"user{owner}", "visibility": visibility}
            if setlists:
                row |= self.setlists.get(show_id, {"start": None, "songs": []})
            out.append(row)
        return out

    def setlist_timing(self, show_id: int) -> dict[str, Any] | None:
        return {"show_id": show_id, "concert_id": CONCERT, **self.setlists[show_id]}


def _song(song_id: int, position: int, title: str, duration_s: int | None) -> dict[str, Any]:
    return {"song_id": song_id, "position": position, "title": title, "key": title.casefold(),
            "duration_s": duration_s}


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


def test_album_and_clips(env: Any, tmp_path: Path) -> None:
    fake = env.shows
    fake.add(1, 10, "public")
    fake.add(2, 20, "private")
    fake.add(3, 30, "public")
    fake.concert_of.update({1: CONCERT, 2: CONCERT, 3: CONCERT + 1})
    concerts = FakeConcerts(env, {
        1: {"start": "2024-06-01T20:00:00", "songs": [_song(101, 1, "Intro", 180), _song(102, 2, "505", 240)]},
        2: {"start": "2024-06-01T20:00:00", "songs": [_song(201, 1, "Intro", None), _song(202, 2, "505", None)]},
        3: {"start": None, "songs": []},
    })
    env.app.state.concerts = concerts
    # 20:04 local is 4:00 after the start: song 505 (3:20-7:20) on show 1's timing
    clip = make_video(tmp_path / "c.mp4", seconds=2, width=320, height=240,
                      metadata={"creation_time": "2024-06-01T20:04:00Z"}).read_bytes()
    photo = env.upload(10, "photos", 1, "p.jpg", _jpeg(), "image/jpeg").json()
    video = env.upload(10, "videos", 1, "c.mp4", clip, "video/mp4").json()
    same = env.upload(20, "videos", 2, "c.mp4", clip, "video/mp4").json()  # the same file, another attendee
    other = env.upload(30, "photos", 3, "q.jpg", _jpeg(), "image/jpeg").json()  # another concert
    env.run_queued()

    def get(user: int, url: str, **params: Any) -> Any:
        r = env.client.get(url, headers=env.auth(user), params=params)
        assert r.status_code == 200, r.text
        return r.json()

    mine = get(10, f"/api/videos/{video['id']}", meta=1)  # suggested by the worker, from the creation time
    assert mine["taken_at"] == "2024-06-01T20:04:00+00:00" and mine["song_ids"] == []
    assert mine["song_suggestions"] == [{"song_id": 102, "score": 1.0, "start_s": 0.0, "end_s": 2.0}]
    assert get(10, f"/api/photos/{photo['id']}", meta=1).get("song_suggestions") is None
    # user 10 cannot see show 2 (private): only show 1's items; user 20 sees both shows, the file once
    album10 = get(10, f"/api/concerts/{CONCERT}/album")
    assert [i["id"] for i in album10["items"]] == [video["id"], photo["id"]] and album10["total"] == 2
    assert album10["items"][0]["user"] == {"id": 10, "username": "user10"}
    assert album10["items"][0]["visibility"] == "public"
    assert album10["items"][0]["song_suggestions"] == [{"song_id": 102, "score": 1.0, "start_s": 0.0, "end_s": 2.0}]
    album20 = get(20, f"/api/concerts/{CONCERT}/album")
    assert sorted(i["id"] for i in album20["items"]) == sorted([video["id"], photo["id"]])
    assert same["id"] not in [i["id"] for i in album20["items"]] and other["id"] != photo["id"]
    assert get(20, f"/api/concerts/{CONCERT}/album", limit=1, offset=1)["items"][0]["id"] == photo["id"]
    assert env.client.get(f"/api/concerts/{CONCERT + 5}/album", headers=env.auth(10)).status_code == 404

    # the suggestion counts for the same song on the other attendee's setlist (matched by title)
    assert get(20, "/api/shows/2/setlist/clips") == {"songs": [{"song_id": 202, "clips": 1}]}
    clips = get(20, "/api/shows/2/setlist/202/clips")
    assert [i["id"] for i in clips["items"]] == [video["id"]] and clips["total"] == 1
    assert clips["items"][0]["clip"] == {"song_id": 102, "source": "suggested", "start_s": 0.0, "end_s": 2.0}
    assert get(20, "/api/shows/2/setlist/201/clips")["total"] == 0
    assert env.client.get("/api/shows/2/setlist/101/clips", headers=env.auth(20)).status_code == 404
    assert env.client.get("/api/shows/2/setlist/clips", headers=env.auth(10)).status_code == 404  # private

    # the uploader corrects it: song ids of the show's setlist only, uploader only
    url = f"/api/videos/{video['id']}"
    bad = env.client.put(url, json={"song_ids": [201]}, headers=env.auth(10))
    assert bad.status_code == 422 and bad.json()["details"][0]["field"] == "song_ids"
    assert env.client.put(url, json={"song_ids": [101]}, headers=env.auth(20)).status_code == 403
    r = env.client.put(url, json={"song_ids": [101]}, headers=env.auth(10))
    assert r.status_code == 200 and r.json()["song_ids"] == [101]
    assert get(20, "/api/shows/2/setlist/202/clips")["total"] == 0
    moved = get(20, "/api/shows/2/setlist/201/clips")["items"]
    assert [i["id"] for i in moved] == [video["id"]] and moved[0]["clip"]["source"] == "confirmed"
    assert r.json()["urls"]["chapters"] is None
    assert env.client.get(f"{url}/hls/chapters.vtt", headers=env.auth(10)).status_code == 404

    # a clip of two songs gets chapters
    both = env.client.put(url, json={"song_ids": [102, 101]}, headers=env.auth(10)).json()
    assert both["urls"]["chapters"] == f"{url}/hls/chapters.vtt"
    vtt = env.client.get(both["urls"]["chapters"], headers=env.auth(20))
    assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
    assert vtt.text.startswith("WEBVTT") and vtt.text.index("Intro") < vtt.text.index("505")
    assert env.client.get(both["urls"]["chapters"], headers=env.auth(30)).status_code == 200  # public show
    fake.shows[1] = (10, "private", set())
    assert env.client.get(both["urls"]["chapters"], headers=env.auth(20)).status_code == 404


def test_openapi_declares_the_album_statuses(env: Any) -> None:
    paths = env.client.get("/openapi.json").json()["paths"]
    assert {"200", "404", "422"} <= set(paths["/api/concerts/{concert_id}/album"]["get"]["responses"])
    assert {"200", "404"} <= set(paths["/api/shows/{show_id}/setlist/{song_id}/clips"]["get"]["responses"])
    assert {"200", "404"} <= set(paths["/api/shows/{show_id}/setlist/clips"]["get"]["responses"])
    assert {"200", "403", "404", "422"} <= set(paths["/api/videos/{media_id}"]["put"]["responses"])
    assert "text/vtt" in paths["/api/videos/{media_id}/hls/chapters.vtt"]["get"]["responses"]["200"]["content"]
