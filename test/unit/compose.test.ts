/**
 * docker-compose.yml cannot run here (no Docker engine), so it is checked by
 * parsing: every service the product needs, its wiring, and consistency with
 * the configuration schema and .env.example.
 */
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';

const composeSource = readFileSync('docker-compose.yml', 'utf8');
const compose = parse(composeSource, { merge: true }) as {
  services: Record<
    string,
    { environment?: Record<string, unknown>; ports?: string[]; healthcheck?: unknown; depends_on?: Record<string, unknown>; command?: unknown; build?: unknown; image?: string; volumes?: string[] }
  >;
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

/** A service's environment as compose would pass it: `${X:-default}` → default, `${X:?…}` (required) → a stand-in. */
function resolvedEnv(service: string): Record<string, string> {
  const env = compose.services[service]!.environment as Record<string, unknown>;
  const substitute = (value: string) =>
    value.replace(/\$\{([A-Z0-9_]+)(?::-([^}]*)|:\?[^}]*)?\}/g, (_all, name: string, fallback?: string) => fallback ?? `${name.toLowerCase()}-${'x'.repeat(32)}`);
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, substitute(String(value))]));
}

/** container path → host path, of the service's bind mounts. */
function mounts(service: string): Map<string, string> {
  const entries = (compose.services[service]!.volumes ?? []).map((v) => v.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1').split(':'));
  return new Map(entries.filter((parts) => parts.length >= 2).map(([host, container]) => [container!, host!]));
}

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

test('the image and compose run the compiled build (node dist/…), never tsx', async () => {
  const { ENTRY_POINTS, compiledPath } = await import('../../scripts/build');
  const compiled = new Set(ENTRY_POINTS.map((entry) => compiledPath(entry).replace(`${process.cwd()}/`, '')));
  for (const name of ['migrate', 'api', 'worker']) {
    const command = compose.services[name]!.command as string[];
    assert.equal(command[0], 'node', `${name}: ${command.join(' ')}`);
    assert.ok(compiled.has(command.at(-1)!), `${name} runs ${command.at(-1)}, which scripts/build.ts does not build`);
  }
  const dockerfile = readFileSync('Dockerfile', 'utf8')
    .split('\n')
    .filter((line) => !line.startsWith('#'))
    .join('\n');
  assert.match(dockerfile, /RUN npm run build/);
  assert.doesNotMatch(dockerfile, /tsx/);
  const cmd = /^CMD (.+)$/m.exec(dockerfile)?.[1] ?? '';
  assert.ok(compiled.has((JSON.parse(cmd) as string[]).at(-1)!), `CMD ${cmd}`);
});

test('PostgreSQL: migrations as the schema owner, the API and the worker each as its own role, nobody as the superuser', async () => {
  const { DEFAULT_ROLE_NAMES } = await import('../../lib/db-roles');
  const userOf = (url: string) => decodeURIComponent(new URL(url).username);
  const passwordOf = (url: string) => decodeURIComponent(new URL(url).password);
  const migrate = resolvedEnv('migrate');
  const [api, worker] = [resolvedEnv('api'), resolvedEnv('worker')];
  assert.equal(userOf(migrate.MIGRATION_DATABASE_URL!), DEFAULT_ROLE_NAMES.owner);
  assert.equal(userOf(api.DATABASE_URL!), DEFAULT_ROLE_NAMES.api);
  assert.equal(userOf(worker.DATABASE_URL!), DEFAULT_ROLE_NAMES.worker);
  assert.equal(migrate.DATABASE_API_ROLE, DEFAULT_ROLE_NAMES.api, 'the migrations grant the role the API connects as');
  assert.equal(migrate.DATABASE_WORKER_ROLE, DEFAULT_ROLE_NAMES.worker);
  assert.equal(new Set([migrate.MIGRATION_DATABASE_URL!, api.DATABASE_URL!, worker.DATABASE_URL!].map(passwordOf)).size, 3, 'three passwords');
  for (const [name, env] of Object.entries({ api, worker })) {
    assert.ok(!('MIGRATION_DATABASE_URL' in env), `${name} never gets the owner's URL`);
    assert.notEqual(userOf(env.DATABASE_URL!), 'postgres', `${name} is not the superuser`);
  }
  // The migration job needs nothing but the owner's URL and the role names: no app secrets, no Vault token.
  assert.deepEqual(Object.keys(migrate).sort(), ['DATABASE_API_ROLE', 'DATABASE_WORKER_ROLE', 'MIGRATION_DATABASE_URL']);
  const { loadMigrationConfig } = await import('../../config/env');
  assert.deepEqual(loadMigrationConfig(migrate).roles, { api: DEFAULT_ROLE_NAMES.api, worker: DEFAULT_ROLE_NAMES.worker });

  // The postgres service creates exactly these roles, from the mounted init script, with the same passwords.
  const postgres = resolvedEnv('postgres');
  assert.equal(mounts('postgres').get('/docker-entrypoint-initdb.d'), './deploy/postgres-init');
  const init = readFileSync('deploy/postgres-init/10-countersign-roles.sh', 'utf8');
  for (const role of ['OWNER', 'API', 'WORKER'] as const) {
    assert.match(init, new RegExp(`DATABASE_${role}_ROLE:-${DEFAULT_ROLE_NAMES[role.toLowerCase() as 'owner' | 'api' | 'worker']}`));
    assert.match(init, new RegExp(`POSTGRES_${role}_PASSWORD`));
  }
  assert.equal(postgres.POSTGRES_OWNER_PASSWORD, passwordOf(migrate.MIGRATION_DATABASE_URL!));
  assert.equal(postgres.POSTGRES_API_PASSWORD, passwordOf(api.DATABASE_URL!));
  assert.equal(postgres.POSTGRES_WORKER_PASSWORD, passwordOf(worker.DATABASE_URL!));
});

test('Temporal requires client certificates; the API, the worker, the UI and the admin job each present their own', async () => {
  const temporal = resolvedEnv('temporal');
  assert.equal(temporal.TEMPORAL_TLS_REQUIRE_CLIENT_AUTH, 'true');
  const certsScript = readFileSync('scripts/temporal-certs.sh', 'utf8');
  const issued = new Set(['ca', ...[...certsScript.matchAll(/^issue (\w+) /gm)].map((m) => m[1]!)]);
  assert.deepEqual([...issued].sort(), ['api', 'ca', 'operator', 'server', 'worker']);
  const hostFile = (service: string, containerPath: string) => {
    const host = mounts(service).get(containerPath);
    assert.ok(host, `${service} mounts ${containerPath}`);
    const file = host.split('/').pop()!;
    assert.ok(host.startsWith('./deploy/temporal-certs/') && issued.has(file.replace(/\.(pem|key)$/, '')), `${service}: ${host} is made by scripts/temporal-certs.sh`);
    return file;
  };
  for (const key of ['TEMPORAL_TLS_SERVER_CA_CERT', 'TEMPORAL_TLS_SERVER_CERT', 'TEMPORAL_TLS_SERVER_KEY', 'TEMPORAL_TLS_FRONTEND_CERT', 'TEMPORAL_TLS_FRONTEND_KEY', 'TEMPORAL_TLS_CLIENT1_CA_CERT']) {
    assert.match(hostFile('temporal', temporal[key]!), /^(server|ca)\.(pem|key)$/, key);
  }
  const { loadConfig } = await import('../../config/env');
  for (const [service, client] of [['api', 'api'], ['worker', 'worker']] as const) {
    const env = resolvedEnv(service);
    assert.equal(hostFile(service, env.TEMPORAL_TLS_CERT!), `${client}.pem`, `${service} presents its own certificate`);
    assert.equal(hostFile(service, env.TEMPORAL_TLS_KEY!), `${client}.key`);
    assert.equal(hostFile(service, env.TEMPORAL_TLS_CA!), 'ca.pem');
    assert.equal(env.TEMPORAL_TLS_SERVER_NAME, temporal.TEMPORAL_TLS_FRONTEND_SERVER_NAME, 'the name on the server certificate');
    // The production configuration accepts the service's environment as compose passes it (TLS is required off loopback).
    const config = loadConfig(env);
    assert.equal(config.production, true);
    assert.throws(() => loadConfig({ ...env, TEMPORAL_TLS_CERT: '', TEMPORAL_TLS_KEY: '' }), /TEMPORAL_TLS_CERT: required in production/);
  }
  for (const service of ['temporal-ui', 'temporal-admin']) {
    const env = resolvedEnv(service);
    assert.equal(hostFile(service, env.TEMPORAL_TLS_CERT!), 'operator.pem', service);
    assert.equal(hostFile(service, env.TEMPORAL_TLS_CA!), 'ca.pem', service);
  }
  // The server's own CLI calls (auto-setup, the healthcheck) go through mTLS too.
  assert.equal(hostFile('temporal', temporal.TEMPORAL_TLS_CERT!), 'operator.pem');
});

test('every variable docker-compose.yml reads is documented in .env.example', () => {
  const used = new Set([...composeSource.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]!));
  const missing = [...used].filter((name) => !exampleKeys.has(name)).sort();
  assert.deepEqual(missing, []);
});
