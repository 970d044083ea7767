/**
 * `npm run audit:verify` — recomputes the audit log's HMAC chain and names the
 * first broken row.
 *
 * Needs AUDIT_HMAC_KEY and a role that may read the whole audit log:
 * MIGRATION_DATABASE_URL (the schema owner), else DATABASE_URL (an auditor's
 * read-only role of your own — not the API's or the worker's: they may read only
 * the chain's tail, lib/db-roles.ts). From the environment or .env. Prints
 * one line; exit status 0 when the chain holds, 1 when it is broken, 2 when it
 * could not be checked. Beside `npm run dev`, with neither URL set, it reads the
 * dev stack's credentials from .data/ itself. `--expect-count <n>` also fails when the chain is
 * shorter than a count recorded earlier (rows cut from the end leave a valid
 * shorter chain, which only an outside record can reveal).
 */
import 'dotenv/config';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { withSecretFiles } from '../config/env';
import { createDb } from '../lib/db';
import { auditVerify } from '../admin/commands';
import { redactedError, useDevCredentials } from './infra/dev-credentials';

const postgresUrl = z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL');
const Env = z
  .object({
    MIGRATION_DATABASE_URL: postgresUrl.optional(),
    DATABASE_URL: postgresUrl.optional(),
    AUDIT_HMAC_KEY: z.string().min(32, 'at least 32 characters'),
  })
  .refine((env) => env.MIGRATION_DATABASE_URL || env.DATABASE_URL, { path: ['MIGRATION_DATABASE_URL'], message: 'MIGRATION_DATABASE_URL (or DATABASE_URL) is required' });

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { 'expect-count': { type: 'string' } }, strict: true });
  if (useDevCredentials()) process.stderr.write('audit:verify: using the dev stack\'s credentials (.data/)\n');
  let source: NodeJS.ProcessEnv;
  try {
    source = withSecretFiles(process.env);
  } catch (err) {
    process.stderr.write(`audit:verify: ${(err as Error).message}\n`);
    return 2;
  }
  const env = Env.safeParse(Object.fromEntries(Object.entries(source).filter(([, v]) => v !== '')));
  if (!env.success) {
    for (const issue of env.error.issues) process.stderr.write(`audit:verify: ${issue.path.join('.')}: ${issue.message}\n`);
    return 2;
  }
  const db = createDb({ url: (env.data.MIGRATION_DATABASE_URL ?? env.data.DATABASE_URL)!, poolMax: 2, applicationName: 'countersign-audit-verify', statementTimeoutMs: 600_000 });
  try {
    const expected = values['expect-count'] === undefined ? undefined : Number(values['expect-count']);
    const result = await auditVerify(db, env.data.AUDIT_HMAC_KEY, expected);
    process.stdout.write(`${result.line}\n`);
    return result.intact ? 0 : 1;
  } catch (err) {
    const denied = (err as { code?: unknown }).code === '42501';
    const hint = denied ? ' — this role may not read the whole log (the API\'s and the worker\'s read only its tail): use MIGRATION_DATABASE_URL' : '';
    process.stderr.write(`audit:verify could not read the audit log: ${redactedError(err)}${hint}\n`);
    return 2;
  } finally {
    await db.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`audit:verify failed: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  },
);
