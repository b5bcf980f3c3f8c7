"""List, replay or drop the events a consumer gave up on (its `<queue>.dlq`), on RabbitMQ and on the filesystem bus.

    python -m shared.deadletters list   [--service shows] [--json]
    python -m shared.deadletters replay [--service shows] (--id EVENT_ID ... | --all)
    python -m shared.deadletters drop   --service shows --id EVENT_ID ...

It reads BROKER_URL, VAR_DIR and BUS_EXCHANGE like the services (run it with the same environment). Replaying
puts the message back into that service's own queue only (other subscribers already had it), without the
delivery count, so it gets the full number of attempts again; consumers are idempotent, so replaying an event
that meanwhile got through changes nothing. Messages are taken without acknowledging them and put back unless
replayed or dropped, so an interrupted run loses nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import Any

from kombu import Connection
from kombu.message import Message

from shared.db import utcnow
from shared.messaging import DEATH_HEADERS, TOPOLOGY, EventBus, dead_letter_queue_name, queue_name
from shared.settings import BaseServiceSettings


@dataclass
class DeadLetter:
    """One dead-lettered event, as an operator sees it."""

    service: str
    event_id: str
    type: str
    reason: str
    error: str | None
    died_at: str | None
    deliveries: int | None
    data: Any


def describe(service: str, message: Message) -> DeadLetter:
    """What a dead-lettered message is and why it died (RabbitMQ's x-death, or ours on the filesystem)."""
    headers = message.headers or {}
    deaths = headers.get("x-death") or [{}]
    death = deaths[0] if isinstance(deaths, list) and deaths else {}
    try:
        body = json.loads(message.body)
    except (TypeError, ValueError):
        body = {"raw": str(message.body)[:500]}
    props = message.properties or {}
    count = headers.get("x-delivery-count")
    return DeadLetter(
        service=service,
        event_id=str(body.get("id") or props.get("message_id") or ""),
        type=str(body.get("type") or headers.get("event_type") or "?"),
        reason=str(death.get("reason") or headers.get("x-first-death-reason") or "?"),
        error=headers.get("x-last-error"),
        died_at=str(death["time"]) if death.get("time") is not None else None,
        deliveries=int(count) if count is not None else None,
        data=body.get("data", body),
    )


@contextmanager
def taken(bus: EventBus, conn: Connection, service: str, limit: int) -> Iterator[list[Message]]:
    """Up to `limit` messages of a service's dead-letter queue, unacknowledged; what the block leaves is put back."""
    channel = conn.default_channel
    queue = bus.dead_letter_queue(service)(channel)
    queue.declare()
    messages: list[Message] = []
    try:
        while len(messages) < limit:
            message = queue.get(no_ack=False, accept=["json", "application/json"])
            if message is None:
                break
            messages.append(message)
        yield messages
    finally:
        for message in messages:
            if not message.acknowledged:
                message.requeue()


def replay(bus: EventBus, message: Message, service: str) -> None:
    """Send a dead letter back to its service's queue (fresh delivery count) and remove it from the DLQ."""
    headers = {k: v for k, v in (message.headers or {}).items() if k not in DEATH_HEADERS}
    headers["x-replayed-at"] = utcnow().isoformat()
    bus.send_to_queue(message.channel, queue_name(service), message, headers)
    message.ack()


def _ensure_queue(bus: EventBus, conn: Connection, service: str) -> None:
    # On RabbitMQ the default exchange drops a message for a queue that does not exist: check first.
    if bus.is_amqp:
        conn.default_channel.queue_declare(queue=queue_name(service), passive=True)


def run(command: str, services: Iterable[str], ids: Sequence[str], *, every: bool, limit: int,
        settings: BaseServiceSettings | None = None) -> list[DeadLetter]:
    """Do `command` (list, replay, drop) on the services' dead-letter queues; returns the letters it touched."""
    bus = EventBus(settings or BaseServiceSettings())
    wanted = set(ids)
    touched: list[DeadLetter] = []
    with bus.connection() as conn:
        conn.ensure_connection(max_retries=1)
        for service in services:
            with taken(bus, conn, service, limit) as messages:
                if command != "list":
                    _ensure_queue(bus, conn, service)
                for message in messages:
                    letter = describe(service, message)
                    if command == "list":
                        touched.append(letter)
                    elif every or letter.event_id in wanted:
                        if command == "replay":
                            replay(bus, message, service)
                        else:
                            message.ack()
                        touched.append(letter)
    return touched


def main(argv: Sequence[str] | None = None) -> int:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m shared.deadletters", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("list", "replay", "drop"))
    parser.add_argument("--service", action="append", choices=sorted(TOPOLOGY),
                        help="a consuming service (repeatable; default: all)")
    parser.add_argument("--id", action="append", default=[], help="an event id (repeatable)")
    parser.add_argument("--all", action="store_true", help="replay or drop every dead letter of the services")
    parser.add_argument("--limit", type=int, default=10_000, help="at most this many letters per service")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    args = parser.parse_args(argv)
    if args.command != "list" and not (args.id or args.all):
        parser.error(f"{args.command} needs --id EVENT_ID or --all")
    services = args.service or sorted(TOPOLOGY)
    letters = run(args.command, services, args.id, every=args.all, limit=args.limit)
    for letter in letters:
        if args.json:
            print(json.dumps(asdict(letter), default=str))
        else:
            why = letter.error or letter.reason
            print(f"{letter.service:7} {letter.event_id} {letter.type:20} {letter.died_at or '-':32} {why}")
    verb = {"list": "dead letters", "replay": "replayed", "drop": "dropped"}[args.command]
    print(f"{len(letters)} {verb} ({', '.join(dead_letter_queue_name(s) for s in services)})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
