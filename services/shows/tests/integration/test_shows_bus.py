"""show.deleted goes through the real outbox relay and bus, and a consumer applies it once even if relayed twice."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from shared.events import EventEnvelope, ShowDeletedV1
from shared.messaging import EventConsumer, OutboxRelay, Subscriptions
from shows.db import OutboxEvent, outbox


def test_show_deleted_relayed_twice_is_applied_once(client: Any, auth: Any, make_show: Any, app: Any) -> None:
    factory = app.state.session_factory
    bus = app.state.bus
    seen: list[int] = []

    stand_in = Subscriptions("media")

    @stand_in.on(ShowDeletedV1)
    def on_deleted(_session: Session, event: ShowDeletedV1, _env: EventEnvelope) -> None:
        seen.append(event.show_id)

    # a stand-in for media: consumes show.deleted from its own queue, inbox rows in this database
    consumer = EventConsumer(bus, stand_in, factory, outbox, topology={"media": ["show.deleted"]})
    consumer.start()
    assert consumer.ready.wait(15)
    try:
        show = make_show(1)
        assert client.delete(f"/api/shows/{show['id']}", headers=auth(1)).status_code == 204
        relay = OutboxRelay(bus, factory, outbox)
        assert relay.relay_once() == 2  # show.created + show.deleted
        # a relay that crashed after publishing but before marking: the same rows go out again
        with factory() as s:
            s.execute(update(OutboxEvent).values(published_at=None))
            s.commit()
        assert OutboxRelay(bus, factory, outbox).relay_once() == 2
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and not seen:
            time.sleep(0.1)
        time.sleep(1.0)  # give the duplicate time to arrive
        assert seen == [show["id"]]
    finally:
        consumer.stop()
