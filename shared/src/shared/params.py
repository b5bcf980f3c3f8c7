"""Bounds for ids and paging parameters, so absurd numbers are a 422 and never a database overflow."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

MAX_ID = 2_147_483_647  # PostgreSQL integer: larger ids cannot exist
MAX_OFFSET = 1_000_000  # deeper pages are not a use case; bounded so the database never sees overflows

Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip")]
