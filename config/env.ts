/**
 * The one place that reads the environment. Every variable is named and typed
 * here; `loadConfig` fails fast with a single message naming every missing or
 * invalid variable. `.env.example` documents each one.
 *
 * Secrets have no default in production. In development and tests the launcher
 * (`scripts/dev.ts`, `scripts/test.ts`) generates them and passes them in. Each
 * secret of SECRET_FILE_VARIABLES may come from a file instead: `NAME_FILE` names it
 * (compose secrets, /run/secrets/…), its trimmed contents become `NAME`.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_ROLE_NAMES, ROLE_NAME_PATTERN } from '../lib/db-roles';

const DURATION = /^(\d+)\s*(ms|s|m|h|d)?$/;
const UNIT_SECONDS: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 };

/** Parses the seed's `30m` / `1h` / `1d` form (a bare number means seconds). */
export function parseDurationSeconds(value: string): number | undefined {
  const match = DURATION.exec(value.trim());
  if (!match) return undefined;
  const seconds = Number(match[1]) * UNIT_SECONDS[match[2] ?? 's']!;
  return Number.isFinite(seconds) && seconds > 0 ? seconds : undefined;
}

const duration = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .transform((value, ctx) => {
      const seconds = parseDurationSeconds(value);
      if (seconds === undefined) {
        ctx.addIssue({ code: 'custom', message: 'expected a duration like 90s, 30m, 1h or 1d' });
        return z.NEVER;
      }
      return seconds;
    });

const port = (fallback: number) => z.coerce.number().int().min(1).max(65535).default(fallback);
const flag = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .default(fallback ? 'true' : 'false')
    .transform((v) => v === 'true' || v === '1' || v === 'yes');
const url = z.url({ protocol: /^https?$/ });
const postgresUrl = z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL');
const roleName = (fallback: string) => z.string().regex(ROLE_NAME_PATTERN, 'expected a lowercase PostgreSQL identifier').default(fallback);
const optionalSecret = (minLength: number) => z.string().min(minLength).optional();

