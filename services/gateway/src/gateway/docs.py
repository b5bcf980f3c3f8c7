"""One OpenAPI document for the whole public API (merged from every service) and an offline /docs page."""

from __future__ import annotations

import asyncio
import copy
import html
import json
import time
from typing import Any

import aiohttp

from gateway.routes import SELF_AUTHENTICATING, Upstream, is_public, match_route

SECTIONS = (
    "schemas",
    "responses",
    "parameters",
    "examples",
    "requestBodies",
    "headers",
    "securitySchemes",
    "links",
    "callbacks",
)
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

GATEWAY_PATHS: dict[str, Any] = {
    "/health": {
        "get": {
            "tags": ["gateway"],
            "summary": "Health of the gateway and of every service",
            "operationId": "gateway_health",
            "responses": {
                "200": {
                    "description": "The gateway is up; `status` is `degraded` when a service is down.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GatewayHealth"}}},
                }
            },
        }
    }
}
GATEWAY_SCHEMAS: dict[str, Any] = {
    "GatewayError": {
        "title": "GatewayError",
        "description": "An error the gateway answers itself (the contract's error body).",
        "type": "object",
        "required": ["error", "code"],
        "properties": {"error": {"type": "string"}, "code": {"type": "string"}},
    },
    "GatewayHealth": {
        "title": "GatewayHealth",
        "type": "object",
        "required": ["status", "services"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded"]},
            "services": {
                "type": "object",
                "additionalProperties": {"type": "string", "enum": ["ok", "down"]},
            },
        },
    }
}


def _gateway_error(description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/GatewayError"}}},
    }
    if headers:
        out["headers"] = headers
    return out


RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}
# What the gateway itself may answer on every routed operation (besides what the service documents).
UPSTREAM_DOWN = {
    "502": _gateway_error("The service answered badly or dropped the connection (`bad_gateway`)."),
    "503": _gateway_error("The service is unavailable (`service_unavailable`)."),
    "504": _gateway_error("The service took too long to answer (`gateway_timeout`)."),
}
RATE_LIMITED = _gateway_error("Too many requests from this address or user (`rate_limited`).", RETRY_AFTER)
NOT_SIGNED_IN = _gateway_error("Not signed in, or the token is invalid, expired or revoked (`not_authenticated`).")
TOO_LARGE = _gateway_error("The request body is larger than this route accepts (`payload_too_large`).")
BAD_PATH = _gateway_error("The path has dot segments, a backslash or NUL (`bad_path`).")


def add_gateway_responses(path: str, op: dict[str, Any]) -> None:
    """Document the statuses the gateway answers itself for one routed operation."""
    responses = op.setdefault("responses", {})
    # auth documents its own 401s (its public operations have none); public paths need no token
    if match_route(path) not in SELF_AUTHENTICATING and not is_public(path):
        responses.setdefault("401", NOT_SIGNED_IN)
    if any(isinstance(p, dict) and p.get("in") == "path" for p in op.get("parameters") or []):
        responses.setdefault("400", BAD_PATH)
    if op.get("requestBody"):
        responses.setdefault("413", TOO_LARGE)
    responses.setdefault("429", RATE_LIMITED)
    for code, response in UPSTREAM_DOWN.items():
        responses.setdefault(code, response)


def keep_path(path: str, service: str) -> bool:
    """Only public paths under the service's routed prefixes (never /internal)."""
    if path.startswith("/internal") or "/internal/" in path:
        return False
    return match_route(path) == service


def rewrite_refs(obj: Any, renames: dict[str, str]) -> Any:
    """A copy of `obj` with every `$ref` in `renames` replaced."""
    if not renames:
        return obj
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if k == "$ref" and isinstance(v, str) and v in renames:
                out[k] = renames[v]
            else:
                out[k] = rewrite_refs(v, renames)
        return out
    if isinstance(obj, list):
        return [rewrite_refs(v, renames) for v in obj]
    return obj


