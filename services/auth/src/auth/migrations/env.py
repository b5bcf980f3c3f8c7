"""Alembic environment of the auth service."""

from auth import models  # noqa: F401  (registers the tables)
from auth.db import Base
from shared.migrations import run_env

run_env(Base.metadata)