const schema = z
  .object({
    NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
    LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),

    HOST: z.string().default('127.0.0.1'),
    PORT: port(3000),
    WORKER_HEALTH_PORT: port(3001),
    /**
     * The API's operations listener: Prometheus /metrics and the Temporal codec server
     * (/codec/encode, /codec/decode). Its own port, on loopback unless OPS_HOST says otherwise:
     * never the public API port. The worker serves /metrics on WORKER_HEALTH_PORT.
     */
    OPS_PORT: port(3002),
    OPS_HOST: z.string().default('127.0.0.1'),
    /**
     * Operators' credential for the codec server (`Authorization: Bearer <token>`): neither a
     * user's JWT nor an agent's API key opens it. Unset: the codec server refuses every request.
     */
    CODEC_OPERATOR_TOKEN: optionalSecret(32),
    /** Origins (comma-separated) allowed to call the codec server from a browser: the Temporal UI's. */
    CODEC_CORS_ORIGINS: z.string().default(''),
    /**
     * OTLP/HTTP (JSON) trace export, e.g. http://127.0.0.1:4318 (spans go to <endpoint>/v1/traces).
     * Unset: no tracer is installed and nothing is exported.
     */
    OTEL_EXPORTER_OTLP_ENDPOINT: url.optional(),
    /** Honour X-Forwarded-For only behind a proxy you control. */
    TRUST_PROXY: flag(false),
    PUBLIC_URL: url.optional(),

    /**
     * This process's own least-privilege role (lib/db-roles.ts): the API's URL for the API, the
     * worker's for the worker. Both refuse to start as a superuser, the schema owner or each other.
     */
    DATABASE_URL: postgresUrl,
    DATABASE_POOL_MAX: z.coerce.number().int().min(1).max(100).default(10),

    TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
    TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
    TEMPORAL_TASK_QUEUE: z.string().min(1).default('countersign'),
    /**
     * mTLS to Temporal (PEM files): this process's client certificate and key, the CA that signed
     * the server's certificate (system roots when unset) and the name on it (default: the host of
     * TEMPORAL_ADDRESS). The same names as the `temporal` CLI's. Any of them turns TLS on; in
     * production a Temporal server off loopback requires the client certificate.
     */
    TEMPORAL_TLS_CERT: z.string().min(1).optional(),
    TEMPORAL_TLS_KEY: z.string().min(1).optional(),
    TEMPORAL_TLS_CA: z.string().min(1).optional(),
    TEMPORAL_TLS_SERVER_NAME: z.string().min(1).optional(),
    /** A prebuilt workflow bundle (tests build one per run); otherwise the worker bundles at start-up. */
    WORKFLOW_BUNDLE_PATH: z.string().optional(),
    /**
     * Workflows the worker keeps in memory between tasks. Temporal's default follows the V8
     * heap limit, which the worker's --max-old-space-size would cut to 10 (every approval would
     * replay its workflow). A cached workflow costs the worker ~0.3 MiB (`npm run bench`, peak
     * RSS with 1000 / 250 / 100 cached: 389 / 352 / 310 MiB); an evicted one replays its
     * history (10–30 events, a few ms) when it next has work, e.g. when its approval arrives.
     */
    WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(2).max(100_000).default(100),

    /** `vault` (Vault / OpenBao transit) or `local` (AES-256-GCM with a master key). */
    KEYSTORE: z.enum(['vault', 'local']).default('vault'),
    VAULT_ADDR: url.optional(),
    VAULT_TOKEN: z.string().min(1).optional(),
    VAULT_ROLE_ID: z.string().min(1).optional(),
    VAULT_SECRET_ID: z.string().min(1).optional(),
    VAULT_TRANSIT_MOUNT: z.string().min(1).default('transit'),
    VAULT_WALLET_KEY: z.string().min(1).default('countersign-wallets'),
    VAULT_MFA_KEY: z.string().min(1).default('countersign-mfa'),
    VAULT_WEBHOOK_KEY: z.string().min(1).default('countersign-webhooks'),
    /** Wraps the data keys of the Temporal payload codec (API and worker: encrypt + decrypt). */
    VAULT_HISTORY_KEY: z.string().min(1).default('countersign-history'),
    VAULT_TIMEOUT_MS: z.coerce.number().int().min(100).max(60000).default(5000),
    /** PEM file of the CA that signed Vault's certificate (an https VAULT_ADDR with a private CA); trusted for Vault only. */
    VAULT_CACERT: z.string().min(1).optional(),
    KEYSTORE_PASSPHRASE: optionalSecret(12),
    KEYSTORE_KEY_FILE: z.string().optional(),
    KEYSTORE_DIR: z.string().default('.data/keystore'),

    JWT_SECRET_KEY: optionalSecret(32),
    JWT_ACCESS_TOKEN_EXPIRES: duration('15m'),
    JWT_ISSUER: z.string().default('countersign'),
    JWT_AUDIENCE: z.string().default('countersign-api'),
    /** Keys the audit HMAC chain and API-key digests. */
    AUDIT_HMAC_KEY: optionalSecret(32),
    API_KEY_HMAC_KEY: optionalSecret(32),

    WEB3_PROVIDER_URI: url.default('http://127.0.0.1:8545'),
    CHAIN_ID: z.coerce.number().int().positive().default(31337),
    /** Extra chains as JSON: {"11155111":"https://..."}; WEB3_PROVIDER_URI serves CHAIN_ID. */
    CHAIN_RPC_URLS: z.string().optional(),
    /** Block explorers as JSON: {"1":"https://etherscan.io"}; links go to {url}/address/… and {url}/tx/…. */
    CHAIN_EXPLORER_URLS: z.string().optional(),
    CONFIRMATIONS: z.coerce.number().int().min(1).max(64).default(1),

    APPROVAL_TTL_DEFAULT: duration('24h'),
    /** Shortest approval window an agent may ask for (tests shorten it). */
    APPROVAL_TTL_MIN: duration('60s'),
    APPROVAL_TTL_MAX: duration('7d'),
    EXECUTION_WINDOW: duration('1h'),

    /**
     * Login throttling per (account, source address) — never a lock of the account
     * (domains/users/throttle.ts): free failures per pair, then a doubling wait up to
     * LOGIN_BACKOFF_MAX; a pair forgets after LOGIN_FAILURE_WINDOW without a failure;
     * past LOGIN_ACCOUNT_SLOWDOWN failures of the account within the window, every pair
     * gets one free failure only.
     */
    LOGIN_FREE_FAILURES: z.coerce.number().int().min(1).max(100).default(5),
    LOGIN_BACKOFF_MAX: duration('15m'),
    LOGIN_FAILURE_WINDOW: duration('1h'),
    LOGIN_ACCOUNT_SLOWDOWN: z.coerce.number().int().min(1).default(20),
    MFA_MAX_FAILURES: z.coerce.number().int().min(1).default(5),
    MFA_FAILURE_WINDOW: duration('15m'),
    MFA_LOCK_DURATION: duration('15m'),
    RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(60),
    AGENT_RATE_LIMIT_PER_MINUTE: z.coerce.number().int().min(1).default(600),

    /**
     * HTTP server limits (api/http/http-server.ts): the whole request head, and the whole
     * request, must arrive within these (a client dripping bytes is cut off); an idle
     * keep-alive connection closes after HTTP_KEEP_ALIVE_TIMEOUT. Responses (SSE streams)
     * are not limited. At most HTTP_MAX_CONNECTIONS_PER_ADDRESS open connections per client
     * address (0: no cap — behind a proxy every connection comes from the proxy).
     */
    HTTP_HEADERS_TIMEOUT: duration('10s'),
    HTTP_REQUEST_TIMEOUT: duration('30s'),
    HTTP_KEEP_ALIVE_TIMEOUT: duration('5s'),
    HTTP_MAX_CONNECTIONS_PER_ADDRESS: z.coerce.number().int().min(0).max(100_000).default(64),

    /** Tests only: lets a test move the clock. Refused in production. */
    ALLOW_TEST_CLOCK: flag(false),
    /** Development and tests only: webhook receivers on loopback. Refused in production. */
    WEBHOOK_ALLOW_LOOPBACK: flag(false),
    /**
     * With WEBHOOK_ALLOW_LOOPBACK: the only loopback ports receivers may use, e.g. `9000,9100-9199`.
     * Unset: any port except the stack's own (domains/webhooks/url-policy.ts, `stackPorts`).
     */
    WEBHOOK_LOOPBACK_PORTS: z.string().optional(),
  })
  .superRefine((env, ctx) => {
    const require = (key: keyof typeof env, why: string) => {
      if (env[key] === undefined) ctx.addIssue({ code: 'custom', path: [key], message: `required ${why}` });
    };
    const production = env.NODE_ENV === 'production';
    // No secret has a default anywhere: `npm run dev` and `npm test` generate them.
    require('JWT_SECRET_KEY', '(at least 32 characters)');
    require('AUDIT_HMAC_KEY', '(at least 32 characters)');
    require('API_KEY_HMAC_KEY', '(at least 32 characters)');
    if (production) {
      for (const key of ['ALLOW_TEST_CLOCK', 'WEBHOOK_ALLOW_LOOPBACK'] as const) {
        if (env[key]) ctx.addIssue({ code: 'custom', path: [key], message: 'cannot be enabled in production' });
      }
    }
    if (env.KEYSTORE === 'vault') {
      require('VAULT_ADDR', 'when KEYSTORE=vault');
      if (env.VAULT_CACERT !== undefined && env.VAULT_ADDR?.startsWith('http:')) {
        ctx.addIssue({ code: 'custom', path: ['VAULT_CACERT'], message: 'a CA certificate needs an https:// VAULT_ADDR' });
      }
      const approle = env.VAULT_ROLE_ID !== undefined || env.VAULT_SECRET_ID !== undefined;
      if (!env.VAULT_TOKEN && !approle) {
        ctx.addIssue({ code: 'custom', path: ['VAULT_TOKEN'], message: 'VAULT_TOKEN or VAULT_ROLE_ID + VAULT_SECRET_ID required when KEYSTORE=vault' });
      }
      if (approle) {
        require('VAULT_ROLE_ID', 'with AppRole authentication');
        require('VAULT_SECRET_ID', 'with AppRole authentication');
      }
    } else if (!env.KEYSTORE_PASSPHRASE && !env.KEYSTORE_KEY_FILE) {
      ctx.addIssue({ code: 'custom', path: ['KEYSTORE_PASSPHRASE'], message: 'KEYSTORE_PASSPHRASE or KEYSTORE_KEY_FILE required when KEYSTORE=local' });
    }
    if (env.LOGIN_FAILURE_WINDOW <= env.LOGIN_BACKOFF_MAX) {
      ctx.addIssue({ code: 'custom', path: ['LOGIN_FAILURE_WINDOW'], message: 'must be longer than LOGIN_BACKOFF_MAX (a waiting source would otherwise be forgotten)' });
    }
    if (env.HTTP_REQUEST_TIMEOUT < env.HTTP_HEADERS_TIMEOUT) {
      ctx.addIssue({ code: 'custom', path: ['HTTP_REQUEST_TIMEOUT'], message: 'must be at least HTTP_HEADERS_TIMEOUT' });
    }
    if (env.WEBHOOK_LOOPBACK_PORTS !== undefined && parsePortList(env.WEBHOOK_LOOPBACK_PORTS) === undefined) {
      ctx.addIssue({ code: 'custom', path: ['WEBHOOK_LOOPBACK_PORTS'], message: 'expected ports and ranges like 9000,9100-9199' });
    }
    for (const origin of codecOrigins(env.CODEC_CORS_ORIGINS)) {
      if (!/^https?:\/\/[^/\s]+$/.test(origin)) ctx.addIssue({ code: 'custom', path: ['CODEC_CORS_ORIGINS'], message: `expected origins like http://127.0.0.1:8233, got ${origin}` });
    }
    if ((env.TEMPORAL_TLS_CERT === undefined) !== (env.TEMPORAL_TLS_KEY === undefined)) {
      const missing = env.TEMPORAL_TLS_CERT === undefined ? 'TEMPORAL_TLS_CERT' : 'TEMPORAL_TLS_KEY';
      ctx.addIssue({ code: 'custom', path: [missing], message: 'TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together (the client certificate and its key)' });
    }
    if (production && env.TEMPORAL_TLS_CERT === undefined && !isLoopbackAddress(env.TEMPORAL_ADDRESS)) {
      ctx.addIssue({
        code: 'custom',
        path: ['TEMPORAL_TLS_CERT'],
        message: `required in production for a Temporal server off loopback (${env.TEMPORAL_ADDRESS}): without mTLS anyone who reaches it can send messages and read history (scripts/temporal-certs.sh makes certificates)`,
      });
    }
    if (env.CHAIN_RPC_URLS !== undefined && parseChainMap(env.CHAIN_RPC_URLS) === undefined) {
      ctx.addIssue({ code: 'custom', path: ['CHAIN_RPC_URLS'], message: 'expected JSON like {"1":"https://rpc.example"}' });
    }
    if (env.CHAIN_EXPLORER_URLS !== undefined) {
      const problem = explorerProblem(env.CHAIN_EXPLORER_URLS, configuredChains(env), production);
      if (problem) ctx.addIssue({ code: 'custom', path: ['CHAIN_EXPLORER_URLS'], message: problem });
    }
  });

