/**
 * `npm run restore -- <dir>` — restores a backup made by `npm run backup` into a fresh stack
 * (admin/backup.ts; the steps around it: docs/operations.md "Backup and restore").
 *
 *   --only openbao    the snapshot into a fresh, initialised and unsealed OpenBao
 *                     (snapshot-force), with that server's root token (or its init JSON) on
 *                     stdin. Afterwards it is the backed-up OpenBao: a Shamir-sealed one must
 *                     be unsealed with the unseal keys of the backup's time.
 *   --only postgres   the tables into an EMPTY database (refused otherwise, and refused when
 *                     the backup's migrations are ahead of this code), then verifies the row
 *                     counts and the audit chain
 *   (neither)         OpenBao, then PostgreSQL; stops after OpenBao if it came back sealed
 *
 *   MIGRATION_DATABASE_URL, DATABASE_API_ROLE, DATABASE_WORKER_ROLE   as for `npm run migrate`
 *   AUDIT_HMAC_KEY    the one of the backed-up stack (the chain is verified with it)
 *   VAULT_ADDR        the fresh OpenBao
 *
 * Exit status 0 done, 1 refused (not empty, ahead, a file altered, a broken chain), 2 could not run.
 */
import 'dotenv/config';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ConfigError, loadMigrationConfig, withSecretFiles } from '../config/env';
import { DatabaseAheadError } from '../lib/db';
import { BackupError, readBackup, restoreOpenBao, restorePostgres } from '../admin/backup';
import { redactedError } from './infra/dev-credentials';

const Env = z.object({ AUDIT_HMAC_KEY: z.string().min(32, 'at least 32 characters').optional(), VAULT_ADDR: z.string().url().optional() });

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The token, or the init JSON `scripts/openbao-init.sh` wrote (its root_token). */
function rootTokenOf(text: string): string | undefined {
  const trimmed = text.trim();
  if (!trimmed.startsWith('{')) return trimmed || undefined;
  const parsed = JSON.parse(trimmed) as { root_token?: unknown };
  return typeof parsed.root_token === 'string' ? parsed.root_token : undefined;
}

const say = (line: string) => process.stdout.write(`restore: ${line}\n`);

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { only: { type: 'string' }, help: { type: 'boolean' } }, allowPositionals: true, strict: true });
  const only = values.only;
  if (values.help || positionals.length !== 1 || (only !== undefined && only !== 'openbao' && only !== 'postgres')) {
    process.stderr.write('usage: npm run restore -- <backup directory> [--only openbao|postgres]\n');
    return values.help ? 0 : 2;
  }
  const dir = positionals[0]!;
  const source = withSecretFiles(process.env);
  const env = Env.parse(Object.fromEntries(Object.entries(source).filter(([, v]) => v !== '')));
  const manifest = await readBackup(dir);
  say(`backup of ${manifest.created_at}: ${manifest.postgres.tables.length} tables, ${manifest.postgres.migrations.length} migrations, every file matches its SHA-256`);

  if (only !== 'postgres') {
    if (!env.VAULT_ADDR) throw new ConfigError('VAULT_ADDR (the fresh OpenBao) is required to restore its snapshot');
    const rootToken = rootTokenOf(await readStdin());
    if (!rootToken) throw new ConfigError('the fresh OpenBao\'s root token (or its init JSON) is read on stdin');
    const state = await restoreOpenBao({ address: env.VAULT_ADDR, rootToken, dir, manifest });
    say(`OpenBao: snapshot installed; ${state === 'unsealed' ? 'unsealed' : 'SEALED: unseal it with the unseal keys of the backup\'s time'}. The root token given is no longer valid; the backed-up tokens are`);
    if (state === 'sealed' && only === undefined) {
      say('then run again with --only postgres');
      return 0;
    }
  }
  if (only !== 'openbao') {
    const migration = loadMigrationConfig(source);
    if (!env.AUDIT_HMAC_KEY) throw new ConfigError('AUDIT_HMAC_KEY (the backed-up stack\'s) is required to verify the restored audit chain');
    const report = await restorePostgres({ url: migration.MIGRATION_DATABASE_URL, roles: migration.roles, auditHmacKey: env.AUDIT_HMAC_KEY, dir, manifest });
    say(`PostgreSQL: ${report.tables} tables, ${report.rows} rows${report.migratedAfter.length ? `, then migrated ${report.migratedAfter.join(', ')}` : ''}; audit chain intact (${report.auditEntries} entries)`);
    say('start the workers: the reconciler re-drives every request in flight within a minute (check: npm run admin -- stuck)');
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const refused = err instanceof BackupError || err instanceof DatabaseAheadError;
    process.stderr.write(`restore ${refused ? 'refused' : 'failed'}: ${refused || err instanceof ConfigError ? (err as Error).message : redactedError(err)}\n`);
    process.exit(refused ? 1 : 2);
  },
);
