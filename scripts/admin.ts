/**
 * `npm run admin -- <command>` — the operator's tool (docs/operations.md, "Admin commands").
 *
 *   stuck [--older-than 15m] [--status s,…] [--limit 50]   requests not final that stopped moving
 *   show <transaction-id>                                  one request: row, history, workflow
 *   cancel <transaction-id> --reason <text>                stop a request before signing
 *   redrive [--grace 15s]                                  start (or resume) missing workflows now (the reconciler)
 *   resend <transaction-id> [--wait]                       re-send its failed webhook deliveries
 *   freeze wallet|agent <id> --reason <text>               stop all signing for it
 *   unfreeze wallet|agent <id> --reason <text>
 *   audit verify [--expect-count <n>]                      recompute the audit chain
 *
 * `--json` prints what a command found as JSON; `--operator <name>` names who
 * runs it in the audit log (default: the login name).
 *
 * Credentials: the schema owner's MIGRATION_DATABASE_URL and AUDIT_HMAC_KEY;
 * the Temporal commands also need the API's environment (its Temporal address
 * and certificate, and its key-store credential, which unwraps the payload
 * codec's data keys and opens no wallet key). Beside `npm run dev`, with none
 * of them set, it reads the dev stack's own from .data/. Exit status: 0 done,
 * 1 refused (or the chain is broken), 2 could not run.
 */
import 'dotenv/config';
import os from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { loadConfig, parseDurationSeconds, withSecretFiles } from '../config/env';
import { createDb, type Db } from '../lib/db';
import { AppError } from '../lib/errors';
import { connectTemporal, temporalTls } from '../lib/temporal';
import { createAuditLog } from '../domains/audit';
import { createKeyStore } from '../domains/keystore';
import { createHistoryKeyring, historyDataConverter } from '../domains/history';
import { TRANSACTION_STATUSES, type TransactionStatus } from '../workflows/definitions';
import * as admin from '../admin/commands';
import { redactedError, useDevCredentials } from './infra/dev-credentials';

const USAGE = `usage: npm run admin -- <command> [options]
  stuck [--older-than 15m] [--status pending_approval,approved,…] [--limit 50]
  show <transaction-id>
  cancel <transaction-id> --reason <text>
  redrive [--grace 15s]
  resend <transaction-id> [--wait]
  freeze wallet|agent <id> --reason <text>
  unfreeze wallet|agent <id> --reason <text>
  audit verify [--expect-count <n>]
options: --json, --operator <name>`;

class UsageError extends Error {}