export type Env = z.output<typeof schema>;

export interface Config extends Env {
  /** chain id → RPC URL; always contains CHAIN_ID. */
  chains: ReadonlyMap<number, string>;
  /** chain id → block explorer base URL without a trailing slash; only configured chains. */
  explorers: ReadonlyMap<number, string>;
  production: boolean;
}

/** `9000,9100-9199` → the set of ports; undefined when malformed (or a range is backwards). */
export function parsePortList(raw: string): ReadonlySet<number> | undefined {
  const ports = new Set<number>();
  for (const part of raw.split(',').map((p) => p.trim())) {
    const match = /^([1-9][0-9]{0,4})(?:-([1-9][0-9]{0,4}))?$/.exec(part);
    if (!match) return undefined;
    const from = Number(match[1]);
    const to = Number(match[2] ?? match[1]);
    if (from > 65535 || to > 65535 || to < from) return undefined;
    for (let port = from; port <= to; port += 1) ports.add(port);
  }
  return ports.size > 0 ? ports : undefined;
}

/** Variables that were replaced: set, they would be silently ignored, so they are refused with what replaced them. */
const REPLACED: Record<string, string> = {
  LOGIN_MAX_FAILURES: 'logins are throttled per source and account now (LOGIN_FREE_FAILURES, LOGIN_BACKOFF_MAX, LOGIN_FAILURE_WINDOW, LOGIN_ACCOUNT_SLOWDOWN); remove it',
  LOGIN_LOCK_DURATION: 'accounts are no longer locked (see LOGIN_BACKOFF_MAX); remove it',
};

