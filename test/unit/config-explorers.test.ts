/**
 * CHAIN_EXPLORER_URLS (config/env.ts): explorer links are shown to the
 * approver beside addresses, so only plain http(s) base URLs for configured
 * chains are accepted, https only in production.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../../config/env';
import { MINIMAL_TEST_ENV } from '../support/config';

const base = {
  ...MINIMAL_TEST_ENV,
  CHAIN_ID: '31337',
  CHAIN_RPC_URLS: '{"1":"https://rpc.example"}',
};

const refused = (explorers: string, extra: Record<string, string> = {}) =>
  assert.throws(
    () => loadConfig({ ...base, ...extra, CHAIN_EXPLORER_URLS: explorers }),
    (err: unknown) => err instanceof ConfigError && err.message.includes('CHAIN_EXPLORER_URLS'),
    explorers,
  );

test('configured chains get their explorer, without a trailing slash; none configured is an empty map', () => {
  const config = loadConfig({ ...base, CHAIN_EXPLORER_URLS: '{"1":"https://etherscan.io/","31337":"http://127.0.0.1:5100/explorer"}' });
  assert.deepEqual([...config.explorers], [
    [1, 'https://etherscan.io'],
    [31337, 'http://127.0.0.1:5100/explorer'],
  ]);
  assert.equal(loadConfig(base).explorers.size, 0);
});

test('not JSON, unknown chains, other schemes, credentials, queries and fragments are refused', () => {
  refused('https://etherscan.io');
  refused('["https://etherscan.io"]');
  refused('{"10":"https://optimistic.etherscan.io"}');
  refused('{"x":"https://etherscan.io"}');
  refused('{"1":"javascript:alert(1)"}');
  refused('{"1":"ftp://etherscan.io"}');
  refused('{"1":"https://user:pw@etherscan.io"}');
  refused('{"1":"https://etherscan.io/?ref=x"}');
  refused('{"1":"https://etherscan.io/#x"}');
  refused('{"1":42}');
});

test('production requires https', () => {
  refused('{"1":"http://etherscan.io"}', { NODE_ENV: 'production' });
});
