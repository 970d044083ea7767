/**
 * docker-compose.yml cannot run here (no Docker engine), so it is checked by
 * parsing: every service the product needs, its wiring, and consistency with
 * the configuration schema and .env.example.
 */
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';

const compose = parse(readFileSync('docker-compose.yml', 'utf8'), { merge: true }) as {
  services: Record<string, { environment?: Record<string, unknown>; ports?: string[]; healthcheck?: unknown; depends_on?: Record<string, unknown>; command?: unknown; build?: unknown; image?: string }>;
};
const envExample = readFileSync('.env.example', 'utf8');
const exampleKeys = new Set([...envExample.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]!));
const configSource = readFileSync('config/env.ts', 'utf8');
const configKeys = [...configSource.matchAll(/^ {4}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!);

test('every service the product needs is defined', () => {
  for (const name of ['postgres', 'temporal', 'temporal-ui', 'openbao', 'anvil', 'migrate', 'api', 'worker']) {
    assert.ok(compose.services[name], `service ${name} is missing`);
  }
});

test('long-running services have health checks', () => {
  for (const name of ['postgres', 'temporal', 'openbao', 'anvil', 'api', 'worker']) {
    assert.ok(compose.services[name]!.healthcheck, `${name} has no healthcheck`);
  }
});

test('api and worker run after migrations and get separate Vault credentials', () => {
  const { api, worker, migrate } = compose.services as Record<string, { environment: Record<string, string>; depends_on: Record<string, { condition: string }> }>;
  assert.equal(api!.depends_on.migrate!.condition, 'service_completed_successfully');
  assert.equal(worker!.depends_on.migrate!.condition, 'service_completed_successfully');
  assert.ok(migrate);
  assert.match(api!.environment.VAULT_TOKEN!, /VAULT_API_TOKEN/);
  assert.match(worker!.environment.VAULT_TOKEN!, /VAULT_WORKER_TOKEN/);
  assert.equal((worker as { ports?: unknown }).ports, undefined, 'the worker (custody boundary) publishes no ports');
});

test('every variable the code requires in production is wired into api and worker', () => {
  for (const name of ['api', 'worker']) {
    const env = compose.services[name]!.environment!;
    for (const key of ['NODE_ENV', 'DATABASE_URL', 'TEMPORAL_ADDRESS', 'KEYSTORE', 'VAULT_ADDR', 'VAULT_TOKEN', 'JWT_SECRET_KEY', 'AUDIT_HMAC_KEY', 'API_KEY_HMAC_KEY', 'WEB3_PROVIDER_URI']) {
      assert.ok(key in env, `${name} lacks ${key}`);
    }
    assert.equal(env.NODE_ENV, 'production');
    // NODE_OPTIONS is Node's own (the heap limit, checked below); everything else is ours.
    for (const key of Object.keys(env)) assert.ok(key === 'NODE_OPTIONS' || configKeys.includes(key), `${name} sets ${key}, which the configuration does not know`);
  }
});

test('.env.example documents every configuration variable', () => {
  assert.ok(configKeys.length > 30, 'expected to find the configuration keys');
  for (const key of configKeys) assert.ok(exampleKeys.has(key), `.env.example lacks ${key}`);
});

test('published ports match the configuration defaults', () => {
  assert.ok(compose.services.api!.ports!.some((p) => p.endsWith(':3000')));
  assert.ok(compose.services.temporal!.ports!.some((p) => p.endsWith(':7233')));
  assert.ok(compose.services['temporal-ui']!.ports!.some((p) => p.includes(':8233:')));
  assert.ok(compose.services.openbao!.ports!.some((p) => p.endsWith(':8200')));
  assert.ok(compose.services.anvil!.ports!.some((p) => p.endsWith(':8545')));
  assert.match(configSource, /PORT: port\(3000\)/);
});

test('the Temporal server gets the dynamic config the dev launcher passes, from a file that exists', async () => {
  const { DYNAMIC_CONFIG } = await import('../../scripts/infra/temporal');
  const temporal = compose.services.temporal as { environment: Record<string, string>; volumes: string[] };
  const mount = temporal.volumes.find((v) => v.endsWith(`:${temporal.environment.DYNAMIC_CONFIG_FILE_PATH}:ro`));
  assert.ok(mount, 'DYNAMIC_CONFIG_FILE_PATH is mounted read-only');
  const file = parse(readFileSync(mount.split(':')[0]!, 'utf8')) as Record<string, { value: unknown }[]>;
  const fromFile = Object.fromEntries(Object.entries(file).map(([key, values]) => [key, String(values[0]!.value)]));
  assert.deepEqual(fromFile, DYNAMIC_CONFIG);
});

test('api and worker run with the heap limits the dev and test launchers use', async () => {
  const { appNodeFlags } = await import('../../scripts/infra/apps');
  for (const role of ['api', 'worker'] as const) {
    assert.equal(compose.services[role]!.environment!.NODE_OPTIONS, appNodeFlags(role).join(' '), role);
  }
});

test('compose registers every search attribute the code requires, with its type', async () => {
  const { SEARCH_ATTRIBUTE_TYPES } = await import('../../workflows/definitions');
  const admin = compose.services['temporal-admin'] as { command: string[] };
  const registered = Object.fromEntries([...admin.command.join(' ').matchAll(/\b(Countersign[A-Za-z]+):(Keyword|Int)\b/g)].map((m) => [m[1]!, m[2]!]));
  assert.deepEqual(registered, SEARCH_ATTRIBUTE_TYPES);
});

test('the API\'s operations port (metrics, codec server) is published on loopback only, apart from the public port', () => {
  const api = compose.services.api as { environment: Record<string, string>; ports: string[] };
  const opsPort = api.environment.OPS_PORT!;
  assert.notEqual(opsPort, api.environment.PORT);
  const published = api.ports.filter((p) => p.endsWith(`:${opsPort}`));
  assert.deepEqual(published, [`127.0.0.1:${opsPort}:${opsPort}`]);
  assert.match(configSource, /OPS_HOST: z\.string\(\)\.default\('127\.0\.0\.1'\)/);
});
