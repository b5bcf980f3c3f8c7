"""The storage sweep on a local folder and on S3 (moto): orphans go after two sightings a grace apart, objects of
an upload whose row has not committed yet stay, stale unfinished uploads are aborted, other keys are never touched."""

from __future__ import annotations

import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from media import repository as repo
from media.config import MediaSettings
from media.models import MediaItem, SweepMark
from media.orphans import _remove, sweep_storage
from media.queueing import Sweeper
from media.storage import LocalStorage, Storage
from media.storage_s3 import S3Storage
from shared.db import make_engine, make_session_factory, run_migrations, session_scope, utcnow


def _prefix(kind: str = "photo", user: int = 1) -> str:
    return f"{kind}/{user}/{uuid.uuid4().hex}"


@pytest.fixture
def settings(tmp_path: Path) -> MediaSettings:
    s = MediaSettings(DATABASE_URL=f"sqlite:///{tmp_path / 'media.db'}", VAR_DIR=str(tmp_path), ENV="testing",
                      orphan_grace_s=60, stale_upload_age_s=100)
    run_migrations("media", s.db_url)
    return s


@pytest.fixture
def factory(settings: MediaSettings):  # type: ignore[no-untyped-def]
    engine = make_engine(settings.db_url)
    yield make_session_factory(engine)
    engine.dispose()


def _commit_row(factory, prefix: str) -> None:  # type: ignore[no-untyped-def]
    """What register_upload does once the upload's object is stored."""
    with session_scope(factory) as s:
        repo.add(s, MediaItem(kind=prefix.split("/")[0], show_id=1, user_id=int(prefix.split("/")[1]),
                              content_type="image/jpeg", format="jpeg", sha256=uuid.uuid4().hex,
                              prefix=prefix, original_key=f"{prefix}/original.jpg"))


def _marks(factory, kind: str = "prefix") -> set[str]:  # type: ignore[no-untyped-def]
    with factory() as s:
        return {k.split(":", 1)[1] for k in s.scalars(select(SweepMark.key)) if k.startswith(f"{kind}:")}


def _put(storage: Storage, key: str) -> None:
    storage.put_stream(key, iter([b"bytes of " + key.encode()]), "image/jpeg")


