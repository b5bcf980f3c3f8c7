"""The embedded bus folder over restarts: does `var/bus` stay bounded under chat traffic?

Run: `.venv/bin/python bench/bus_restarts.py [--cycles 10] [--messages 20]`.

One VAR_DIR, `--cycles` start/stop cycles of the system exactly as `make run` runs it (shared.testing.embedded).
Each cycle: a user, a show, `--messages` chat messages (each fanned out to every social instance's own queue),
then a stop — every other cycle social is SIGKILLed first (a crash: no clean-up of its per-instance queue),
the others are a plain Ctrl-C. After each cycle: the files under `var/bus` (all of them, message files, owner
files) and the queues bound to the chat fanout exchange. The social process's presence heartbeat publishes on
the same exchange, so time spent running also adds fanout messages.
Writes bench/results/bus_restarts.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import time
from pathlib import Path
from typing import Any

from _common import prefer_installed_packages, scratch_dir, write_results

prefer_installed_packages()

from shared.testing.client import create_show  # noqa: E402
from shared.testing.embedded import EmbeddedSystem  # noqa: E402
from shared.testing.plugin import register_and_login  # noqa: E402

CHAT_EXCHANGE = "sms.chat"


def bus_files(var_dir: Path) -> dict[str, int]:
    """Files under var/bus: all, message files, owner files."""
    counts = {"files": 0, "msg": 0, "owner": 0}
    for _root, _dirs, files in os.walk(var_dir / "bus"):
        for name in files:
            counts["files"] += 1
            counts["msg"] += name.endswith(".msg")
            counts["owner"] += name.endswith(".owner")
    return counts


def chat_bindings(var_dir: Path) -> int:
    """Queues bound to the chat fanout exchange."""
    table = var_dir / "bus" / f"{CHAT_EXCHANGE}.exchange"
    return len(json.loads(table.read_text())) if table.exists() else 0


def social_pid(output: str) -> int | None:
    """The social process's pid from the launcher's banner."""
    found = re.findall(r"^\s+social\s+\S+\s+pid (\d+)", output, re.M)
    return int(found[-1]) if found else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cycles", type=int, default=10)
    parser.add_argument("--messages", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="3 cycles")
    args = parser.parse_args()
    if args.quick:
        args.cycles = 3
    var_dir = scratch_dir("bus-restarts") / "var"
    rows: list[dict[str, Any]] = []
    for cycle in range(1, args.cycles + 1):
        crash = cycle % 2 == 0
        system = EmbeddedSystem(var_dir)
        with system:
            user = register_and_login(system.url)
            show = create_show(user, date=f"2024-02-{cycle:02d}")
            for n in range(args.messages):
                r = user.client.post(f"/api/chat/show/{show['id']}/messages", json={"message": f"cycle {cycle} #{n}"})
                assert r.status_code == 201, r.text
            time.sleep(1.0)  # the fan-out is asynchronous
            if crash:
                pid = social_pid(system.output())
                if pid:
                    os.kill(pid, signal.SIGKILL)
                    time.sleep(0.5)
        row = {"cycle": cycle, "stop": "social SIGKILL + Ctrl-C" if crash else "Ctrl-C", **bus_files(var_dir),
               "chat_bindings": chat_bindings(var_dir)}
        rows.append(row)
        print(f"cycle {cycle:>2} ({row['stop']:<24}): {row['files']:>5} files in var/bus, {row['msg']:>5} messages, "
              f"{row['owner']} owner files, {row['chat_bindings']} queues bound to {CHAT_EXCHANGE}", flush=True)
    last = rows[-1]
    print(f"after {args.cycles} cycles: {last['files']} files in var/bus ({last['msg']} message files)")
    print(f"results: {write_results('bus_restarts', {'cycles': rows, 'messages_per_cycle': args.messages})}")


if __name__ == "__main__":
    main()
