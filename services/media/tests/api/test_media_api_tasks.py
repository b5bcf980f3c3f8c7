"""The worker path as plain functions: idempotency, claims, takeovers, attempt cap, sweep, task registry."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import func, select

from media.models import FAILED, PROCESSING, READY, WORKING, MediaItem, Rendition
from media.pipeline import claim, run_item
from media.queueing import QUEUES, TASKS, sweep_once
from shared.db import utcnow
from shared.testing.media import jpeg_bytes


def _upload(env, seed: int = 0) -> int:
    env.shows.add(1, owner=10)
    r = env.upload(10, "photos", 1, "a.jpg", jpeg_bytes(900, 600, seed=seed), "image/jpeg")
    assert r.status_code == 201, r.text
    env.enqueue.sent.clear()
    return int(r.json()["id"])


def _set(env, media_id: int, **values) -> None:
    with env.app.state.session_factory.begin() as s:
        item = s.get(MediaItem, media_id)
        for k, v in values.items():
            setattr(item, k, v)


def _item(env, media_id: int) -> MediaItem:
    with env.app.state.session_factory() as s:
        return s.get(MediaItem, media_id)


def _run(env, media_id: int, **kw) -> str:
    return run_item(env.app.state.session_factory, env.storage, env.settings, media_id, **kw)


def test_task_idempotent_same_objects_one_set_of_renditions(env) -> None:
    mid = _upload(env)
    assert _run(env, mid) == READY
    keys = env.keys()
    first = {k: env.storage._path(k).read_bytes() for k in keys}
    assert _run(env, mid) == "skipped"  # a redelivered message after success does nothing
    _set(env, mid, status=PROCESSING)  # force a full second run (e.g. duplicate delivery before the first ended)
    assert _run(env, mid) == READY
    assert env.keys() == keys
    assert {k: env.storage._path(k).read_bytes() for k in keys}.keys() == first.keys()
    with env.app.state.session_factory() as s:
        n = s.scalar(select(func.count()).select_from(Rendition).where(Rendition.media_id == mid))
    assert n == 4
    assert env.outbox_types().count("media.ready") == 2


def test_stale_worker_is_taken_over_with_attempt_counter(env) -> None:
    mid = _upload(env)
    _set(env, mid, status=WORKING, attempts=1, heartbeat_at=utcnow() - timedelta(minutes=5))
    assert _run(env, mid) == READY
    assert _item(env, mid).attempts == 2


def test_live_worker_is_not_disturbed(make_env) -> None:
    env = make_env(worker_lease_s=1.0)
    mid = _upload(env)
    _set(env, mid, status=WORKING, attempts=1, heartbeat_at=utcnow() + timedelta(minutes=5))
    assert claim(env.app.state.session_factory, mid, env.settings) is None  # waited out the lease, left it alone
    assert _item(env, mid).attempts == 1
    assert claim(env.app.state.session_factory, mid, env.settings, redelivered=True) is not None


def test_attempt_cap_marks_failed(env) -> None:
    mid = _upload(env)
    _set(env, mid, status=WORKING, attempts=env.settings.max_attempts, heartbeat_at=utcnow() - timedelta(hours=1))
    assert _run(env, mid) == "skipped"
    item = _item(env, mid)
    assert item.status == FAILED and item.error == "processing kept crashing"
    assert env.outbox_types()[-1] == "media.failed"


def test_deleted_while_processing_leaves_no_objects(env, monkeypatch) -> None:
    mid = _upload(env)
    import media.pipeline as pipeline

    real = pipeline.PROCESSORS["photo"]

    def delete_midway(*args, **kw):
        out = real(*args, **kw)
        assert env.client.delete(f"/api/photos/{mid}", headers=env.auth(10)).status_code == 204
        return out

    monkeypatch.setitem(pipeline.PROCESSORS, "photo", delete_midway)
    assert _run(env, mid) == "deleted"
    assert env.keys() == []


def test_transient_error_releases_the_item(env, monkeypatch) -> None:
    mid = _upload(env)
    from media.storage import StorageError

    def boom(*a, **kw):
        raise StorageError("S3 503")

    monkeypatch.setattr(env.storage, "download_to", boom)
    try:
        _run(env, mid)
    except StorageError:
        pass
    else:
        raise AssertionError("a transient error must propagate (Celery retries it)")
    item = _item(env, mid)
    assert item.status == PROCESSING and item.attempts == 1


def test_sweep_requeues_lost_and_abandoned_items(env) -> None:
    lost = _upload(env, seed=1)
    abandoned = _upload(env, seed=2)
    fresh = _upload(env, seed=3)
    done = _upload(env, seed=4)
    _run(env, done)
    _set(env, lost, queued_at=None)  # the publish after commit failed
    _set(env, abandoned, status=WORKING, attempts=1, heartbeat_at=utcnow() - timedelta(minutes=10),
         queued_at=utcnow() - timedelta(minutes=10))
    sent: list[tuple[str, int]] = []
    assert sweep_once(env.app.state.session_factory, lambda _s, k, i: sent.append((k, i)), env.settings) == 2
    assert sorted(sent) == [("photo", lost), ("photo", abandoned)]
    assert fresh not in [i for _, i in sent]
    sent.clear()
    assert sweep_once(env.app.state.session_factory, lambda _s, k, i: sent.append((k, i)), env.settings) == 0


def test_every_task_is_registered_and_routed() -> None:
    from media.tasks import app

    for kind, name in TASKS.items():
        assert name in app.tasks
        task = app.tasks[name]
        assert task.acks_late and task.reject_on_worker_lost
        assert app.conf.task_routes[name]["queue"] == QUEUES[kind]
    assert {q.name for q in app.conf.task_queues} == {"images", "video", "audio"}
    assert app.conf.worker_prefetch_multiplier == 1
    assert app.tasks["media.process_video"].time_limit < 1800
