#!/usr/bin/env node
// Check that every operation the web client calls (src/api/operations.ts) exists in the gateway's
// merged OpenAPI. Usage:
//   node scripts/check-openapi.mjs http://127.0.0.1:5000/openapi.json
//   node scripts/check-openapi.mjs path/to/openapi.json
//   OPENAPI_URL=... npm run check-openapi
// Exit 0 when every HTTP operation is found, 1 when some are missing, 2 on usage/fetch errors.
// WebSocket operations (ws: true) are not in OpenAPI: reported as skipped, never a failure.

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const OPERATIONS_FILE = resolve(here, '../src/api/operations.ts');

/** Parse the one-entry-per-line operations table of operations.ts. */
export function parseOperations(source) {
  const ops = [];
  const re = /^\s*(\w+):\s*\{\s*method:\s*'([A-Z]+)',\s*path:\s*'([^']+)'([^}]*)\}/gm;
  let m;
  while ((m = re.exec(source)) !== null) {
    ops.push({ id: m[1], method: m[2], path: m[3], ws: /ws:\s*true/.test(m[4]) });
  }
  return ops;
}

/** "/api/shows/{show_id}/" -> "/api/shows/{}" so parameter names do not matter. */
export function normalisePath(p) {
  const noQuery = p.split('?')[0];
  const trimmed = noQuery.length > 1 ? noQuery.replace(/\/+$/, '') : noQuery;
  return trimmed.replace(/\{[^}]*\}/g, '{}');
}

/** Return {missing, found, skipped} for the operations against an OpenAPI document. */
export function checkSpec(spec, ops) {
  if (!spec || typeof spec !== 'object' || !spec.paths || typeof spec.paths !== 'object') {
    throw new Error('not an OpenAPI document: no "paths" object');
  }
  const index = new Map();
  for (const [path, item] of Object.entries(spec.paths)) {
    const key = normalisePath(path);
    const methods = index.get(key) ?? new Set();
    for (const k of Object.keys(item ?? {})) methods.add(k.toUpperCase());
    index.set(key, methods);
  }
  const missing = [];
  const found = [];
  const skipped = [];
  for (const op of ops) {
    if (op.ws) {
      skipped.push(op);
      continue;
    }
    const methods = index.get(normalisePath(op.path));
    if (methods && methods.has(op.method)) found.push(op);
    else missing.push({ ...op, reason: methods ? `path exists but not ${op.method} (has ${[...methods].join(', ')})` : 'path not in spec' });
  }
  return { missing, found, skipped };
}

async function loadSpec(source) {
  if (/^https?:\/\//.test(source)) {
    const res = await fetch(source, { headers: { Accept: 'application/json' } });
    if (!res.ok) throw new Error(`GET ${source} -> HTTP ${res.status}`);
    return res.json();
  }
  return JSON.parse(await readFile(source, 'utf8'));
}

async function main() {
  const source = process.argv[2] ?? process.env.OPENAPI_URL;
  if (!source) {
    console.error('usage: check-openapi.mjs <openapi.json URL or file>   (or set OPENAPI_URL)');
    process.exit(2);
  }
  let spec;
  try {
    spec = await loadSpec(source);
  } catch (e) {
    console.error(`cannot read the OpenAPI document: ${e.message}`);
    process.exit(2);
  }
  const ops = parseOperations(await readFile(OPERATIONS_FILE, 'utf8'));
  if (!ops.length) {
    console.error(`no operations parsed from ${OPERATIONS_FILE}`);
    process.exit(2);
  }
  let result;
  try {
    result = checkSpec(spec, ops);
  } catch (e) {
    console.error(e.message);
    process.exit(2);
  }
  for (const op of result.skipped) console.log(`skip  ${op.method} ${op.path} (WebSocket, not described by OpenAPI)`);
  for (const op of result.missing) console.log(`MISSING ${op.method} ${op.path}  [${op.id}]: ${op.reason}`);
  console.log(`${result.found.length} of ${ops.length - result.skipped.length} operations found in ${source}; ${result.missing.length} missing.`);
  process.exit(result.missing.length ? 1 : 0);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main();
}
