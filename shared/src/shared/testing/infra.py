"""Real servers for tests and benchmarks (no pytest here): PostgreSQL databases, RabbitMQ vhosts, S3."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from shared.stack import die_with_parent, free_port

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
RABBIT_HOST = os.environ.get("TEST_RABBIT_HOST", "127.0.0.1:5672")

HOW_TO_START = {
    "postgres": "PostgreSQL is not reachable on 127.0.0.1:5432. Start it with:\n"
    "  pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start\n"
    "(or set TEST_PG_ADMIN_URL to a server where you may create databases).",
    "rabbitmq": "RabbitMQ is not reachable on 127.0.0.1:5672 (or rabbitmqctl is missing). Start it with:\n"
    "  rabbitmq-server -detached\n"
    "then wait for `rabbitmqctl await_startup`.",
}


class ServerMissing(RuntimeError):
    """A server the tests need is down; the message says how to start it."""


def pg_connect(url: str = PG_ADMIN_URL) -> Any:
    """An autocommit psycopg connection."""
    import psycopg

    return psycopg.connect(url, autocommit=True, connect_timeout=3)


def check_postgres() -> None:
    """Raise ServerMissing with instructions when PostgreSQL is down."""
    try:
        pg_connect().close()
    except Exception as exc:
        raise ServerMissing(f"{HOW_TO_START['postgres']}\n({exc})") from exc


def create_database(name: str) -> str:
    """Create a database and return its URL."""
    with pg_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{name}"


def drop_database(name: str) -> None:
    """Drop a database even if connections are still open."""
    with pg_connect() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    """Run rabbitmqctl (raises ServerMissing if it is not installed)."""
    try:
        return subprocess.run(["rabbitmqctl", *args], capture_output=True, text=True, timeout=120)
    except FileNotFoundError as exc:
        raise ServerMissing(HOW_TO_START["rabbitmq"]) from exc


def create_vhost(name: str) -> str:
    """Create a RabbitMQ vhost for guest and return its AMQP URL."""
    res = rabbitmqctl("add_vhost", name)
    if res.returncode != 0:
        raise ServerMissing(f"{HOW_TO_START['rabbitmq']}\n{res.stderr.strip()}")
    rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
    return f"amqp://guest:guest@{RABBIT_HOST}/{name}"


def delete_vhost(name: str) -> None:
    """Delete a vhost and everything in it."""
    rabbitmqctl("delete_vhost", name)


def start_moto(port: int) -> subprocess.Popen[bytes]:
    """Start moto's S3 server on `port` and wait until it answers."""
    exe = Path(sys.executable).with_name("moto_server")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "moto.server"]
    proc = subprocess.Popen(
        [*cmd, "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,  # a test run killed without its teardown leaves no S3 server behind
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1.0)
            return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("moto S3 server did not start")


@dataclass
class S3Server:
    """A running S3 API server (moto) with one bucket."""

    endpoint: str
    bucket: str
    access_key: str = "testing"
    secret_key: str = "testing"
    region: str = "us-east-1"
    process: subprocess.Popen[bytes] | None = None

    @classmethod
    def launch(cls, bucket: str | None = None) -> S3Server:
        """Start a server on a free port and create the bucket."""
        port = free_port()
        server = cls(endpoint=f"http://127.0.0.1:{port}", bucket=bucket or f"sms-{uuid.uuid4().hex[:8]}")
        server.process = start_moto(port)
        server.client().create_bucket(Bucket=server.bucket)
        return server

    def client(self) -> Any:
        """A boto3 S3 client for this server."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
        )

    def keys(self, prefix: str = "") -> list[str]:
        """Every object key in the bucket (under a prefix)."""
        out: list[str] = []
        paginator = self.client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            out.extend(o["Key"] for o in page.get("Contents", []))
        return out

    def env(self) -> dict[str, str]:
        """The media service's settings for this server."""
        return {
            "MEDIA_STORAGE": "s3",
            "S3_ENDPOINT_URL": self.endpoint,
            "S3_BUCKET": self.bucket,
            "S3_ACCESS_KEY_ID": self.access_key,
            "S3_SECRET_ACCESS_KEY": self.secret_key,
            "S3_REGION": self.region,
        }

    def stop(self) -> None:
        """Stop the server (also used for fault injection)."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def start(self) -> None:
        """(Re)start on the same port; moto keeps state in memory, so the bucket is recreated."""
        port = int(self.endpoint.rsplit(":", 1)[1])
        self.process = start_moto(port)
        self.client().create_bucket(Bucket=self.bucket)


class FullModeEnv:
    """PostgreSQL databases per service, a RabbitMQ vhost and an S3 server: a full-mode environment."""

    def __init__(self, run_id: str | None = None) -> None:
        self.run_id = run_id or uuid.uuid4().hex[:8]
        self.databases: list[str] = []
        self.vhost: str | None = None
        self.s3: S3Server | None = None

    def create(self, services: tuple[str, ...] = ("auth", "shows", "media", "social")) -> dict[str, str]:
        """Create everything and return the environment variables for `shared.stack.Stack`."""
        check_postgres()
        env: dict[str, str] = {}
        for svc in services:
            db = f"sms_{self.run_id}_{svc}"
            env[f"{svc.upper()}_DATABASE_URL"] = create_database(db)
            self.databases.append(db)
        self.vhost = f"sms_{self.run_id}"
        env["BROKER_URL"] = create_vhost(self.vhost)
        self.s3 = S3Server.launch(f"sms-{self.run_id}")
        env.update(self.s3.env())
        return env

    def destroy(self) -> None:
        """Drop the databases, the vhost and stop the S3 server."""
        for db in self.databases:
            try:
                drop_database(db)
            except Exception:  # noqa: S112 - best effort cleanup
                continue
        if self.vhost:
            delete_vhost(self.vhost)
        if self.s3:
            self.s3.stop()
