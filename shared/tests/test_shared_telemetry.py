"""FastAPI's OpenTelemetry bridge: off by default (it cost every request environment lookups), on when configured."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from shared.app import _telemetry


def test_off_unless_opentelemetry_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.startswith("OTEL_")] + ["FASTAPI_OTEL_AUTO_CONFIGURE"]:
        monkeypatch.delenv(name, raising=False)
    assert not FastAPI(telemetry=_telemetry())._native_telemetry.enabled()
    monkeypatch.setenv("OTEL_SERVICE_NAME", "shows")
    assert _telemetry() is None  # FastAPI's own defaults: tracing, metrics and logs as configured
    monkeypatch.delenv("OTEL_SERVICE_NAME")
    monkeypatch.setenv("FASTAPI_OTEL_AUTO_CONFIGURE", "true")
    assert _telemetry() is None
