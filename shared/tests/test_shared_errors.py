"""Every error renders as {"error", "code", "details"}; no stack traces."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field

from shared.errors import NotFound, RateLimited, install_exception_handlers


class Body(BaseModel):
    name: str = Field(min_length=1, max_length=5)


def _app() -> FastAPI:
    app = FastAPI()
    install_exception_handlers(app)

    @app.get("/missing")
    def missing() -> None:
        raise NotFound("No such show.", code="show_not_found")

    @app.get("/limited")
    def limited() -> None:
        raise RateLimited(12)

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals")

    @app.post("/items")
    def items(body: Body) -> dict[str, str]:
        return {"name": body.name}

    return app


def test_service_error_body() -> None:
    r = TestClient(_app()).get("/missing")
    assert r.status_code == 404
    assert r.json() == {"error": "No such show.", "code": "show_not_found"}


def test_rate_limited_has_retry_after() -> None:
    r = TestClient(_app()).get("/limited")
    assert r.status_code == 429 and r.headers["retry-after"] == "12" and r.json()["code"] == "rate_limited"


def test_unhandled_error_hides_internals() -> None:
    r = TestClient(_app(), raise_server_exceptions=False).get("/boom")
    assert r.status_code == 500
    assert "secret" not in r.text and r.json()["code"] == "internal_error"


def test_validation_has_field_details() -> None:
    r = TestClient(_app()).post("/items", json={"name": "toolongname"})
    assert r.status_code == 422
    body = r.json()
    assert body["code"] == "validation_error" and body["details"][0]["field"] == "name"


def test_malformed_json_is_400() -> None:
    r = TestClient(_app()).post("/items", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["code"] == "malformed_json"


def test_unknown_route_uses_contract_body() -> None:
    r = TestClient(_app()).get("/nope")
    assert r.status_code == 404 and r.json() == {"error": "Not found.", "code": "not_found"}


def test_database_refusing_a_value_is_422(pg_url_factory) -> None:
    from sqlalchemy import text

    from shared.db import make_engine

    engine = make_engine(pg_url_factory("errors"))
    app = FastAPI()
    install_exception_handlers(app)

    @app.get("/echo")
    def echo(q: str) -> dict[str, str]:
        with engine.connect() as conn:
            return {"q": conn.execute(text("SELECT CAST(:q AS text)"), {"q": q}).scalar_one()}

    client = TestClient(app)
    assert client.get("/echo", params={"q": "ok"}).json() == {"q": "ok"}
    r = client.get("/echo", params={"q": "a\x00b"})
    assert r.status_code == 422 and r.json()["code"] == "invalid_value"
