import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { makeError } from 'ethers';
import {
  BroadcastRejectedError,
  ChainError,
  ChainUnavailableError,
  classifyNodeError,
  describeNodeError,
  describeRpcUrl,
  NonceConsumedError,
  scrubUrls,
  toChainError,
  type NodeErrorKind,
} from '../../domains/chain/errors';

/** A JSON-RPC error as ethers wraps it for eth_sendRawTransaction (UNKNOWN_ERROR + info.error). */
const wrapped = (message: string, ethersCode = 'UNKNOWN_ERROR', rpcCode = -32000) =>
  makeError('could not coalesce error', ethersCode as never, { error: { code: rpcCode, message }, payload: { method: 'eth_sendRawTransaction' } } as never);

/** Node messages pinned per kind: each must keep classifying the same way. */
const NODE_MESSAGES: ReadonlyArray<readonly [string, NodeErrorKind]> = [
  ['already known', 'already_known'], // geth, erigon, reth
  ['transaction already imported', 'already_known'], // anvil
  ['Known transaction', 'already_known'], // besu
  ['AlreadyKnown', 'already_known'], // nethermind
  ['known transaction: 0x1234', 'already_known'], // old geth
  ['nonce too low', 'nonce_too_low'], // anvil, geth
  ['nonce too low: address 0xabc, tx: 3 state: 5', 'nonce_too_low'], // geth with detail
  ['OldNonce', 'nonce_too_low'], // nethermind
  ['NONCE_TOO_LOW', 'nonce_too_low'], // besu
  ['replacement transaction underpriced', 'underpriced'], // geth, anvil
  ['transaction underpriced', 'underpriced'], // geth
  ['max fee per gas less than block base fee', 'underpriced'], // anvil, geth
  ['FeeTooLow, MaxFeePerGas too low', 'underpriced'], // nethermind
  ['insufficient funds for gas * price + value', 'insufficient_funds'], // geth
  ['Insufficient funds for gas * price + value', 'insufficient_funds'], // anvil
  ['Upfront cost exceeds account balance', 'insufficient_funds'], // besu
  ['InsufficientFunds', 'insufficient_funds'], // nethermind
  ['execution reverted: nope', 'reverted'],
  ['execution reverted', 'reverted'],
  ['VM Exception while processing transaction: revert', 'reverted'],
  ['header not found', 'network'], // load-balanced nodes lagging
  ['rate limit exceeded', 'network'],
  ['request timed out', 'network'],
  ['intrinsic gas too low', 'permanent'],
  ['exceeds block gas limit', 'permanent'],
  ['invalid sender', 'permanent'],
  ['only replay-protected (EIP-155) transactions allowed over RPC', 'permanent'],
];

describe('classifyNodeError: node messages', () => {
  for (const [message, kind] of NODE_MESSAGES) {
    test(`"${message}" → ${kind} (as ethers wraps it)`, () => {
      assert.equal(classifyNodeError(wrapped(message)), kind);
    });
    test(`"${message}" → ${kind} (plain error)`, () => {
      assert.equal(classifyNodeError(new Error(message)), kind);
    });
  }

  test("the node's message wins over ethers' CALL_EXCEPTION rewrite", () => {
    // ethers turns every eth_call failure into CALL_EXCEPTION "missing revert data".
    const err = makeError('missing revert data', 'CALL_EXCEPTION', {
      info: { error: { code: -32003, message: 'Insufficient funds for gas * price + value' } },
    } as never);
    assert.equal(classifyNodeError(err), 'insufficient_funds');
  });

  test('a revert reason that mentions a timeout is still a revert', () => {
    assert.equal(classifyNodeError(wrapped('execution reverted: timeout')), 'reverted');
  });
});

