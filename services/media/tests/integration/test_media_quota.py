"""The storage quota holds under concurrency: parallel reservations of one user never pass it together."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from media import service
from media.exceptions import QuotaExceeded
from shared.db import make_engine, make_session_factory, run_migrations

MB = 1024 * 1024


@pytest.fixture(params=["sqlite", "postgresql"])
def factory(request: pytest.FixtureRequest, tmp_path: Path, pg_url_factory: Callable[[str], str]):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'q.db'}"
    else:
        url = pg_url_factory(f"media_quota_{uuid.uuid4().hex[:8]}")
    run_migrations("media", url)
    engine = make_engine(url, pool_size=20, max_overflow=5)
    yield make_session_factory(engine)
    engine.dispose()


def _reserve(factory, user_id: int, n: int, quota: int) -> tuple[int, int]:
    return service.reserve_upload(factory, user_id=user_id, at_least=n, wanted=n, quota=quota, ttl_s=600)


def test_parallel_reservations_never_pass_the_quota(factory) -> None:
    quota, each, tries = 50 * MB, 10 * MB, 16
    granted: list[int] = []
    refused: list[int] = []
    gate = threading.Barrier(tries)

    def attempt(i: int) -> None:
        gate.wait()
        try:
            _reserve(factory, 7, each, quota)
            granted.append(i)
        except QuotaExceeded:
            refused.append(i)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(tries)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(granted) == quota // each and len(refused) == tries - quota // each
    # another user is not affected by user 7's reservations
    assert _reserve(factory, 8, quota, quota)[1] == quota


def test_release_gives_the_room_back_and_growth_is_checked(factory) -> None:
    rid, granted = _reserve(factory, 7, 30 * MB, 50 * MB)
    assert granted == 30 * MB
    with pytest.raises(QuotaExceeded):
        _reserve(factory, 7, 30 * MB, 50 * MB)
    # growing the same reservation counts only once
    rid2, granted = service.reserve_upload(factory, user_id=7, at_least=40 * MB, wanted=80 * MB, quota=50 * MB,
                                           ttl_s=600, reservation_id=rid)
    assert (rid2, granted) == (rid, 50 * MB)
    service.release_upload(factory, rid)
    assert _reserve(factory, 7, 50 * MB, 50 * MB)[1] == 50 * MB


def test_expired_reservations_do_not_count(factory) -> None:
    from datetime import timedelta

    from media.models import UploadReservation
    from shared.db import session_scope, utcnow

    with session_scope(factory) as s:
        s.add(UploadReservation(user_id=7, bytes=50 * MB, created_at=utcnow(), expires_at=utcnow() - timedelta(1)))
    assert _reserve(factory, 7, 50 * MB, 50 * MB)[1] == 50 * MB
