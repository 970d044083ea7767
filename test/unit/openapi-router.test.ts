/**
 * The served OpenAPI document and the router are one: every route the app
 * serves is documented (method + path), every documented operation is served,
 * each operation carries its request and response schemas and the error
 * statuses docs/http-contract.md promises, every `$ref` resolves, and a method a path
 * does not document is a 405 with `Allow`.
 *
 * The app is composed exactly as production composes it (api/compose.ts +
 * api/app.ts) but with nothing behind it: no request here reaches a handler
 * that needs PostgreSQL, Temporal, Vault or a chain node.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import type Router from '@koa/router';
import { pino } from 'pino';
import { loadConfig } from '../../config/env';
import { createDb, type Db } from '../../lib/db';
import { createTestClock } from '../../lib/clock';
import { composeApi, type ComposedApi } from '../../api/compose';
import { createApp } from '../../api/app';
import { openApiPath } from '../../api/http/openapi';
import type { ClosableKeyStore } from '../../domains/keystore';
import { MINIMAL_TEST_ENV } from '../support/config';

type Operation = {
  operationId?: string;
  security?: Array<Record<string, unknown>>;
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: unknown }>;
  requestBody?: { required?: boolean; content?: Record<string, { schema?: unknown }> };
  responses?: Record<string, { description?: string; content?: Record<string, { schema?: unknown }>; headers?: Record<string, unknown> }>;
};
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> } };

const HTTP_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
/** Served but deliberately not in the document: the MCP endpoint speaks JSON-RPC, not REST (api/routes/mcp.ts). */
const UNDOCUMENTED = ['POST /mcp'];

let server: Server;
let base: string;
let doc: Doc;
let router: Router;
let composed: ComposedApi;
let db: Db;

before(async () => {
  const config = loadConfig({
    ...MINIMAL_TEST_ENV,
    WEB3_PROVIDER_URI: 'http://127.0.0.1:1',
    WEBHOOK_ALLOW_LOOPBACK: 'true',
  });
  db = createDb({ url: config.DATABASE_URL });
  const logger = pino({ level: 'silent' });
  const clock = createTestClock();
  const keystore = { close: async () => {} } as unknown as ClosableKeyStore;
  composed = composeApi({ config, db, logger, clock, temporal: {} as never, keystore });
  const app = createApp({
    logger,
    clock,
    authenticator: composed.authenticator,
    routes: composed.routes,
    version: 'unit',
    trustProxy: false,
    limits: { perMinute: 100_000, agentPerMinute: 100_000 },
    readiness: {},
    webDist: '/nonexistent',
  });
  // The router instance the app really dispatches to (@koa/router marks its middleware with it).
  const dispatch = app.middleware.find((m) => 'router' in m) as unknown as { router: Router } | undefined;
  assert.ok(dispatch, 'the app has a router middleware');
  router = dispatch.router;
  server = await new Promise<Server>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const response = await fetch(`${base}/openapi.json`);
  assert.equal(response.status, 200);
  doc = (await response.json()) as Doc;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await composed.close();
  await db.destroy();
});

/** "GET /api/agents/{id}" for every method the router serves (HEAD is implied by GET, not a route). */
function servedOperations(): Set<string> {
  const out = new Set<string>();
  for (const layer of router.stack) {
    for (const method of layer.methods) {
      if (method === 'HEAD') continue;
      out.add(`${method} ${openApiPath(String(layer.path))}`);
    }
  }
  return out;
}

function documentedOperations(): Set<string> {
  const out = new Set<string>();
  for (const [path, item] of Object.entries(doc.paths)) for (const method of Object.keys(item)) out.add(`${method.toUpperCase()} ${path}`);
  return out;
}

/** A concrete URL for a templated path: parameters filled from their schema's kind. */
function concrete(path: string): string {
  return path.replace(/\{([^}]+)\}/g, (_m, name: string) =>
    name === 'address' ? '0x00000000000000000000000000000000000000aa' : '00000000-0000-4000-8000-000000000000',
  );
}

