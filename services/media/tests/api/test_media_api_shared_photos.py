"""social's internal queries for share links: only the show owner's ready photos of that show, and their
thumbnails, never anything else."""

from __future__ import annotations

import io

from PIL import Image

from shared.testing.media import jpeg_bytes


def _photo(env, owner: int, show: int, seed: int, run: bool = True) -> int:
    r = env.upload(owner, "photos", show, f"p{seed}.jpg", jpeg_bytes(1200, 800, seed=seed), "image/jpeg")
    assert r.status_code == 201, r.text
    if run:
        env.run_queued()
    return int(r.json()["id"])


def test_only_the_owners_ready_photos_of_the_show_are_listed_and_served(env) -> None:
    env.shows.add(1, owner=10)
    env.shows.add(2, owner=20)
    a, b = _photo(env, 10, 1, 1), _photo(env, 10, 1, 2)
    other_show = _photo(env, 20, 2, 3)
    pending = _photo(env, 10, 1, 4, run=False)
    h = {"X-Internal-Token": env.settings.internal_token}
    base = "/internal/media/shows/1/owner-photos"
    assert env.client.get(base, params={"user_id": 10, "ids": f"{a}"}).status_code == 401
    got = env.client.get(base, headers=h, params={"user_id": 10, "ids": f"{b},{a},{other_show},{pending},{b},999"})
    assert got.json() == {"photos": [{"id": b, "width": 1200, "height": 800}, {"id": a, "width": 1200, "height": 800}]}
    # someone else's user id for the same show: nothing
    assert env.client.get(base, headers=h, params={"user_id": 20, "ids": f"{a}"}).json() == {"photos": []}
    img = env.client.get(f"{base}/{a}/medium", headers=h, params={"user_id": 10})
    assert img.status_code == 200 and img.headers["content-type"] == "image/webp"
    with Image.open(io.BytesIO(img.content)) as im:
        assert max(im.size) <= 1024 and not im.getexif()
    for path, user in ((f"{base}/{other_show}/medium", 10), (f"{base}/{pending}/medium", 10),
                       (f"{base}/{a}/medium", 20), (f"/internal/media/shows/2/owner-photos/{a}/large", 10)):
        assert env.client.get(path, headers=h, params={"user_id": user}).status_code == 404, path
    assert env.client.get(f"{base}/{a}/original", headers=h, params={"user_id": 10}).status_code == 422