const OPTIONS = {
  'older-than': { type: 'string' },
  status: { type: 'string' },
  limit: { type: 'string' },
  reason: { type: 'string' },
  grace: { type: 'string' },
  wait: { type: 'boolean' },
  json: { type: 'boolean' },
  operator: { type: 'string' },
  'expect-count': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>['values'];

const Uuid = z.uuid();
function uuidArg(value: string | undefined, what: string): string {
  if (!value || !Uuid.safeParse(value).success) throw new UsageError(`${what}: expected a UUID`);
  return value.toLowerCase();
}

function reasonOf(values: Values): string {
  const reason = values.reason?.trim();
  if (!reason) throw new UsageError('--reason <text> is required: it goes to the audit log');
  return reason;
}

/** `0` or a duration like 90s, 15m, 2h. */
function durationMs(value: string | undefined, fallback: number, what: string): number {
  if (value === undefined) return fallback;
  if (value.trim() === '0') return 0;
  const seconds = parseDurationSeconds(value);
  if (seconds === undefined) throw new UsageError(`${what}: expected a duration like 90s, 15m or 2h`);
  return seconds * 1000;
}

function positiveInt(value: string | undefined, fallback: number, what: string, max = 10_000): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${what}: expected a whole number from 1 to ${max}`);
  return n;
}

function statusesOf(value: string | undefined): TransactionStatus[] | undefined {
  if (value === undefined) return undefined;
  const statuses = value.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = statuses.filter((s) => !(TRANSACTION_STATUSES as readonly string[]).includes(s));
  if (unknown.length) throw new UsageError(`--status: unknown ${unknown.join(', ')} (one of ${TRANSACTION_STATUSES.join(', ')})`);
  return statuses as TransactionStatus[];
}

const Env = z.object({
  MIGRATION_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL (the schema owner)'),
  AUDIT_HMAC_KEY: z.string().min(32, 'at least 32 characters'),
});

const iso = (d: Date | null | undefined) => (d ? d.toISOString() : '-');
const age = (from: Date, now: Date) => {
  const s = Math.max(0, Math.round((now.getTime() - from.getTime()) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : s < 172_800 ? `${Math.round(s / 3600)}h` : `${Math.round(s / 86_400)}d`;
};

interface Session {
  deps: admin.AdminDeps;
  close(): Promise<void>;
}

/** The owner's connection, and Temporal through the payload codec (only the commands that need it). */
async function open(db: Db, hmacKey: string, operator: string, withTemporal: boolean): Promise<Session> {
  const audit = createAuditLog({ db, hmacKey });
  if (!withTemporal) return { deps: { db, audit, now: () => new Date(), operator }, close: async () => {} };
  const config = loadConfig();
  const keystore = await createKeyStore(config);
  const keyring = createHistoryKeyring({ db, keystore });
  const { connection, client } = await connectTemporal({
    address: config.TEMPORAL_ADDRESS,
    namespace: config.TEMPORAL_NAMESPACE,
    tls: temporalTls(config),
    dataConverter: historyDataConverter(keyring),
  });
  return {
    deps: { db, temporal: { client, taskQueue: config.TEMPORAL_TASK_QUEUE }, audit, now: () => new Date(), operator },
    close: async () => {
      keyring.close();
      await connection.close();
      await keystore.close();
    },
  };
}

const say = (line = '') => process.stdout.write(`${line}\n`);
const json = (value: unknown) => say(JSON.stringify(value, null, 2));

async function run(command: string, args: string[], values: Values, deps: admin.AdminDeps, hmacKey: string): Promise<number> {
  const now = deps.now();
  switch (command) {
    case 'stuck': {
      const rows = await admin.listStuck(deps, {
        olderThanMs: durationMs(values['older-than'], 15 * 60_000, '--older-than'),
        ...(values.status ? { statuses: statusesOf(values.status)! } : {}),
        limit: positiveInt(values.limit, 50, '--limit', 1000),
      });
      if (values.json) {
        json(rows);
        return 0;
      }
      if (rows.length === 0) {
        say('no stuck requests');
        return 0;
      }
      say(['id'.padEnd(36), 'status'.padEnd(22), 'workflow'.padEnd(11), 'created', 'unchanged for', 'error'].join('  '));
      for (const r of rows) {
        const status = r.status === r.effectiveStatus ? r.status : `${r.status}→${r.effectiveStatus}`;
        say([r.id, status.padEnd(22), r.workflow.padEnd(11), iso(r.createdAt), age(r.updatedAt, now).padEnd(13), r.error ?? ''].join('  '));
      }
      if (rows.some((r) => r.workflow === 'missing')) say('\nA request whose workflow is missing waits for nothing: `npm run admin -- redrive` starts it.');
      return 0;
    }
    case 'show': {
      const d = await admin.showTransaction(deps, uuidArg(args[0], 'show <transaction-id>'));
      if (values.json) {
        json(d);
        return 0;
      }
      const r = d.request;
      say(`transaction ${String(r.id)}`);
      for (const key of ['status', 'effective_status', 'kind', 'chain_id', 'from_address', 'to_address', 'value', 'amount', 'wallet_id', 'agent_id', 'user_id', 'digest', 'tx_hash', 'error', 'last_error']) {
        const value = r[key];
        if (value !== null && value !== undefined) say(`  ${key.padEnd(18)} ${value instanceof Date ? value.toISOString() : String(value)}`);
      }
      for (const key of ['created_at', 'expires_at', 'approved_at', 'execution_expires_at', 'decided_at', 'updated_at']) {
        if (r[key]) say(`  ${key.padEnd(18)} ${iso(r[key] as Date)}`);
      }
      say('history');
      for (const e of d.events) say(`  v${String(e.version).padEnd(3)} ${e.status.padEnd(17)} ${iso(e.at)}`);
      if (d.approval) say(`approval ${d.approval.id} by user ${d.approval.userId} at ${iso(d.approval.at)}`);
      for (const c of d.commands) say(`command ${c.kind} by ${c.actor} at ${iso(c.at)}${c.reason ? ` — ${c.reason}` : ''}`);
      if (d.signed) say(`signed ${d.signed.txHash} nonce ${d.signed.nonce} at ${iso(d.signed.at)}`);
      say('audit');
      for (const a of d.audit) say(`  #${a.id} ${a.action} by ${a.actor} at ${iso(a.at)}`);
      const w = d.workflow;
      say(`workflow ${w.state}${w.runId ? ` (run ${w.runId}, ${w.historyLength} events, started ${iso(w.startedAt)}, closed ${iso(w.closedAt)})` : ''}`);
      for (const a of w.pendingActivities ?? []) say(`  pending ${a.type} attempt ${a.attempt}${a.lastFailure ? `: ${a.lastFailure}` : ''}`);
      return 0;
    }
    case 'cancel': {
      const state = await admin.cancel(deps, uuidArg(args[0], 'cancel <transaction-id>'), reasonOf(values));
      if (values.json) json(state);
      else say(`cancelled (status ${state.status}, version ${state.version})`);
      return 0;
    }
    case 'redrive': {
      const report = await admin.redrive(deps, { graceMs: durationMs(values.grace, 15_000, '--grace') });
      if (values.json) {
        json(report);
        return 0;
      }
      say(`checked ${report.checked} waiting and in-flight requests; started ${report.started.length} missing workflows`);
      // A worker older than resumes reports none.
      const resumed = new Set(report.resumed ?? []);
      for (const id of report.started) say(resumed.has(id) ? `  resumed ${id}` : `  started ${id}`);
      return 0;
    }
    case 'resend': {
      const result = await admin.resend(deps, uuidArg(args[0], 'resend <transaction-id>'), { wait: values.wait ?? false });
      if (values.json) {
        json(result);
        return 0;
      }
      if (!result.versions) say(`re-sending in workflow ${result.workflowId} (--wait to wait for it)`);
      else say(result.versions.length ? `re-sent the failed deliveries of versions ${result.versions.join(', ')}` : 'no failed deliveries to re-send');
      return 0;
    }
    case 'freeze':
    case 'unfreeze': {
      const target = args[0];
      if (target !== 'wallet' && target !== 'agent') throw new UsageError(`${command} wallet|agent <id>`);
      const id = uuidArg(args[1], `${command} ${target} <id>`);
      const changed = command === 'freeze' ? await admin.freeze(deps, target, id, reasonOf(values)) : await admin.unfreeze(deps, target, id, reasonOf(values));
      say(changed ? `${target} ${id} ${command === 'freeze' ? 'frozen' : 'unfrozen'}` : `${target} ${id} was ${command === 'freeze' ? 'frozen already' : 'not frozen'}`);
      return 0;
    }
    case 'audit': {
      if (args[0] !== 'verify') throw new UsageError('audit verify [--expect-count <n>]');
      const expected = values['expect-count'] === undefined ? undefined : positiveInt(values['expect-count'], 0, '--expect-count', Number.MAX_SAFE_INTEGER);
      const result = await admin.auditVerify(deps.db, hmacKey, expected);
      if (values.json) json(result.verification);
      else say(result.line);
      return result.intact ? 0 : 1;
    }
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

