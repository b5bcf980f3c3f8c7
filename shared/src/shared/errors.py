"""Error hierarchy rendered as the contract's body {"error", "code", "details"} by one handler.

ServiceError
 ├── BadRequest (400)            malformed body
 ├── Unauthorized (401)          no/invalid credentials
 ├── Forbidden (403)             authenticated but not allowed
 ├── NotFound (404)              unknown or not visible to the caller
 ├── Conflict (409)
 ├── PayloadTooLarge (413)
 ├── UnsupportedMediaType (415)
 ├── ValidationFailed (422)      field errors in `details`
 ├── RateLimited (429)           carries Retry-After
 ├── BadGateway (502) / ServiceUnavailable (503) / GatewayTimeout (504)
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger("shared.errors")


class FieldError(BaseModel):
    """One field-level validation problem."""

    field: str
    message: str


class ErrorBody(BaseModel):
    """The error body every endpoint returns."""

    error: str
    code: str
    details: list[FieldError] | None = None


class ServiceError(Exception):
    """Base of every error a service raises on purpose."""

    status_code: int = 500
    default_code: str = "internal_error"
    default_message: str = "Something went wrong on our side."
    # when True, the request's session commits before the error is rendered (see shared.db)
    commit_changes: bool = False

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: list[dict[str, str]] | None = None,
        headers: dict[str, str] | None = None,
        status_code: int | None = None,
    ) -> None:
        self.message = message or self.default_message
        self.code = code or self.default_code
        self.details = details
        self.headers = headers or {}
        if status_code is not None:
            self.status_code = status_code
        super().__init__(self.message)

    def body(self) -> dict[str, Any]:
        """The JSON body of this error."""
        out: dict[str, Any] = {"error": self.message, "code": self.code}
        if self.details:
            out["details"] = self.details
        return out

    @classmethod
    def schema(cls) -> dict[str, Any]:
        """An OpenAPI `responses=` entry for this error."""
        return {"model": ErrorBody, "description": cls.default_message}


class BadRequest(ServiceError):
    status_code = 400
    default_code = "bad_request"
    default_message = "The request could not be understood."


class Unauthorized(ServiceError):
    status_code = 401
    default_code = "not_authenticated"
    default_message = "Sign in to do this."


class Forbidden(ServiceError):
    status_code = 403
    default_code = "forbidden"
    default_message = "You are not allowed to do this."


class NotFound(ServiceError):
    status_code = 404
    default_code = "not_found"
    default_message = "Not found."


class Conflict(ServiceError):
    status_code = 409
    default_code = "conflict"
    default_message = "This conflicts with the current state."


class PayloadTooLarge(ServiceError):
    status_code = 413
    default_code = "payload_too_large"
    default_message = "The upload is too large."


class UnsupportedMediaType(ServiceError):
    status_code = 415
    default_code = "unsupported_media_type"
    default_message = "This type of content is not supported."


class ValidationFailed(ServiceError):
    status_code = 422
    default_code = "validation_error"
    default_message = "Some fields are invalid."

    def __init__(self, message: str | None = None, *, field: str | None = None, **kw: Any) -> None:
        if field is not None and "details" not in kw:
            kw["details"] = [{"field": field, "message": message or self.default_message}]
        super().__init__(message, **kw)


class RateLimited(ServiceError):
    status_code = 429
    default_code = "rate_limited"
    default_message = "Too many requests; slow down and try again shortly."

    def __init__(self, retry_after: int, message: str | None = None, **kw: Any) -> None:
        kw.setdefault("headers", {})["Retry-After"] = str(max(1, int(retry_after)))
        super().__init__(message, **kw)


class BadGateway(ServiceError):
    status_code = 502
    default_code = "bad_gateway"
    default_message = "A service answered badly; try again shortly."


class ServiceUnavailable(ServiceError):
    status_code = 503
    default_code = "service_unavailable"
    default_message = "A service is unavailable; try again shortly."


class GatewayTimeout(ServiceError):
    status_code = 504
    default_code = "gateway_timeout"
    default_message = "A service took too long to answer; try again shortly."


def error_response(exc: ServiceError) -> JSONResponse:
    """Render a ServiceError as the contract's JSON body."""
    return JSONResponse(exc.body(), status_code=exc.status_code, headers=exc.headers)


def _loc_to_field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header", "cookie")]
    return ".".join(parts) or "body"


_HTTP_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


def install_exception_handlers(app: FastAPI) -> None:
    """Make every error of the app render as {"error", "code", "details"}, never a stack trace."""

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return JSONResponse(
                {"error": "The request body is not valid JSON.", "code": "malformed_json"}, status_code=400
            )
        details = [{"field": _loc_to_field(e.get("loc", ())), "message": str(e.get("msg", ""))} for e in errors]
        first = details[0] if details else {"field": "body", "message": "invalid"}
        message = f"{first['field']}: {first['message']}" if details else "Some fields are invalid."
        return JSONResponse(
            {"error": message, "code": "validation_error", "details": details}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404 and message == "Not Found":
            message = "Not found."
        code = _HTTP_CODES.get(exc.status_code, "error")
        if exc.status_code == 400 and message == "There was an error parsing the body":
            # FastAPI's answer to a JSON body that is not UTF-8: the same case as malformed JSON
            message, code = "The request body is not valid JSON.", "malformed_json"
        return JSONResponse(
            {"error": message, "code": code}, status_code=exc.status_code, headers=getattr(exc, "headers", None)
        )

    @app.exception_handler(DataError)
    async def _data_error(request: Request, exc: DataError) -> JSONResponse:
        # The database refused a value (a NUL character in text, a number out of range): the input's fault.
        log.info("database refused a value on %s %s: %s", request.method, request.url.path, exc.orig)
        return JSONResponse(
            {"error": "A value in the request cannot be stored (e.g. a NUL character or a number out of range).",
             "code": "invalid_value"},
            status_code=422,
        )

    @app.exception_handler(Exception)
    async def _unhandled(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"error": "Something went wrong on our side.", "code": "internal_error"}, status_code=500
        )
