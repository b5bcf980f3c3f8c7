"""Schema-driven fuzzing of every operation of the gateway's merged OpenAPI, as a signed-in user.

Pass criteria (issues 7 and 13): zero 5xx, zero responses that break their own documented schema, and no
status an operation does not document (400 malformed JSON, 409, 413, 415, 422, 429 and 503 included).
Run with `make test-fuzz` (FUZZ_EXAMPLES, default 50 per operation).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

from shared.stack import Stack
from shared.testing.plugin import TestUser, register_and_login

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))


@pytest.fixture(scope="session")
def fuzz_user(stack: Stack) -> TestUser:
    """One real user whose token every fuzzed request carries."""
    return register_and_login(stack.gateway_url)


@pytest.fixture(scope="session")
def api_schema(stack: Stack) -> Any:
    """The merged OpenAPI of the running gateway (destructive account operations excluded)."""
    schema = schemathesis.openapi.from_url(stack.gateway_url + "/openapi.json")
    schema.config.base_url = stack.gateway_url
    # deleting the fuzz user or logging it out would turn the rest of the run into 401s
    return schema.exclude(path_regex=r"^/api/auth/(me|logout|change-password|mfa/.*)$", method="DELETE").exclude(
        path_regex=r"^/api/auth/(logout|change-password|reset-password|sessions/revoke-all)$"
    )


# tus PATCH bodies (`application/offset+octet-stream`) are raw bytes, like application/octet-stream
schemathesis.serializer.alias("application/offset+octet-stream", "application/octet-stream")

schema = schemathesis.pytest.from_fixture("api_schema")


# One test item runs every operation (as subtests): the per-test timeout must cover the whole run on a busy machine.
@pytest.mark.timeout(1200)
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation(case: Any, fuzz_user: TestUser) -> None:
    case.call_and_validate(
        headers=fuzz_user.headers(),
        checks=[not_a_server_error, response_schema_conformance, status_code_conformance],
        timeout=30,
    )
