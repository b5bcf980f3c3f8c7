"""Alembic environment of the social service."""

from shared.migrations import run_env
from social import models  # noqa: F401 - registers the tables
from social.db import Base

run_env(Base.metadata)