function parseChainMap(raw: string): Map<number, string> | undefined {
  try {
    const parsed = z.record(z.string().regex(/^[1-9]\d{0,15}$/), url).parse(JSON.parse(raw));
    return new Map(Object.entries(parsed).map(([id, rpc]) => [Number(id), rpc]));
  } catch {
    return undefined;
  }
}

function configuredChains(env: { CHAIN_ID: number; CHAIN_RPC_URLS?: string | undefined }): Set<number> {
  return new Set([env.CHAIN_ID, ...(env.CHAIN_RPC_URLS ? [...(parseChainMap(env.CHAIN_RPC_URLS)?.keys() ?? [])] : [])]);
}

/**
 * Explorer links are shown to the approver beside addresses, so the base URL
 * must be plain: http(s) (https in production), no credentials, query or
 * fragment (a path is fine: some explorers serve several chains), and only
 * for chains that are configured.
 */
function explorerProblem(raw: string, chains: Set<number>, production: boolean): string | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return 'expected JSON like {"1":"https://etherscan.io"}';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'expected JSON like {"1":"https://etherscan.io"}';
  for (const [id, value] of Object.entries(parsed)) {
    if (!/^[1-9]\d{0,15}$/.test(id)) return `"${id.slice(0, 20)}" is not a chain id`;
    if (!chains.has(Number(id))) return `chain ${id} has an explorer but no RPC (CHAIN_ID / CHAIN_RPC_URLS)`;
    let url: URL;
    try {
      if (typeof value !== 'string') throw new Error('not a string');
      url = new URL(value);
    } catch {
      return `chain ${id}: expected an http(s) URL`;
    }
    if (url.protocol !== 'https:' && (production || url.protocol !== 'http:')) return `chain ${id}: expected an ${production ? 'https' : 'http(s)'} URL`;
    if (url.username || url.password || url.search || url.hash) return `chain ${id}: the URL must not carry credentials, a query or a fragment`;
  }
  return undefined;
}