describe('the served OpenAPI document and the router', () => {
  test('is OpenAPI 3.1 and lists exactly the operations the router serves', () => {
    assert.equal(doc.openapi, '3.1.0');
    const served = servedOperations();
    const documented = documentedOperations();
    assert.ok(served.size >= 25, `expected the whole API, got ${served.size} operations`);
    assert.deepEqual([...served].filter((op) => !documented.has(op)).sort(), UNDOCUMENTED, 'served but not documented');
    assert.deepEqual([...documented].filter((op) => !served.has(op)).sort(), [], 'documented but not served');
    assert.equal(composed.routes.length + 3, served.size, 'composed routes + /healthz, /readyz, /openapi.json');
  });

  test('POST /mcp is served for agents only, answers like every route, and is not a documented operation', async () => {
    assert.equal(doc.paths['/mcp'], undefined);
    const none = await fetch(`${base}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'unauthenticated');
    for (const method of ['GET', 'DELETE']) {
      const other = await fetch(`${base}/mcp`, { method });
      assert.equal(other.status, 405, method);
      assert.equal(other.headers.get('allow'), 'POST');
    }
  });

  test('every route of docs/http-contract.md is there', () => {
    const documented = documentedOperations();
    const contract = [
      'POST /api/register', 'POST /api/login', 'POST /api/logout', 'POST /api/setup_mfa', 'POST /api/confirm_mfa',
      'POST /api/change_password', 'GET /api/sessions', 'DELETE /api/sessions/{id}', 'POST /api/logout_all',
      'POST /api/agents', 'GET /api/agents', 'DELETE /api/agents/{id}', 'POST /api/agents/{id}/wallets', 'DELETE /api/agents/{id}/wallets/{address}',
      'POST /api/create_wallet', 'POST /api/load_wallet', 'GET /api/wallets', 'GET /api/wallets/{address}',
      'POST /api/prepare_transaction', 'POST /api/authorize_transaction', 'POST /api/reject_transaction', 'GET /api/transaction_status',
      'GET /api/transactions/{id}', 'GET /api/transactions', 'POST /api/execute_transaction', 'POST /api/transactions/{id}/cancel',
      'POST /api/transfer', 'POST /api/transfer_erc20', 'POST /api/contract_call', 'GET /api/events',
      'POST /api/webhooks', 'GET /api/webhooks', 'DELETE /api/webhooks/{id}', 'GET /healthz', 'GET /readyz', 'GET /openapi.json',
    ];
    for (const op of contract) assert.ok(documented.has(op), `${op} is missing`);
  });

  test('every documented operation is reachable: a request is answered by the route, not by routing', async () => {
    for (const op of documentedOperations()) {
      const [method, path] = op.split(' ') as [string, string];
      const response = await fetch(`${base}${concrete(path)}`, { method, headers: { 'content-type': 'application/json' }, ...(method === 'POST' ? { body: '{}' } : {}) });
      const body = (await response.json()) as { error?: { code: string; message: string } };
      assert.notEqual(response.status, 405, `${op} answered 405`);
      if (response.status === 404) assert.notEqual(body.error?.message, 'no such route', `${op} is not routed`);
      assert.ok(response.status < 500 || response.status === 503, `${op} answered ${response.status}`);
    }
  });

  test('every operation has an id, security matching its audience, and schemas for its parameters, body and answers', () => {
    const ids = new Set<string>();
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const label = `${method.toUpperCase()} ${path}`;
        assert.ok(op.operationId && !ids.has(op.operationId), `${label}: operationId missing or duplicated`);
        ids.add(op.operationId);
        assert.ok(Array.isArray(op.security), `${label}: no security`);
        for (const requirement of op.security) for (const name of Object.keys(requirement)) assert.ok(name in doc.components.securitySchemes, `${label}: unknown scheme ${name}`);

        // Path parameters: exactly those of the template, required, each with a schema.
        const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!).sort();
        const pathParams = (op.parameters ?? []).filter((p) => p.in === 'path');
        assert.deepEqual(pathParams.map((p) => p.name).sort(), templated, `${label}: path parameters`);
        for (const p of op.parameters ?? []) {
          assert.ok(p.schema && typeof p.schema === 'object', `${label}: parameter ${p.name} has no schema`);
          if (p.in === 'path') assert.equal(p.required, true, `${label}: path parameter ${p.name} must be required`);
        }

        if (op.requestBody) {
          assert.ok(op.requestBody.content?.['application/json']?.schema, `${label}: request body without a JSON schema`);
        }

        const responses = op.responses ?? {};
        const success = Object.keys(responses).filter((s) => /^2\d\d$/.test(s));
        assert.ok(success.length > 0, `${label}: no success response`);
        for (const status of success) {
          const answer = responses[status]!;
          if (status === '204') assert.equal(answer.content, undefined, `${label}: 204 with a body`);
          else if (path !== '/openapi.json') assert.ok(answer.content?.['application/json']?.schema, `${label}: ${status} has no JSON schema`);
        }
      }
    }
  });

  test('every operation documents the error statuses docs/http-contract.md says it can answer, each with the error schema', () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(item)) {
        const label = `${method.toUpperCase()} ${path}`;
        const responses = op.responses ?? {};
        const isPublic = (op.security ?? []).length === 0;
        const takesInput = Boolean(op.requestBody) || (op.parameters ?? []).length > 0 || method === 'post';
        const expected = [404, 405, 429, 500];
        if (!isPublic) expected.push(401, 403);
        if (takesInput) expected.push(400);
        if (method === 'post') expected.push(413, 415);
        for (const status of expected) {
          const answer = responses[String(status)];
          assert.ok(answer, `${label}: ${status} is not documented`);
          if (status >= 400 && answer.content) {
            assert.deepEqual(answer.content['application/json']?.schema, { $ref: '#/components/schemas/Error' }, `${label}: ${status} is not the error shape`);
          }
        }
        if (responses['429']) assert.ok(responses['429'].headers?.['Retry-After'], `${label}: 429 without Retry-After`);
      }
    }
  });

  test('prepare_transaction documents its optional Idempotency-Key header with the pattern the API enforces', () => {
    const operation = doc.paths['/api/prepare_transaction']?.post;
    const header = operation?.parameters?.find((p) => p.in === 'header');
    assert.equal(header?.name, 'Idempotency-Key');
    assert.equal(header?.required, false);
    assert.equal((header?.schema as { pattern?: string }).pattern, '^[A-Za-z0-9_.:-]{1,128}$');
  });

  test('every $ref resolves inside the document, and no embedded schema carries its own $defs or dialect', () => {
    const refs: string[] = [];
    const walk = (value: unknown, where: string) => {
      if (Array.isArray(value)) return value.forEach((v, i) => walk(v, `${where}/${i}`));
      if (value === null || typeof value !== 'object') return;
      for (const [key, inner] of Object.entries(value)) {
        if (key === '$ref') refs.push(String(inner));
        assert.ok(key !== '$defs' && key !== '$schema', `${where} has ${key}`);
        walk(inner, `${where}/${key}`);
      }
    };
    walk(doc, '#');
    assert.ok(refs.length > 0);
    for (const ref of refs) {
      assert.match(ref, /^#\/components\/schemas\/[A-Za-z0-9_.-]+$/);
      assert.ok(ref.slice('#/components/schemas/'.length) in doc.components.schemas, `${ref} does not resolve`);
    }
  });

  test('a method a path does not document is 405 with Allow naming exactly the documented methods', async () => {
    for (const [path, item] of Object.entries(doc.paths)) {
      const documented = Object.keys(item).map((m) => m.toUpperCase());
      const allowed = new Set([...documented, ...(documented.includes('GET') ? ['HEAD'] : [])]);
      for (const method of HTTP_METHODS) {
        if (documented.includes(method)) continue;
        const response = await fetch(`${base}${concrete(path)}`, { method });
        assert.equal(response.status, 405, `${method} ${path}`);
        const allow = new Set((response.headers.get('allow') ?? '').split(',').map((m) => m.trim()).filter(Boolean));
        assert.deepEqual([...allow].sort(), [...allowed].sort(), `${method} ${path}: Allow`);
        assert.deepEqual(await response.json(), {
          error: { code: 'method_not_allowed', message: 'this method is not allowed on this path', hint: 'Use one of the methods listed in the Allow header.' },
        });
      }
    }
  });

  test('an unknown path is a 404 in the error shape', async () => {
    for (const path of ['/api/nope', '/api/agents/x/y/z', '/api/transactions/00000000-0000-4000-8000-000000000000/approve']) {
      const response = await fetch(`${base}${path}`, { method: 'POST' });
      assert.equal(response.status, 404, path);
      assert.deepEqual(await response.json(), {
        error: { code: 'not_found', message: 'no such route', hint: 'Check the id or address: it does not exist or is not yours, and both look the same.' },
      });
    }
  });
});