def _age(storage: LocalStorage, key: str, seconds: float) -> None:
    path = storage.root / key
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_local_sweep_removes_orphans_keeps_uploads_in_flight_and_stale_partials(
    settings: MediaSettings, factory, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    storage = LocalStorage(tmp_path / "objects")
    kept, orphan, in_flight = _prefix(), _prefix("video", 2), _prefix("audio", 3)
    for key in (f"{kept}/original.jpg", f"{kept}/thumb_320.webp", f"{orphan}/original.mp4",
                f"{orphan}/rendition_720p.mp4", f"{in_flight}/original.wav", "exports/report.csv"):
        _put(storage, key)
    for key in (f"{kept}/original.jpg", f"{kept}/thumb_320.webp", f"{orphan}/original.mp4",
                f"{orphan}/rendition_720p.mp4", "exports/report.csv"):
        _age(storage, key, 7200)
    _commit_row(factory, kept)
    # a writer that died two days ago, and one writing right now
    dead = storage.root / _prefix() / ".upload-dead"
    live = storage.root / _prefix() / ".upload-live"
    for f in (dead, live):
        f.parent.mkdir(parents=True)
        f.write_bytes(b"partial")
    os.utime(dead, (time.time() - 2 * 86400,) * 2)
    before = REGISTRY.get_sample_value("media_orphan_objects_removed_total") or 0.0

    t0 = utcnow()
    first = sweep_storage(factory, storage, settings, now=t0)
    assert (first.prefixes, first.marked, first.removed_prefixes, first.aborted_uploads) == (3, 2, 0, 0)
    assert _marks(factory) == {orphan}  # seen once: not removed yet; the fresh upload is not even a candidate
    assert _marks(factory, "upload") == {str(dead.relative_to(storage.root))}

    # a grace later: the orphan goes; the upload's object is old enough to be marked, its row has not committed
    second = sweep_storage(factory, storage, settings, now=t0 + timedelta(seconds=61))
    assert (second.removed_prefixes, second.removed_objects, second.marked, second.aborted_uploads) == (1, 2, 1, 0)
    assert storage.list(orphan) == [] and _marks(factory) == {in_flight}
    assert REGISTRY.get_sample_value("media_orphan_objects_removed_total") == before + 2

    _commit_row(factory, in_flight)  # the upload's row commits: its objects are never swept
    third = sweep_storage(factory, storage, settings, now=t0 + timedelta(seconds=200))
    assert third.removed_prefixes == 0 and _marks(factory) == set()
    assert storage.list(in_flight) == [f"{in_flight}/original.wav"]
    assert sorted(storage.list(kept)) == [f"{kept}/original.jpg", f"{kept}/thumb_320.webp"]
    assert storage.list("exports") == ["exports/report.csv"]  # not a media item's prefix: never touched
    # the dead writer's file goes (seen stale twice, 200 s apart); the live one is only marked now
    assert third.aborted_uploads == 1 and not dead.exists() and not dead.parent.exists() and live.exists()
    assert _marks(factory, "upload") == {str(live.relative_to(storage.root))}


def test_the_database_is_asked_again_right_before_a_delete(settings: MediaSettings, factory,  # type: ignore[no-untyped-def]
                                                          tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "objects")
    prefix = _prefix()
    _put(storage, f"{prefix}/original.jpg")
    with session_scope(factory) as s:
        repo.add_sweep_mark(s, f"prefix:{prefix}", utcnow() - timedelta(hours=1))
    _commit_row(factory, prefix)  # committed after the batch was checked
    assert _remove(factory, storage, prefix) is None
    assert storage.list(prefix) == [f"{prefix}/original.jpg"] and _marks(factory) == set()


def test_sweeper_runs_the_storage_sweep_on_its_own_interval(settings: MediaSettings, factory,  # type: ignore[no-untyped-def]
                                                            tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "objects")
    prefix = _prefix()
    _put(storage, f"{prefix}/original.jpg")
    _age(storage, f"{prefix}/original.jpg", 7200)
    sweeper = Sweeper(factory, lambda session, kind, media_id: None,
                      settings.model_copy(update={"orphan_sweep_interval_s": 3600.0}), storage)
    sweeper.sweep_storage_if_due()
    assert _marks(factory) == {prefix}
    with session_scope(factory) as s:
        repo.forget_sweep_marks(s, [f"prefix:{prefix}"])
    sweeper.sweep_storage_if_due()  # not due again for an hour
    assert _marks(factory) == set()


@pytest.fixture
def s3(s3_server) -> S3Storage:  # type: ignore[no-untyped-def]
    settings = MediaSettings(ENV="testing", storage="s3", **{
        "S3_ENDPOINT_URL": s3_server.endpoint, "S3_BUCKET": f"media-sweep-{uuid.uuid4().hex[:8]}",
        "S3_ACCESS_KEY_ID": s3_server.access_key, "S3_SECRET_ACCESS_KEY": s3_server.secret_key,
        "S3_REGION": s3_server.region})
    return S3Storage(settings)


def test_s3_sweep_removes_orphans_and_aborts_stale_multipart_uploads(settings: MediaSettings, factory,  # type: ignore[no-untyped-def]
                                                                     s3: S3Storage) -> None:
    kept, orphan = _prefix(), _prefix("video", 4)
    _put(s3, f"{kept}/original.jpg")
    _put(s3, f"{orphan}/original.mp4")
    _put(s3, "exports/report.csv")
    _commit_row(factory, kept)
    stale = s3.client.create_multipart_upload(Bucket=s3.bucket, Key=f"{_prefix('video', 5)}/original.mp4")
    s3.client.upload_part(Bucket=s3.bucket, Key=stale["Key"], UploadId=stale["UploadId"], PartNumber=1,
                          Body=b"x" * (5 * 1024 * 1024))
    quick = settings.model_copy(update={"stale_upload_age_s": 1.5})
    t0 = utcnow()
    first = sweep_storage(factory, s3, quick, now=t0)  # objects are new: nothing is an orphan candidate yet
    assert (first.marked, first.aborted_uploads) == (1, 0)  # the upload is marked (moto dates it 2010)
    fresh = s3.client.create_multipart_upload(Bucket=s3.bucket, Key=f"{_prefix('video', 6)}/original.mp4")
    second = sweep_storage(factory, s3, quick, now=t0 + timedelta(seconds=2))
    assert (second.marked, second.aborted_uploads) == (1, 1)
    uploads = {u["UploadId"] for u in s3.client.list_multipart_uploads(Bucket=s3.bucket).get("Uploads", [])}
    assert uploads == {fresh["UploadId"]}  # the one started since stays: seen once only

    later = t0 + timedelta(seconds=61)
    assert sweep_storage(factory, s3, settings, now=later).marked == 1
    report = sweep_storage(factory, s3, settings, now=later + timedelta(seconds=61))
    assert (report.removed_prefixes, report.removed_objects) == (1, 1)
    assert s3.list(orphan) == [] and s3.list(kept) == [f"{kept}/original.jpg"]
    assert s3.list("exports") == ["exports/report.csv"]


def test_lifecycle_rule_aborts_incomplete_uploads_and_keeps_other_rules(s3: S3Storage) -> None:
    other = {"ID": "expire-exports", "Status": "Enabled", "Filter": {"Prefix": "exports/"}, "Expiration": {"Days": 30}}
    s3.client.put_bucket_lifecycle_configuration(Bucket=s3.bucket, LifecycleConfiguration={"Rules": [other]})
    assert s3.ensure_abort_incomplete_rule(2) and s3.ensure_abort_incomplete_rule(1)  # idempotent, updated
    rules = {r["ID"]: r for r in s3.client.get_bucket_lifecycle_configuration(Bucket=s3.bucket)["Rules"]}
    assert set(rules) == {"expire-exports", "sharemyshows-abort-incomplete-uploads"}
    ours = rules["sharemyshows-abort-incomplete-uploads"]
    assert ours["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rules["expire-exports"]["Expiration"] == {"Days": 30}