const TEMPORAL_COMMANDS = new Set(['stuck', 'show', 'cancel', 'redrive', 'resend']);

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ options: OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    process.stderr.write(`admin: ${(err as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const [command, ...args] = parsed.positionals;
  if (!command || parsed.values.help) {
    process.stdout.write(`${USAGE}\n`);
    return parsed.values.help ? 0 : 2;
  }
  const dev = useDevCredentials();
  let source: NodeJS.ProcessEnv;
  try {
    source = withSecretFiles(process.env);
  } catch (err) {
    process.stderr.write(`admin: ${(err as Error).message}\n`);
    return 2;
  }
  const env = Env.safeParse(Object.fromEntries(Object.entries(source).filter(([, v]) => v !== '')));
  if (!env.success) {
    for (const issue of env.error.issues) process.stderr.write(`admin: ${issue.path.join('.')}: ${issue.message}\n`);
    process.stderr.write('admin: set them (or run beside `npm run dev`, whose credentials it reads from .data/)\n');
    return 2;
  }
  if (dev) process.stderr.write('admin: using the dev stack\'s credentials (.data/)\n');
  const operator = parsed.values.operator?.trim() || os.userInfo().username;
  const db = createDb({ url: env.data.MIGRATION_DATABASE_URL, poolMax: 2, applicationName: 'countersign-admin', statementTimeoutMs: 600_000 });
  let session: Session | undefined;
  try {
    session = await open(db, env.data.AUDIT_HMAC_KEY, operator, TEMPORAL_COMMANDS.has(command));
    return await run(command, args, parsed.values, session.deps, env.data.AUDIT_HMAC_KEY);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`admin: ${err.message}\n${USAGE}\n`);
      return 2;
    }
    if (err instanceof AppError) {
      process.stderr.write(`admin: ${err.message}${err.extra?.reason ? ` (${String(err.extra.reason)})` : ''}\n`);
      return 1;
    }
    process.stderr.write(`admin: ${command} failed: ${redactedError(err)}\n`);
    return 2;
  } finally {
    await session?.close();
    await db.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`admin failed: ${redactedError(err)}\n`);
    process.exit(2);
  },
);
