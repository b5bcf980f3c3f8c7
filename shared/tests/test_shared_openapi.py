"""The common error responses are documented once for every operation of a service."""

from __future__ import annotations

from typing import Annotated

from fastapi import FastAPI, Query
from pydantic import BaseModel

from shared.errors import ErrorBody
from shared.openapi import document_common_errors


class Note(BaseModel):
    text: str


def test_every_operation_gets_the_errors_that_apply_to_it() -> None:
    app = FastAPI()

    @app.post("/notes", responses={409: {"model": ErrorBody, "description": "duplicate"}})
    def create(note: Note) -> dict[str, str]:
        return {}

    @app.get("/notes")
    def search(q: Annotated[str, Query()]) -> dict[str, str]:
        return {}

    @app.get("/ping")
    def ping() -> dict[str, str]:
        return {}

    document_common_errors(app)
    paths = app.openapi()["paths"]
    post = paths["/notes"]["post"]["responses"]
    assert {"400", "409", "413", "422"} <= set(post)
    assert post["409"]["description"] == "duplicate"
    assert post["422"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ErrorBody"}
    get = paths["/notes"]["get"]["responses"]
    assert "422" in get and "400" not in get and "413" not in get
    assert set(paths["/ping"]["get"]["responses"]) == {"200"}
    schemas = app.openapi()["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ErrorBody" in schemas and "FieldError" in schemas
    assert app.openapi() is app.openapi()  # built once
