"""The errors every operation of a service can return, documented once for the whole OpenAPI document.

Routes document what is specific to them (404 of an unknown id, 409 of a duplicate, 403 ...). What comes
from the shared machinery is added here to every operation it applies to:
- 400 `malformed_json` for a JSON request body that does not parse (shared.errors),
- 413 `payload_too_large` for any request body (shared.limits.BodyLimitMiddleware),
- 422 `validation_error` for operations with parameters or a body, in the contract's error shape
  (FastAPI documents its own `HTTPValidationError` shape there, which is not what is sent).
The gateway adds what it answers itself (401, 429, 502/503/504) when it merges the services' documents.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from shared.errors import ErrorBody

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
ERROR_REF = "#/components/schemas/ErrorBody"
FASTAPI_422 = "#/components/schemas/HTTPValidationError"


def error_response(description: str, ref: str = ERROR_REF, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    """An OpenAPI response object with the contract's error body."""
    out: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": {"$ref": ref}}}}
    if headers:
        out["headers"] = headers
    return out


def _ensure_error_schema(schema: dict[str, Any]) -> None:
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    if "ErrorBody" in schemas:
        return
    generated = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in generated.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas["ErrorBody"] = generated


def _references(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_references(v, ref) for v in node.values())
    if isinstance(node, list):
        return any(_references(v, ref) for v in node)
    return False


def add_common_responses(schema: dict[str, Any]) -> dict[str, Any]:
    """Add 400 (JSON bodies), 413 (bodies) and the contract's 422 to every operation of `schema`."""
    _ensure_error_schema(schema)
    for item in (schema.get("paths") or {}).values():
        for method in METHODS:
            op = item.get(method) if isinstance(item, dict) else None
            if not isinstance(op, dict):
                continue
            responses = op.setdefault("responses", {})
            content = ((op.get("requestBody") or {}).get("content")) or {}
            if "application/json" in content:
                responses.setdefault("400", error_response("The request body is not valid JSON (`malformed_json`)."))
            if content:
                responses.setdefault("413", error_response(
                    "The request body is larger than this endpoint accepts (`payload_too_large`)."))
            if content or op.get("parameters"):
                current = responses.get("422")
                if current is None or _references(current, FASTAPI_422):
                    responses["422"] = error_response(
                        "A field or parameter is invalid (`validation_error`); `details` names each one.")
    schemas = schema.get("components", {}).get("schemas", {})
    if "HTTPValidationError" in schemas and not _references(schema.get("paths"), FASTAPI_422):
        schemas.pop("HTTPValidationError", None)
        if not _references(schemas, "#/components/schemas/ValidationError"):
            schemas.pop("ValidationError", None)
    return schema


def document_common_errors(app: FastAPI) -> None:
    """Make `app.openapi()` return the generated document with the common error responses added."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_common_responses(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
