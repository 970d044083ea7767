/**
 * Fuzzing: Schemathesis (pinned in tools/requirements-fuzz.txt, installed into
 * .tools/venv) against the real API, driven by the served /openapi.json, with
 * every check (`--checks all`: no server errors, status codes, content types,
 * headers and bodies conform to the document, schema-invalid data is refused,
 * schema-valid data is accepted, declared auth is enforced, undeclared methods
 * are 405 with Allow, …) and every phase (examples, coverage, fuzzing,
 * stateful).
 *
 * Three runs, each with fresh accounts:
 *   agent key   -H "X-API-Key: …"          (an agent with a funded, granted wallet)
 *   user JWT    -H "Authorization: Bearer …" (a user with MFA, a wallet, a pending request)
 *   anonymous   no header: Schemathesis signs itself up through /api/register + /api/login,
 *               as someone pointing it at `npm run dev` would
 *
 * Any failure fails the test and prints Schemathesis' report (with `st replay` ids
 * and curl lines). The seed is printed; COUNTERSIGN_FUZZ_SEED replays a run,
 * COUNTERSIGN_FUZZ_MAX_EXAMPLES (default 30 per operation) sets its size.
 *
 * Server errors are counted from the API's own request log, not from
 * Schemathesis' view: every 5xx the process answered, except a documented 503.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTestApp, type TestApp } from '../support/app';
import { call, expectStatus, newAgent, newUser, newWallet, randomAddress } from '../support/actors';
import { REPO_ROOT } from '../../scripts/infra/paths';
import { recordProofRow } from './support/summary';

const SCHEMATHESIS = path.join(REPO_ROOT, '.tools', 'venv', 'bin', 'schemathesis');
const MAX_EXAMPLES = Number(process.env.COUNTERSIGN_FUZZ_MAX_EXAMPLES ?? 30);
const SEED = Number(process.env.COUNTERSIGN_FUZZ_SEED ?? randomInt(1, 2 ** 31));
const RUN_TIMEOUT_MS = Number(process.env.COUNTERSIGN_FUZZ_RUN_MINUTES ?? 12) * 60_000;

/**
 * Per-operation tuning, each a rule JSON Schema cannot state (docs/http-contract.md keeps
 * these answers; everything else is held to the defaults):
 *  - prepare_transaction, contract call with an ABI: whether `function_name` is in
 *    `contract_abi` and `function_args` fit its inputs is a cross-field rule → 400
 *    naming the field, however well-formed each field is on its own;
 *  - the same `idempotency_key` with a different body → 422 idempotency_key_reused;
 *  - a body over 64 KiB → 413 whatever it holds (the accounts issue). Only the
 *    operations that take a contract ABI (up to 200 fragments of free-form JSON) and
 *    arbitrary JSON arguments can be generated that large, valid or not;
 *  - POST /api/policy/check takes prepare_transaction's body, so the same cross-field 400 and
 *    the 413 apply to it (it judges the policy only: no 422);
 *  - prepare_transaction refuses a schema-valid request the simulation says cannot succeed
 *    (it would revert, the wallet cannot pay, the token is no ERC-20) with 422
 *    simulation_failed (docs/http-contract.md documents it beside idempotency_key_reused), so 422 is
 *    an accepted answer to valid data there;
 *  - transaction_status: a schema-valid `wait` holds the request until the status changes or
 *    up to 60 s; the fuzzer sends wait=1 with if_version=0, which every transaction is past,
 *    so the long-poll answers at once and the run keeps its length (the long-poll has tests
 *    of its own, test/integration/transactions-longpoll*.test.ts).
 */
const NEGATIVE = '"400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429", "5xx"';
const CONFIG = (autoSignup: boolean) => `
[auth]
auto-signup = ${autoSignup}

[[operations]]
include-name = "POST /api/prepare_transaction"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "413", "422", "429", "5xx"]
checks.negative_data_rejection.expected-statuses = [${NEGATIVE}]

[[operations]]
include-name = "POST /api/policy/check"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "413", "429", "5xx"]
checks.negative_data_rejection.expected-statuses = [${NEGATIVE}]

[[operations]]
include-name = "GET /api/transaction_status"
parameters = { "query.wait" = "1", "query.if_version" = "0" }

[[operations]]
include-name = "POST /api/contract_call"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]
checks.negative_data_rejection.expected-statuses = [${NEGATIVE}]
`;

let app: TestApp;
let workDir: string;

before(async () => {
  assert.ok(
    fs.existsSync(SCHEMATHESIS),
    `${SCHEMATHESIS} is missing: install it with .tools/venv/bin/python -m pip install --require-hashes --no-deps -r tools/requirements-fuzz.txt (npm run test:proof does this through scripts/bootstrap.mjs)`,
  );
  // Tokens must outlive every TOTP step the fixtures take; the clock is never moved otherwise.
  app = await startTestApp({ env: { JWT_ACCESS_TOKEN_EXPIRES: '1d' } });
  workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'countersign-fuzz-'));
  process.stdout.write(`[fuzz] schemathesis seed ${SEED}, ${MAX_EXAMPLES} examples per operation (COUNTERSIGN_FUZZ_SEED=${SEED} replays it)\n`);
});

after(async () => {
  await app?.stop();
  if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
});