def merge_specs(specs: dict[str, dict[str, Any]], *, title: str = "ShareMyShows API") -> dict[str, Any]:
    """Merge service specs: routed paths only, components de-duplicated, collisions prefixed by service."""
    defined: dict[tuple[str, str], dict[str, Any]] = {}
    for svc, spec in specs.items():
        for section, items in (spec.get("components") or {}).items():
            if section in SECTIONS and isinstance(items, dict):
                for name, definition in items.items():
                    defined.setdefault((section, name), {})[svc] = definition

    renamed: set[tuple[str, str]] = set()

    def renames_for(svc: str) -> dict[str, str]:
        return {
            f"#/components/{section}/{name}": f"#/components/{section}/{svc}_{name}"
            for (section, name) in renamed
            if svc in defined[(section, name)]
        }

    while True:  # fixed point: a shared name whose definitions differ after rewriting also collides
        maps = {svc: renames_for(svc) for svc in specs}
        changed = False
        for key, by_svc in defined.items():
            if key in renamed or len(by_svc) < 2:
                continue
            variants = {json.dumps(rewrite_refs(d, maps[s]), sort_keys=True) for s, d in by_svc.items()}
            if len(variants) > 1:
                renamed.add(key)
                changed = True
        if not changed:
            break

    components: dict[str, dict[str, Any]] = {}
    for (section, name), by_svc in defined.items():
        target = components.setdefault(section, {})
        if (section, name) in renamed:
            for svc, definition in by_svc.items():
                new = rewrite_refs(definition, maps[svc])
                if section == "schemas" and isinstance(new, dict) and "title" in new:
                    new = {**new, "title": f"{svc}_{name}"}
                target[f"{svc}_{name}"] = new
        else:
            svc, definition = next(iter(by_svc.items()))
            target[name] = rewrite_refs(definition, maps[svc])
    components.setdefault("schemas", {}).update(copy.deepcopy(GATEWAY_SCHEMAS))

    paths: dict[str, Any] = copy.deepcopy(GATEWAY_PATHS)
    tags: dict[str, dict[str, Any]] = {"gateway": {"name": "gateway", "description": "The gateway itself"}}
    op_ids: set[str] = {"gateway_health"}
    for svc, spec in specs.items():
        for tag in spec.get("tags") or []:
            if isinstance(tag, dict) and "name" in tag:
                tags.setdefault(tag["name"], tag)
        for path, item in (spec.get("paths") or {}).items():
            if not keep_path(path, svc) or not isinstance(item, dict):
                continue
            item = rewrite_refs(item, maps[svc])
            for method in METHODS:
                op = item.get(method)
                if isinstance(op, dict):
                    op.setdefault("tags", [svc])
                    add_gateway_responses(path, op)
                    op_id = op.get("operationId")
                    if op_id:
                        if op_id in op_ids:
                            op["operationId"] = op_id = f"{svc}_{op_id}"
                        op_ids.add(op_id)
            paths[path] = item
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": "1.0",
            "description": "The public API of every ShareMyShows service, as served through the gateway.",
        },
        "servers": [{"url": "/"}],
        "paths": dict(sorted(paths.items())),
        "components": components,
        "tags": list(tags.values()),
        "x-services": sorted(specs),
    }


def _e(value: Any) -> str:
    """HTML-escape anything."""
    return html.escape(str(value), quote=True)


def _schema_name(schema: Any) -> str:
    """A short human name for a schema (its $ref target or its type)."""
    if not isinstance(schema, dict):
        return ""
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        return f"array of {_schema_name(schema.get('items'))}"
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return " | ".join(_schema_name(s) for s in schema[key])
    return str(schema.get("type", "object"))


