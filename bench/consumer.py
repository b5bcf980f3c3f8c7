"""An event consumer working off a backlog: one transaction per event against one per batch, in the same run.

Run: `.venv/bin/python bench/consumer.py [--events 1000] [--rounds 2]`.

A backlog of `user.registered` events waits on the embedded bus (kombu's filesystem transport, `shared.fsbus`)
before the consumer starts, as after a restart or a burst; the handler inserts one row on SQLite (WAL), like
the services' copy handlers. Each round runs the same backlog with `batch_max=1` (the floor: every event its
own transaction and inbox commit) and with the default batch (`EventConsumer`'s 16): the process's CPU per
event until the last row is there, and the ratio. Writes bench/results/consumer.json.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from _common import prefer_installed_packages, scratch_dir, write_results

prefer_installed_packages()

from sqlalchemy import Integer, func, select  # noqa: E402
from sqlalchemy.orm import Mapped, Session, mapped_column  # noqa: E402

from shared.db import make_base, make_engine, make_session_factory  # noqa: E402
from shared.events import EventEnvelope, UserRegisteredV1, make_envelope  # noqa: E402
from shared.messaging import EventBus, EventConsumer, Subscriptions  # noqa: E402
from shared.outbox import make_outbox_models  # noqa: E402
from shared.settings import BaseServiceSettings  # noqa: E402


class _Settings(BaseServiceSettings):
    service_name = "bench"


def run(work: Path, batch_max: int, events: int) -> dict[str, Any]:
    """CPU ms per event for a backlog of `events` with this batch size."""
    work.mkdir(parents=True, exist_ok=True)
    Base = make_base()
    outbox = make_outbox_models(Base, "bench")

    class Seen(Base):  # type: ignore[misc,valid-type]
        __tablename__ = "seen"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)
        user_id: Mapped[int] = mapped_column(Integer)

    engine = make_engine(f"sqlite:///{work / 'svc.db'}")
    Base.metadata.create_all(engine)
    factory = make_session_factory(engine, outbox)
    bus = EventBus(_Settings(VAR_DIR=str(work / "var"), BROKER_URL="", BUS_EXCHANGE=f"bench.{work.name}"))
    subs = Subscriptions("bench")

    @subs.on(UserRegisteredV1)
    def on_registered(session: Session, event: UserRegisteredV1, _env: EventEnvelope) -> None:
        session.add(Seen(user_id=event.user_id))

    topology = {"bench": ["user.registered"]}
    consumer = EventConsumer(bus, subs, factory, outbox, topology=topology, batch_max=batch_max)
    with bus.connection() as conn:
        bus.declare_topology(conn, topology)
        bus.publish_envelopes(conn, [make_envelope(UserRegisteredV1(user_id=i, username=f"u{i}"), "bench")
                                     .model_dump(mode="json") for i in range(events)])
    cpu0, wall0 = time.process_time(), time.monotonic()
    consumer.start()
    try:
        while True:
            with factory() as s:
                if s.scalar(select(func.count()).select_from(Seen)) >= events:
                    break
            time.sleep(0.05)
        cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    finally:
        consumer.stop()
        engine.dispose()
    return {"batch_max": batch_max, "events": events, "cpu_ms_per_event": round(1000 * cpu / events, 3),
            "events_per_s": round(events / wall, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = scratch_dir("sms-bench-consumer-")
    rounds = []
    for r in range(args.rounds):
        alone = run(work / f"alone{r}", 1, args.events)
        batched = run(work / f"batched{r}", 16, args.events)
        ratio = round(batched["cpu_ms_per_event"] / alone["cpu_ms_per_event"], 2)
        rounds.append({"alone": alone, "batched": batched, "batched_vs_alone_cpu": ratio})
        print(f"round {r + 1}: one transaction per event {alone['cpu_ms_per_event']} ms CPU/event "
              f"({alone['events_per_s']}/s); batches of up to 16 {batched['cpu_ms_per_event']} ms "
              f"({batched['events_per_s']}/s): {ratio} x", flush=True)
    print(f"results: {write_results('consumer', {'rounds': rounds})}")


if __name__ == "__main__":
    main()
