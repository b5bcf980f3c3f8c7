import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM script without types
import { OPERATIONS_FILE, checkSpec, normalisePath, parseOperations } from '../../scripts/check-openapi.mjs';
import { buildPath, operations } from './operations';

describe('operations table', () => {
  it('fills path parameters', () => {
    expect(buildPath('setlistUpdate', { id: 4, song_id: 7 })).toBe('/api/shows/4/setlist/7');
    expect(() => buildPath('showsGet', {})).toThrow(/missing path parameter id/);
  });

  it('is parsed completely by the OpenAPI check script (same entries as the TS import)', () => {
    const parsed = parseOperations(readFileSync(OPERATIONS_FILE, 'utf8'));
    const fromTs = Object.entries(operations).map(([id, op]) => ({ id, method: op.method, path: op.path, ws: 'ws' in op && op.ws === true }));
    expect(parsed).toEqual(fromTs);
  });
});

describe('check-openapi', () => {
  const ops = [
    { id: 'a', method: 'GET', path: '/api/shows/{id}', ws: false },
    { id: 'b', method: 'PUT', path: '/api/shows/{id}/setlist/{song_id}', ws: false },
    { id: 'c', method: 'DELETE', path: '/api/comments/{id}', ws: false },
    { id: 'd', method: 'GET', path: '/api/chat/show/{id}/ws', ws: true },
    { id: 'e', method: 'GET', path: '/api/feed', ws: false },
  ];
  const spec = {
    openapi: '3.1.0',
    paths: {
      '/api/shows/{show_id}': { get: {}, put: {} },
      '/api/shows/{show_id}/setlist/{song_id}/': { put: {}, delete: {} },
      '/api/comments/{comment_id}': { put: {} },
    },
  };

  it('matches paths whatever the parameter names and trailing slashes', () => {
    expect(normalisePath('/api/shows/{show_id}/')).toBe('/api/shows/{}');
    const r = checkSpec(spec, ops);
    expect(r.found.map((o: { id: string }) => o.id)).toEqual(['a', 'b']);
    expect(r.skipped.map((o: { id: string }) => o.id)).toEqual(['d']);
    expect(r.missing.map((o: { id: string; reason: string }) => [o.id, o.reason])).toEqual([
      ['c', 'path exists but not DELETE (has PUT)'],
      ['e', 'path not in spec'],
    ]);
  });

  it('refuses a document that is not OpenAPI', () => {
    expect(() => checkSpec({ hello: 1 }, ops)).toThrow(/no "paths"/);
  });
});