/** A user with MFA, a funded wallet, an agent granted it, and one pending request (so lists and links have data). */
async function fixtures() {
  const user = await newUser(app.url, app.clock);
  const wallet = await newWallet(app.url, user);
  const agent = await newAgent(app.url, user, [wallet]);
  const prepared = await call(app.url, 'POST', '/api/prepare_transaction', {
    apiKey: agent.apiKey,
    body: { wallet_address: wallet, kind: 'native', to_address: randomAddress(), amount: '1000', memo: 'fuzz fixture' },
  });
  expectStatus(prepared, 202, 'fixture prepare');
  return { user, wallet, agent };
}

interface RunResult {
  code: number | null;
  output: string;
  generated: number;
  serverErrors: string[];
  unavailable: number;
  seconds: number;
}

/** The API's own request log lines (status and path) since `from`. */
function requestLog(from: number) {
  return app.logs
    .slice(from)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as { name?: string; msg?: string; status?: number; method?: string; path?: string }];
      } catch {
        return [];
      }
    })
    .filter((entry) => entry.name === 'api' && entry.msg === 'request');
}

async function schemathesis(name: string, args: string[], autoSignup: boolean): Promise<RunResult> {
  const config = path.join(workDir, `${name}.toml`);
  fs.writeFileSync(config, CONFIG(autoSignup));
  const logStart = app.logs.length;
  const started = Date.now();
  const argv = [
    '--config-file', config,
    '--no-color',
    'run', `${app.url}/openapi.json`,
    '--checks', 'all',
    '--phases', 'examples,coverage,fuzzing,stateful',
    '--max-examples', String(MAX_EXAMPLES),
    '--seed', String(SEED),
    '--generation-database', 'none',
    '--request-timeout', '30',
    '--report', 'junit', '--report-dir', path.join(workDir, `${name}-report`),
    ...args,
  ];
  const child = spawn(SCHEMATHESIS, argv, { cwd: workDir, env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_HOOKS: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), RUN_TIMEOUT_MS);
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  clearTimeout(timer);

  const generated = Number(/(\d+) generated/.exec(output)?.[1] ?? 0);
  const answered = requestLog(logStart);
  const serverErrors = answered.filter((e) => (e.status ?? 0) >= 500 && e.status !== 503).map((e) => `${e.method} ${e.path} → ${e.status}`);
  const unavailable = answered.filter((e) => e.status === 503).length;
  const seconds = Math.round((Date.now() - started) / 1000);
  process.stdout.write(`[fuzz] ${name}: exit ${code}, ${generated} cases, ${answered.length} requests, ${serverErrors.length} server errors, ${unavailable} × 503, ${seconds} s\n`);
  return { code, output, generated, serverErrors, unavailable, seconds };
}

/** `excluded`: operations left out of this run on purpose (they would end its identity). */
function report(name: string, run: RunResult, excluded = 0) {
  const passed = run.code === 0 && run.serverErrors.length === 0 && run.generated > 0;
  recordProofRow({
    suite: `fuzz: schemathesis --checks all (${name})`,
    fuzzCases: run.generated,
    serverErrors: run.serverErrors.length,
    passed,
    durationMs: run.seconds * 1000,
    notes: `seed ${SEED}, ${MAX_EXAMPLES} examples/operation, exit ${run.code}, ${run.unavailable} documented 503s`,
  });
  // Schemathesis' own report: failures with their `st replay` ids and curl lines.
  const failures = run.output.includes('FAILURES') ? run.output.slice(run.output.indexOf('=== FAILURES') - 40) : run.output.slice(-4000);
  assert.deepEqual(run.serverErrors, [], `server errors during the ${name} run`);
  assert.ok(run.generated > 0, `Schemathesis generated no test case:\n${run.output.slice(-3000)}`);
  assert.equal(run.code, 0, `Schemathesis found failures in the ${name} run (seed ${SEED}):\n${failures}`);
  assert.match(run.output, /Tested: (\d+)/);
  const tested = Number(/Tested: (\d+)/.exec(run.output)![1]);
  const operations = Number(/Selected: \d+\/(\d+)/.exec(run.output)?.[1] ?? 0);
  assert.ok(tested >= operations - excluded - 1 && tested >= 30, `only ${tested} of ${operations} operations tested (${excluded} left out on purpose):\n${run.output.slice(-3000)}`);
}

describe('Schemathesis against the real API', () => {
  // The agent run first: the user run's stateful phase may revoke agents it finds.
  test('with an agent API key: no failure, no server error', async () => {
    const { agent } = await fixtures();
    const run = await schemathesis('agent-key', ['-H', `X-API-Key: ${agent.apiKey}`], false);
    report('agent key', run);
  });

  test('with a user JWT: no failure, no server error', async () => {
    const { user } = await fixtures();
    // Logging out would end the run's identity halfway — here, everywhere, or by deleting its own session, whose
    // id the stateful phase finds in GET /api/sessions (an inferred link). The abuse matrix and the self-sign-up
    // run (which signs up again) cover them.
    const leftOut = ['/api/logout', '/api/logout_all', '/api/sessions/{id}'];
    const run = await schemathesis('user-jwt', ['-H', `Authorization: Bearer ${user.token}`, ...leftOut.flatMap((p) => ['--exclude-path', p])], false);
    report('user JWT', run, leftOut.length - 1);
  });

  test('anonymous, signing itself up as a fresh user (how `npm run dev` is usually fuzzed): no failure, no server error', async () => {
    const run = await schemathesis('self-signup', [], true);
    assert.match(run.output, /signed up via POST \/api\/register/, 'Schemathesis signed itself up');
    report('self sign-up', run);
  });
});