def render_docs(spec: dict[str, Any]) -> bytes:
    """A self-contained HTML page listing every operation (no CDN, no script needed)."""
    groups: dict[str, list[str]] = {}
    for path, item in spec.get("paths", {}).items():
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            tag = (op.get("tags") or ["other"])[0]
            params = "".join(
                f"<tr><td><code>{_e(p.get('name'))}</code></td><td>{_e(p.get('in'))}</td>"
                f"<td>{'required' if p.get('required') else ''}</td>"
                f"<td>{_e(_schema_name(p.get('schema')))}</td><td>{_e(p.get('description', ''))}</td></tr>"
                for p in (op.get("parameters") or [])
                if isinstance(p, dict)
            )
            body = ""
            content = ((op.get("requestBody") or {}).get("content")) or {}
            if content:
                body = "<p><b>Body</b>: " + ", ".join(
                    f"<code>{_e(ct)}</code> {_e(_schema_name(c.get('schema')))}" for ct, c in content.items()
                ) + "</p>"
            responses = "".join(
                f"<li><code>{_e(code)}</code> {_e(r.get('description', ''))}</li>"
                for code, r in (op.get("responses") or {}).items()
                if isinstance(r, dict)
            )
            groups.setdefault(tag, []).append(
                f'<details class="op"><summary><span class="m {method}">{method.upper()}</span> '
                f"<code>{_e(path)}</code> <span class=s>{_e(op.get('summary', ''))}</span></summary>"
                f"<div class=b><p>{_e(op.get('description', ''))}</p>"
                + (f"<table><tr><th>name</th><th>in</th><th></th><th>type</th><th></th></tr>{params}</table>"
                   if params else "")
                + body
                + f"<ul>{responses}</ul></div></details>"
            )
    sections = "".join(
        f"<h2>{_e(tag)}</h2>{''.join(ops)}" for tag, ops in sorted(groups.items(), key=lambda kv: kv[0])
    )
    schemas = "".join(
        f"<details><summary><code id='schema-{_e(name)}'>{_e(name)}</code></summary>"
        f"<pre>{_e(json.dumps(schema, indent=2))}</pre></details>"
        for name, schema in sorted((spec.get("components") or {}).get("schemas", {}).items())
    )
    missing = spec.get("x-unavailable-services") or []
    warning = (
        f"<p class=warn>Not included (service unavailable): {_e(', '.join(missing))}</p>" if missing else ""
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(spec['info']['title'])} docs</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;color:#222}}
.op{{border:1px solid #ddd;border-radius:4px;margin:.3rem 0}} .op summary{{padding:.4rem;cursor:pointer}}
.b{{padding:0 .8rem .5rem}} .s{{color:#555}} .warn{{color:#a40}}
.m{{display:inline-block;min-width:4.5rem;text-align:center;color:#fff;border-radius:3px;font-weight:bold}}
.get{{background:#2a7}} .post{{background:#27c}} .put{{background:#c80}} .patch{{background:#a6c}}
.delete{{background:#c33}} .head,.options,.trace{{background:#777}}
table{{border-collapse:collapse}} td,th{{border:1px solid #eee;padding:.2rem .5rem;text-align:left}}
pre{{background:#f6f6f6;padding:.5rem;overflow:auto}}
</style></head><body>
<h1>{_e(spec['info']['title'])} <small>{_e(spec['info']['version'])}</small></h1>
<p>{_e(spec['info'].get('description', ''))} Machine-readable: <a href="/openapi.json">/openapi.json</a>.
Authenticate with the <code>access_token_cookie</code> cookie or <code>Authorization: Bearer &lt;token&gt;</code>.</p>
{warning}{sections}<h2>Schemas</h2>{schemas}
</body></html>"""
    return page.encode()


class DocsCache:
    """Fetches and merges the services' OpenAPI documents, cached for a while."""

    def __init__(
        self,
        sessions: dict[str, aiohttp.ClientSession],
        upstreams: dict[str, Upstream],
        ttl_s: float = 30.0,
        timeout_s: float = 2.0,
    ) -> None:
        """Keep where to fetch from and the cache lifetime."""
        self.sessions = sessions
        self.upstreams = upstreams
        self.ttl_s = ttl_s
        self.timeout_s = timeout_s
        self._spec: dict[str, Any] | None = None
        self._last: dict[str, dict[str, Any]] = {}  # each service's last good document
        self._html: bytes | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def _fetch_one(self, name: str) -> dict[str, Any] | None:
        """A service's /openapi.json from its first instance that answers."""
        session = self.sessions[name]
        for inst in self.upstreams[name].instances:
            try:
                async with session.get(
                    f"{inst.base}/openapi.json", timeout=aiohttp.ClientTimeout(total=self.timeout_s)
                ) as resp:
                    if resp.status == 200:
                        data = await resp.json(content_type=None)
                        if isinstance(data, dict):
                            return data
            except (aiohttp.ClientError, TimeoutError, ValueError):
                continue
        return None

    async def spec(self) -> dict[str, Any]:
        """The merged document (refetched when older than the TTL)."""
        if self._spec is not None and time.monotonic() < self._expires:
            return self._spec
        async with self._lock:
            if self._spec is not None and time.monotonic() < self._expires:
                return self._spec
            names = list(self.upstreams)
            fetched = await asyncio.gather(*(self._fetch_one(n) for n in names))
            for name, doc in zip(names, fetched, strict=True):
                if doc is not None:
                    self._last[name] = doc
            # a service that is restarting (or slow to build its first schema) keeps its last good document
            specs = {n: self._last[n] for n in names if n in self._last}
            merged = merge_specs(specs)
            missing = [n for n in names if n not in self._last]
            if missing:
                merged["x-unavailable-services"] = missing
            self._spec = merged
            self._html = None
            # A partial document is kept only briefly so a restarted service shows up soon.
            self._expires = time.monotonic() + (self.ttl_s if not missing else min(self.ttl_s, 3.0))
            return merged

    async def html(self) -> bytes:
        """The /docs page of the current document."""
        spec = await self.spec()
        if self._html is None:
            self._html = render_docs(spec)
        return self._html
