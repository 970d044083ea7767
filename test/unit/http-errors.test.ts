import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isDependencyDown, toAppError } from '../../api/http/errors';

test('a database or socket that is down is a 503 with Retry-After, anything unknown a bare 500', () => {
  const down = [
    Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5433'), { code: 'ECONNREFUSED' }),
    Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
    Object.assign(new Error('the database system is starting up'), { code: '57P03' }),
    Object.assign(new Error('connection failure'), { code: '08006' }),
    Object.assign(new Error('Knex: Timeout acquiring a connection'), { name: 'KnexTimeoutError' }),
    new Error('wrapped', { cause: Object.assign(new Error('x'), { code: 'ECONNRESET' }) }),
  ];
  for (const err of down) {
    assert.ok(isDependencyDown(err), err.message);
    const answer = toAppError(err);
    assert.equal(answer.status, 503);
    assert.equal(answer.code, 'unavailable');
    assert.ok(answer.headers?.['Retry-After']);
    assert.doesNotMatch(answer.message, /5433|ECONN|administrator/);
  }
  const bug = toAppError(Object.assign(new Error('syntax error at or near'), { code: '42601' }));
  assert.equal(bug.status, 500);
  assert.equal(bug.message, 'internal error');
});