function parseExplorerMap(raw: string | undefined): Map<number, string> {
  if (!raw) return new Map();
  const parsed = JSON.parse(raw) as Record<string, string>;
  return new Map(Object.entries(parsed).map(([id, url]) => [Number(id), new URL(url).href.replace(/\/+$/, '')]));
}

/** `127.0.0.1:7233`, `localhost:7233`, `[::1]:7233`: traffic that never leaves the host. */
export function isLoopbackAddress(address: string): boolean {
  const host = address.startsWith('[') ? address.slice(1, address.indexOf(']')) : address.split(':')[0]!;
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** CODEC_CORS_ORIGINS as a list. */
export function codecOrigins(raw: string): string[] {
  return raw
    .split(',')
    .map((origin) => origin.trim())
    .filter((origin) => origin !== '');
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Secrets that may come from a file (`NAME_FILE=/run/secrets/name`): compose and orchestrator secrets stay out of the environment. */
export const SECRET_FILE_VARIABLES = [
  'DATABASE_URL',
  'MIGRATION_DATABASE_URL',
  'JWT_SECRET_KEY',
  'AUDIT_HMAC_KEY',
  'API_KEY_HMAC_KEY',
  'CODEC_OPERATOR_TOKEN',
  'VAULT_TOKEN',
  'VAULT_SECRET_ID',
  'KEYSTORE_PASSPHRASE',
] as const;

/**
 * `NAME_FILE` → `NAME` (the file's contents, trimmed) for every name of SECRET_FILE_VARIABLES.
 * Both set is refused rather than one silently winning; an unreadable or empty file is a
 * problem named like any other (the message never holds the contents).
 */
function readSecretFiles(source: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; problems: string[] } {
  const env = { ...source };
  const problems: string[] = [];
  for (const name of SECRET_FILE_VARIABLES) {
    const file = source[`${name}_FILE`];
    delete env[`${name}_FILE`];
    if (file === undefined || file === '') continue;
    if (source[name] !== undefined && source[name] !== '') {
      problems.push(`  ${name}_FILE: set either ${name} or ${name}_FILE, not both`);
      continue;
    }
    try {
      const value = readFileSync(file, 'utf8').trim();
      if (value === '') problems.push(`  ${name}_FILE: ${file} is empty`);
      else env[name] = value;
    } catch (error) {
      problems.push(`  ${name}_FILE: cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  return { env, problems };
}

/**
 * The environment with every `NAME_FILE` of SECRET_FILE_VARIABLES read into
 * `NAME`, for scripts that read a few variables themselves (scripts/admin.ts);
 * throws ConfigError naming the problem.
 */
export function withSecretFiles(source: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const { env, problems } = readSecretFiles(source);
  if (problems.length > 0) throw new ConfigError(`invalid configuration:\n${problems.join('\n')}`);
  return env;
}

/** Parses `source` with `target`; a variable of `replacedKeys` that is set is a problem too (named with what replaced it). */
function parseEnvironment<T extends z.ZodType>(target: T, raw: NodeJS.ProcessEnv, replacedKeys: Record<string, string> = {}): z.output<T> {
  const { env: source, problems: fileProblems } = readSecretFiles(raw);
  // Empty strings count as unset, as in most .env tooling.
  const cleaned = Object.fromEntries(Object.entries(source).filter(([, v]) => v !== undefined && v !== ''));
  const result = target.safeParse(cleaned);
  const replaced = Object.keys(replacedKeys)
    .filter((key) => key in cleaned)
    .map((key) => `  ${key}: ${replacedKeys[key]}`);
  if (!result.success || replaced.length > 0 || fileProblems.length > 0) {
    const problems = (result.error?.issues ?? []).map((issue) => {
      const name = issue.path.join('.') || '(environment)';
      const message = issue.code === 'invalid_type' && issue.input === undefined ? 'is required' : issue.message;
      return `  ${name}: ${message}`;
    });
    throw new ConfigError(`invalid configuration:\n${[...fileProblems, ...problems, ...replaced].join('\n')}`);
  }
  return result.data;
}

/** Reads and validates the environment; throws one ConfigError naming every problem. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const env = parseEnvironment(schema, source, REPLACED);
  const chains = new Map(env.CHAIN_RPC_URLS ? parseChainMap(env.CHAIN_RPC_URLS) : []);
  chains.set(env.CHAIN_ID, env.WEB3_PROVIDER_URI);
  return { ...env, chains, explorers: parseExplorerMap(env.CHAIN_EXPLORER_URLS), production: env.NODE_ENV === 'production' };
}

/**
 * The migration step (`npm run migrate`, the compose `migrate` service, `npm run keys:rotate`):
 * it connects as the schema owner and grants the app roles named here (lib/db-roles.ts).
 */
const migrationSchema = z
  .object({
    /** The schema owner: runs migrations, owns tables, functions and triggers. Never given to the API or the worker. */
    MIGRATION_DATABASE_URL: postgresUrl,
    DATABASE_API_ROLE: roleName(DEFAULT_ROLE_NAMES.api),
    DATABASE_WORKER_ROLE: roleName(DEFAULT_ROLE_NAMES.worker),
  })
  .refine((env) => env.DATABASE_API_ROLE !== env.DATABASE_WORKER_ROLE, { path: ['DATABASE_WORKER_ROLE'], message: 'the API and the worker need different roles' });

export type MigrationConfig = z.output<typeof migrationSchema>;

export function loadMigrationConfig(source: NodeJS.ProcessEnv = process.env): MigrationConfig & { roles: { api: string; worker: string } } {
  const env = parseEnvironment(migrationSchema, source);
  return { ...env, roles: { api: env.DATABASE_API_ROLE, worker: env.DATABASE_WORKER_ROLE } };
}