describe('classifyNodeError: ethers codes and transport', () => {
  const cases: ReadonlyArray<readonly [string, unknown, NodeErrorKind]> = [
    ['NONCE_EXPIRED', makeError('nonce has already been used', 'NONCE_EXPIRED'), 'nonce_too_low'],
    ['INSUFFICIENT_FUNDS', makeError('insufficient funds', 'INSUFFICIENT_FUNDS'), 'insufficient_funds'],
    ['REPLACEMENT_UNDERPRICED', makeError('replacement fee too low', 'REPLACEMENT_UNDERPRICED'), 'underpriced'],
    ['CALL_EXCEPTION without node message', makeError('execution reverted', 'CALL_EXCEPTION'), 'reverted'],
    ['TIMEOUT', makeError('timeout', 'TIMEOUT'), 'network'],
    ['NETWORK_ERROR', makeError('network error', 'NETWORK_ERROR'), 'network'],
    ['ECONNREFUSED', Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:8545'), { code: 'ECONNREFUSED' }), 'network'],
    ['ECONNRESET', Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), 'network'],
    ['ETIMEDOUT', Object.assign(new Error('connect ETIMEDOUT'), { code: 'ETIMEDOUT' }), 'network'],
    ['EAI_AGAIN', Object.assign(new Error('getaddrinfo EAI_AGAIN rpc'), { code: 'EAI_AGAIN' }), 'network'],
    ['fetch failed with a cause', new TypeError('fetch failed', { cause: Object.assign(new Error('x'), { code: 'UND_ERR_SOCKET' }) }), 'network'],
    ['fetch failed', new TypeError('fetch failed'), 'network'],
    ['socket hang up', new Error('socket hang up'), 'network'],
    ['HTTP 502', makeError('server response 502 Bad Gateway', 'SERVER_ERROR', { info: { responseStatus: '502 Bad Gateway', responseBody: '<html>' } } as never), 'network'],
    ['HTTP 503', makeError('server response 503', 'SERVER_ERROR', { info: { responseStatus: '503 Service Unavailable' } } as never), 'network'],
    ['HTTP 429', makeError('server response 429', 'SERVER_ERROR', { info: { responseStatus: '429 Too Many Requests' } } as never), 'network'],
    ['HTTP 401', makeError('server response 401', 'SERVER_ERROR', { info: { responseStatus: '401 Unauthorized' } } as never), 'permanent'],
    [
      'HTTP 500 carrying a JSON-RPC error',
      makeError('server response 500', 'SERVER_ERROR', { info: { responseStatus: '500', responseBody: '{"jsonrpc":"2.0","id":1,"error":{"code":-32000,"message":"already known"}}' } } as never),
      'already_known',
    ],
    ['unknown', new Error('something odd'), 'permanent'],
    ['not an error', 'boom', 'permanent'],
    ['undefined', undefined, 'permanent'],
  ];
  for (const [label, err, kind] of cases) {
    test(`${label} → ${kind}`, () => assert.equal(classifyNodeError(err), kind));
  }

  test('our own errors classify as what they are', () => {
    assert.equal(classifyNodeError(new ChainUnavailableError('x')), 'network');
    assert.equal(classifyNodeError(new BroadcastRejectedError('underpriced', 'x')), 'underpriced');
    assert.equal(classifyNodeError(new NonceConsumedError('0xabc')), 'nonce_too_low');
  });
});

describe('credentials never leave the domain', () => {
  const secretUrl = 'https://alice:s3cret@rpc.example.com:8443/v3/KEY123abc?apikey=QUERYKEY';

  test('describeRpcUrl keeps scheme, host and port only', () => {
    assert.equal(describeRpcUrl(secretUrl), 'https://rpc.example.com:8443');
    assert.equal(describeRpcUrl('not a url'), '[unparseable url]');
  });

  test('scrubUrls replaces every URL in a text by its origin', () => {
    const text = `failed (info={ "requestUrl": "${secretUrl}", "other": "http://bob:pw@10.0.0.1/x" })`;
    const scrubbed = scrubUrls(text);
    for (const secret of ['alice', 's3cret', 'KEY123abc', 'QUERYKEY', 'bob', ':pw@']) assert.ok(!scrubbed.includes(secret), secret);
    assert.ok(scrubbed.includes('https://rpc.example.com:8443'));
    assert.ok(scrubbed.includes('http://10.0.0.1'));
  });

  test('toChainError drops the raw error: no URL in message or cause', () => {
    const raw = makeError('server response 503 Service Unavailable', 'SERVER_ERROR', {
      request: { url: secretUrl },
      info: { requestUrl: secretUrl, responseStatus: '503 Service Unavailable' },
    } as never);
    assert.ok(raw.message.includes('s3cret'), 'precondition: ethers puts the URL in its message');
    const err = toChainError(raw, 'reading the balance');
    assert.ok(err instanceof ChainUnavailableError);
    assert.equal(err.retryable, true);
    const everything = `${err.message} ${String((err.cause as Error).message)} ${JSON.stringify(err)} ${JSON.stringify(err.cause)}`;
    for (const secret of ['alice', 's3cret', 'KEY123abc', 'QUERYKEY']) assert.ok(!everything.includes(secret), secret);
    assert.equal((err.cause as Error & { code?: string }).code, 'SERVER_ERROR');
  });

  test('toChainError: non-network failures are non-retryable node errors', () => {
    const err = toChainError(wrapped('intrinsic gas too low'), 'broadcasting');
    assert.equal(err.code, 'node_error');
    assert.equal(err.retryable, false);
    assert.equal(err.message, 'broadcasting: intrinsic gas too low');
  });

  test('describeNodeError prefers the node message and caps length', () => {
    assert.equal(describeNodeError(wrapped('nonce too low')), 'nonce too low');
    assert.equal(describeNodeError(new Error('x'.repeat(1000))).length, 301);
  });
});

describe('error types', () => {
  test('names, codes and retryability', () => {
    const rejected = new BroadcastRejectedError('insufficient_funds', 'no money');
    assert.equal(rejected.name, 'BroadcastRejectedError');
    assert.equal(rejected.code, 'broadcast_rejected');
    assert.equal(rejected.retryable, false);
    const consumed = new NonceConsumedError('0xabc');
    assert.equal(consumed.name, 'NonceConsumedError');
    assert.equal(consumed.retryable, false);
    assert.equal(consumed.message, 'nonce already used by another transaction; 0xabc is unknown to the node');
    assert.ok(consumed instanceof ChainError);
    assert.equal(new ChainUnavailableError('x').name, 'ChainUnavailableError');
  });
});
