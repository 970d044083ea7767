/**
 * The first end-to-end slice: an API route starts a workflow on the real
 * Temporal dev server, the worker runs its activity, the activity records a
 * row in PostgreSQL, and the API answers with what the worker recorded.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestApp, type TestApp } from '../support/app';
import { call, expectStatus, newUser } from '../support/actors';

let app: TestApp;
before(async () => {
  app = await startTestApp();
});
after(async () => {
  await app?.stop();
});

test('API → Temporal → worker → PostgreSQL and back', async () => {
  const user = await newUser(app.url, app.clock);
  const anonymous = await call(app.url, 'POST', '/api/diagnostics/ping');
  expectStatus(anonymous, 401, 'the ping needs a principal');

  const ping = await call<{ ping_id: string; recorded_by: string }>(app.url, 'POST', '/api/diagnostics/ping', { token: user.token });
  expectStatus(ping, 200, 'ping');
  assert.match(ping.body.recorded_by, /^worker@/);
  const row = (await app.database.db('pings').where({ id: ping.body.ping_id }).first()) as { recorded_by: string } | undefined;
  assert.equal(row?.recorded_by, ping.body.recorded_by, 'the row the worker wrote');
});

test('with no worker polling, the ping answers 503 with Retry-After instead of hanging', async () => {
  const user = await newUser(app.url, app.clock);
  await app.stopWorker();
  try {
    const ping = await call(app.url, 'POST', '/api/diagnostics/ping', { token: user.token });
    expectStatus(ping, 503, 'no worker');
    assert.ok(ping.headers.get('retry-after'));
  } finally {
    await app.startWorker();
  }
});
