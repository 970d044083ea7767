/** The webhook URL policy: which receivers Countersign will ever call (domains/webhooks/url-policy.ts, resolve.ts). */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  checkResolvedAddresses,
  checkWebhookUrl,
  classifyAddress,
  LOOPBACK_URL_PATTERN,
  PUBLIC_URL_PATTERN,
  loopbackPortAllowed,
  loopbackUrlPattern,
  numberRangeAlternatives,
  stackPorts,
  webhookUrlMode,
  webhookUrlPolicy,
  webhookUrlSchema,
  type AddressClass,
  type LoopbackPorts,
  type WebhookUrlPolicy,
} from '../../domains/webhooks/url-policy';
import { resolveWebhookTarget, type LookupFn } from '../../domains/webhooks/resolve';

describe('classifyAddress', () => {
  const cases: Array<[string, AddressClass]> = [
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['93.184.216.34', 'public'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['10.0.0.1', 'private'],
    ['10.255.255.255', 'private'],
    ['100.64.0.1', 'shared'],
    ['100.127.255.254', 'shared'],
    ['100.128.0.1', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.255.254', 'loopback'],
    ['169.254.169.254', 'link_local'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', 'public'],
    ['192.0.0.8', 'reserved'],
    ['192.0.2.1', 'documentation'],
    ['192.88.99.1', 'reserved'],
    ['192.168.1.1', 'private'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['198.51.100.7', 'documentation'],
    ['203.0.113.9', 'documentation'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.255', 'reserved'],
    ['::', 'unspecified'],
    ['::1', 'loopback'],
    ['[::1]', 'loopback'],
    ['0:0:0:0:0:0:0:1', 'loopback'],
    ['2606:4700:4700::1111', 'public'],
    ['2a00:1450:4001:80b::200e', 'public'],
    ['fe80::1', 'link_local'],
    ['febf::1', 'link_local'],
    ['fec0::1', 'private'],
    ['fc00::1', 'private'],
    ['fd12:3456:789a::1', 'private'],
    ['ff02::1', 'multicast'],
    ['2001:db8::1', 'documentation'],
    ['3fff::1', 'documentation'],
    ['2001::1', 'reserved'],
    ['2002:a00:1::1', 'reserved'],
    ['100::1', 'reserved'],
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:10.1.2.3', 'private'],
    ['::ffff:169.254.169.254', 'link_local'],
    ['::ffff:8.8.8.8', 'public'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['64:ff9b:1::1', 'private'],
    ['::127.0.0.1', 'reserved'],
    ['::ffff:0:7f00:1', 'reserved'],
    ['4000::1', 'reserved'],
    ['fe80::1%eth0', 'invalid'],
    ['localhost', 'invalid'],
    ['999.1.1.1', 'invalid'],
    ['', 'invalid'],
  ];
  for (const [address, expected] of cases) {
    test(`${address || '(empty)'} is ${expected}`, () => assert.equal(classifyAddress(address), expected));
  }
});

describe('webhookUrlMode', () => {
  test('production is always public, even if the loopback flag were set', () => {
    assert.equal(webhookUrlMode({ production: true, WEBHOOK_ALLOW_LOOPBACK: true }), 'public');
    assert.equal(webhookUrlMode({ production: true, WEBHOOK_ALLOW_LOOPBACK: false }), 'public');
  });
  test('development and tests: loopback only with the flag, else the production policy', () => {
    assert.equal(webhookUrlMode({ production: false, WEBHOOK_ALLOW_LOOPBACK: true }), 'loopback');
    assert.equal(webhookUrlMode({ production: false, WEBHOOK_ALLOW_LOOPBACK: false }), 'public');
  });
});

/** Loopback with no port refused: the rules other than the port's. */
const ANY_PORT: WebhookUrlPolicy = { mode: 'loopback', ports: { reserved: new Set() } };
const policyOf = (mode: 'public' | 'loopback'): WebhookUrlPolicy => (mode === 'public' ? { mode: 'public' } : ANY_PORT);
const problemsOf = (raw: string, mode: 'public' | 'loopback' | WebhookUrlPolicy) => {
  const result = checkWebhookUrl(raw, typeof mode === 'string' ? policyOf(mode) : mode);
  return result.ok ? [] : result.problems;
};

describe('checkWebhookUrl, production (public) mode', () => {
  test('accepts https to a public host name or address, with a port, path and query', () => {
    for (const url of ['https://hooks.example.com/countersign', 'https://hooks.example.com:8443/a/b?x=1', 'https://8.8.8.8/hook', 'https://[2606:4700:4700::1111]/h']) {
      const result = checkWebhookUrl(url, { mode: 'public' });
      assert.ok(result.ok, `${url}: ${JSON.stringify(result)}`);
    }
    const result = checkWebhookUrl('https://hooks.example.com:8443/a?x=1', { mode: 'public' });
    assert.ok(result.ok);
    assert.equal(result.target.port, 8443);
    assert.equal(result.target.path, '/a?x=1');
    assert.equal(result.target.hostname, 'hooks.example.com');
  });
  test('requires https', () => {
    assert.deepEqual(problemsOf('http://hooks.example.com/', 'public'), ['must use https']);
    assert.ok(problemsOf('ftp://hooks.example.com/', 'public').includes('must use https'));
  });
  test('refuses loopback in production mode, in every spelling', () => {
    for (const url of [
      'https://127.0.0.1/',
      'https://127.1/',
      'https://2130706433/',
      'https://0x7f000001/',
      'https://[::1]/',
      'https://[::ffff:127.0.0.1]/',
      'https://localhost/',
      'https://LOCALHOST./',
      'https://api.localhost/',
    ]) {
      const problems = problemsOf(url, 'public');
      assert.ok(problems.some((p) => /loopback/.test(p)), `${url}: ${JSON.stringify(problems)}`);
    }
  });
  test('refuses private, link-local, CGNAT, multicast, unspecified and mapped addresses', () => {
    const expectations: Array<[string, RegExp]> = [
      ['https://10.0.0.1/', /private/],
      ['https://192.168.0.10/', /private/],
      ['https://172.20.1.1/', /private/],
      ['https://169.254.169.254/latest/meta-data', /link-local/],
      ['https://100.64.1.1/', /carrier-grade/],
      ['https://224.0.0.1/', /multicast/],
      ['https://0.0.0.0/', /unspecified/],
      ['https://[fd00::1]/', /private/],
      ['https://[fe80::1]/', /link-local/],
      ['https://[::ffff:10.0.0.1]/', /private/],
      ['https://[::ffff:169.254.169.254]/', /link-local/],
      ['https://[::]/', /unspecified/],
    ];
    for (const [url, pattern] of expectations) {
      const problems = problemsOf(url, 'public');
      assert.ok(problems.some((p) => pattern.test(p)), `${url}: ${JSON.stringify(problems)}`);
    }
  });
  test('refuses credentials, fragments, port 0 and non-URLs', () => {
    assert.ok(problemsOf('https://user:pass@hooks.example.com/', 'public').includes('must not contain credentials'));
    assert.ok(problemsOf('https://user@hooks.example.com/', 'public').includes('must not contain credentials'));
    assert.ok(problemsOf('https://hooks.example.com/#x', 'public').includes('must not contain a fragment'));
    assert.ok(problemsOf('https://hooks.example.com:0/', 'public').includes('must not use port 0'));
    assert.deepEqual(problemsOf('not a url', 'public'), ['must be an absolute http(s) URL']);
    assert.deepEqual(problemsOf(`https://a.example/${'x'.repeat(2100)}`, 'public'), ['must be at most 2048 characters']);
  });
});

describe('checkWebhookUrl, development / test (loopback) mode', () => {
  test('accepts only loopback receivers, over http or https', () => {
    for (const url of ['http://127.0.0.1:8080/hook', 'https://127.0.0.1/', 'http://127.3.4.5:1/', 'http://[::1]:9000/x?y=z', 'http://localhost:3000/', 'https://localhost/']) {
      assert.deepEqual(problemsOf(url, 'loopback'), [], url);
    }
  });
  test('refuses anything that is not loopback, public addresses included', () => {
    for (const url of ['https://hooks.example.com/', 'https://8.8.8.8/', 'http://10.0.0.1/', 'http://[::ffff:10.0.0.1]/', 'http://foo.localhost/', 'http://127.0.0.1.nip.io/']) {
      const problems = problemsOf(url, 'loopback');
      assert.ok(problems.some((p) => /loopback receiver/.test(p)), `${url}: ${JSON.stringify(problems)}`);
    }
    assert.ok(problemsOf('ftp://127.0.0.1/', 'loopback').includes('must use http or https'));
    // An IPv4-mapped loopback address is loopback (the documented pattern does not offer it, though).
    assert.deepEqual(problemsOf('http://[::ffff:127.0.0.1]/', 'loopback'), []);
    assert.ok(problemsOf('http://a:b@127.0.0.1/', 'loopback').includes('must not contain credentials'));
  });
});

describe('checkResolvedAddresses: every answer must be allowed', () => {
  test('public mode', () => {
    assert.deepEqual(checkResolvedAddresses(['8.8.8.8', '2606:4700:4700::1111'], 'public'), { ok: true });
    const mixed = checkResolvedAddresses(['8.8.8.8', '10.0.0.5'], 'public');
    assert.equal(mixed.ok, false);
    assert.match(!mixed.ok ? mixed.problem : '', /private address \(10\.0\.0\.5\)/);
    assert.equal(checkResolvedAddresses(['127.0.0.1'], 'public').ok, false);
    assert.equal(checkResolvedAddresses(['::ffff:192.168.0.1'], 'public').ok, false);
    assert.equal(checkResolvedAddresses([], 'public').ok, false);
  });
  test('loopback mode', () => {
    assert.deepEqual(checkResolvedAddresses(['127.0.0.1', '::1'], 'loopback'), { ok: true });
    assert.equal(checkResolvedAddresses(['127.0.0.1', '8.8.8.8'], 'loopback').ok, false);
  });
});

describe('resolveWebhookTarget', () => {
  const target = (url: string, mode: 'public' | 'loopback') => {
    const result = checkWebhookUrl(url, policyOf(mode));
    assert.ok(result.ok);
    return result.target;
  };
  const dns = (answers: Record<string, string[]>): LookupFn => async (hostname) => {
    const list = answers[hostname];
    if (!list) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

  test('connects to a checked address: IPv4 preferred, every answer public', async () => {
    const result = await resolveWebhookTarget(target('https://hooks.example.com/', 'public'), 'public', dns({ 'hooks.example.com': ['2606:4700:4700::1111', '1.1.1.1'] }), 1000);
    assert.deepEqual(result, { ok: true, address: { address: '1.1.1.1', family: 4 } });
  });
  test('a name with one private answer is refused (DNS rebinding, split horizon)', async () => {
    const result = await resolveWebhookTarget(target('https://rebind.example.com/', 'public'), 'public', dns({ 'rebind.example.com': ['1.1.1.1', '192.168.1.1'] }), 1000);
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.reason, 'address_not_allowed');
  });
  test('a name resolving to loopback is refused in production mode', async () => {
    const result = await resolveWebhookTarget(target('https://evil.example.com/', 'public'), 'public', dns({ 'evil.example.com': ['127.0.0.1'] }), 1000);
    assert.equal(result.ok, false);
  });
  test('an unresolvable host, or a lookup that hangs, is dns_failed', async () => {
    const missing = await resolveWebhookTarget(target('https://nowhere.example.com/', 'public'), 'public', dns({}), 1000);
    assert.equal(!missing.ok && missing.reason, 'dns_failed');
    const hanging = await resolveWebhookTarget(target('https://slow.example.com/', 'public'), 'public', () => new Promise(() => {}), 50);
    assert.equal(!hanging.ok && hanging.reason, 'dns_failed');
  });
  test('an IP literal needs no DNS', async () => {
    const result = await resolveWebhookTarget(target('http://127.0.0.1:9/', 'loopback'), 'loopback', async () => assert.fail('no lookup expected'), 1000);
    assert.deepEqual(result, { ok: true, address: { address: '127.0.0.1', family: 4 } });
  });
  test('localhost must resolve only to loopback', async () => {
    const good = await resolveWebhookTarget(target('http://localhost:9/', 'loopback'), 'loopback', dns({ localhost: ['::1', '127.0.0.1'] }), 1000);
    assert.deepEqual(good, { ok: true, address: { address: '127.0.0.1', family: 4 } });
    const bad = await resolveWebhookTarget(target('http://localhost:9/', 'loopback'), 'loopback', dns({ localhost: ['10.0.0.1'] }), 1000);
    assert.equal(bad.ok, false);
  });
});

describe('the documented schema', () => {
  test('every URL matching the loopback pattern passes the loopback policy (a fuzzer cannot get a 400)', () => {
    const schema = webhookUrlSchema(ANY_PORT);
    fc.assert(
      fc.property(fc.stringMatching(LOOPBACK_URL_PATTERN), (url) => {
        fc.pre(url.length <= 2048);
        assert.ok(schema.safeParse(url).success);
        assert.deepEqual(problemsOf(url, 'loopback'), [], url);
      }),
      { numRuns: 2000 },
    );
  });
  test('every URL matching the public pattern parses; only non-public address literals are refused', () => {
    fc.assert(
      fc.property(fc.stringMatching(PUBLIC_URL_PATTERN), (url) => {
        fc.pre(url.length <= 2048);
        for (const problem of problemsOf(url, 'public')) assert.match(problem, /^must not point at /, `${url}: ${problem}`);
      }),
      { numRuns: 2000 },
    );
  });
  test('the patterns refuse what the policy refuses', () => {
    const loopback = webhookUrlSchema(ANY_PORT);
    const pub = webhookUrlSchema({ mode: 'public' });
    for (const url of ['https://hooks.example.com/', 'http://10.0.0.1/', 'http://user@127.0.0.1/', 'http://127.0.0.1/#f', 'http://127.0.0.1:0/', 'http://256.0.0.1/']) {
      assert.equal(loopback.safeParse(url).success, false, url);
    }
    for (const url of ['http://hooks.example.com/', 'https://user:pw@hooks.example.com/', 'https://hooks.example.com/#f', 'https://hooks.example.com:99999/']) {
      assert.equal(pub.safeParse(url).success, false, url);
    }
    assert.equal(pub.safeParse('https://hooks.example.com:8443/cb?x=1').success, true);
  });
});

describe('loopback ports: never the stack’s own', () => {
  const config = {
    DATABASE_URL: 'postgres://u:p@127.0.0.1:5433/countersign',
    VAULT_ADDR: 'http://127.0.0.1:8200',
    TEMPORAL_ADDRESS: '127.0.0.1:7233',
    chains: new Map([[31337, 'http://127.0.0.1:8545'], [1, 'https://rpc.example']]),
    PORT: 3000,
    WORKER_HEALTH_PORT: 3001,
  };
  test('the stack ports come from the configuration: database, OpenBao and its cluster port, Temporal, every RPC (default ports too), API, worker', () => {
    assert.deepEqual([...stackPorts(config)].sort((a, b) => a - b), [443, 3000, 3001, 5433, 7233, 8200, 8201, 8545]);
    assert.ok(stackPorts({ ...config, DATABASE_URL: 'postgresql://db/x', VAULT_ADDR: undefined }).has(5432), 'PostgreSQL’s default port');
  });
  test('the pen test’s URLs are refused: 127.0.0.1:8200 (OpenBao) and :5433 (PostgreSQL), under any loopback name', () => {
    const policy = webhookUrlPolicy({ production: false, WEBHOOK_ALLOW_LOOPBACK: true, ...config });
    for (const url of ['http://127.0.0.1:8200/v1/sys/health', 'http://127.0.0.1:5433/', 'http://localhost:8201/', 'https://[::1]:7233/', 'http://127.1.2.3:8545/', 'https://127.0.0.1/', 'http://127.0.0.1:3000/api/login', 'http://127.0.0.1:3001/readyz']) {
      const problems = problemsOf(url, policy);
      assert.ok(problems.some((p) => /belongs to Countersign's own stack/.test(p)), `${url}: ${JSON.stringify(problems)}`);
    }
    for (const url of ['http://127.0.0.1:9000/hook', 'http://127.0.0.1/', 'http://localhost:8202/']) assert.deepEqual(problemsOf(url, policy), [], url);
  });
  test('WEBHOOK_LOOPBACK_PORTS: only the listed ports, and never a stack port even if listed', () => {
    const policy = webhookUrlPolicy({ production: false, WEBHOOK_ALLOW_LOOPBACK: true, WEBHOOK_LOOPBACK_PORTS: '9000-9002,8200', ...config });
    assert.deepEqual(problemsOf('http://127.0.0.1:9001/', policy), []);
    assert.match(problemsOf('http://127.0.0.1:9003/', policy)[0]!, /WEBHOOK_LOOPBACK_PORTS/);
    assert.match(problemsOf('http://127.0.0.1:8200/', policy)[0]!, /own stack/);
    assert.match(problemsOf('http://127.0.0.1/', policy)[0]!, /WEBHOOK_LOOPBACK_PORTS/);
  });
  test('production ignores all of it (the public policy has no loopback at all)', () => {
    assert.deepEqual(webhookUrlPolicy({ production: true, WEBHOOK_ALLOW_LOOPBACK: true, ...config }), { mode: 'public' });
  });

  test('number ranges as regex alternatives match exactly the range, for every port', () => {
    for (const [lo, hi] of [[1, 65535], [5434, 7232], [8202, 8544], [1, 79], [81, 442], [10, 10], [99, 101], [65000, 65535]] as const) {
      const pattern = new RegExp(`^(${numberRangeAlternatives(lo, hi).join('|')})$`);
      for (let n = 0; n <= 65536; n += 1) assert.equal(pattern.test(String(n)), n >= lo && n <= hi, `${lo}-${hi}: ${n}`);
      assert.equal(pattern.test('0080'), false, 'no leading zeros');
    }
  });
  test('the published loopback pattern offers exactly the allowed ports (with or without the default port)', () => {
    const cases: LoopbackPorts[] = [
      { reserved: stackPorts(config) },
      { reserved: new Set([80, 5433]) },
      { reserved: new Set([8200]), only: new Set([443, 9000, 9001, 8200]) },
    ];
    for (const ports of cases) {
      const pattern = loopbackUrlPattern(ports);
      for (let p = 1; p <= 65535; p += 1) assert.equal(pattern.test(`http://127.0.0.1:${p}/`), loopbackPortAllowed(p, ports), `port ${p}`);
      assert.equal(pattern.test('http://localhost/'), loopbackPortAllowed(80, ports), 'http without a port is port 80');
      assert.equal(pattern.test('https://localhost/'), loopbackPortAllowed(443, ports), 'https without a port is port 443');
    }
  });
  test('every URL matching a policy’s published pattern passes that policy (a fuzzer cannot get a 400)', () => {
    const policy = webhookUrlPolicy({ production: false, WEBHOOK_ALLOW_LOOPBACK: true, ...config });
    if (policy.mode !== 'loopback') assert.fail('loopback expected');
    fc.assert(
      fc.property(fc.stringMatching(loopbackUrlPattern(policy.ports)), (url) => {
        fc.pre(url.length <= 2048);
        assert.deepEqual(problemsOf(url, policy), [], url);
      }),
      { numRuns: 2000 },
    );
  });
});
