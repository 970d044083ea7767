/**
 * `npm run backup -- <dir>` — a backup of Countersign's state into a new directory
 * (admin/backup.ts; docs/operations.md "Backup and restore"): the OpenBao raft snapshot,
 * then every PostgreSQL table in one consistent snapshot, then manifest.json. Temporal
 * needs nothing (the reconciler re-drives in-flight requests after a restore).
 *
 *   MIGRATION_DATABASE_URL   the schema owner (or MIGRATION_DATABASE_URL_FILE)
 *   VAULT_ADDR, VAULT_TOKEN  OpenBao and a token with the countersign-backup policy
 *                            (VAULT_TOKEN_FILE; compose: deploy/secrets/vault_backup_token)
 *   --no-openbao             PostgreSQL only (KEYSTORE=local, or OpenBao backed up elsewhere)
 *
 * Exit status 0 done, 2 could not run. In compose: `docker compose run --rm backup /backups/<name>`.
 */
import 'dotenv/config';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { withSecretFiles } from '../config/env';
import { BackupError, createBackup } from '../admin/backup';
import { redactedError } from './infra/dev-credentials';

const Env = z.object({
  MIGRATION_DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'expected a postgres:// URL'),
  VAULT_ADDR: z.string().url().optional(),
  VAULT_TOKEN: z.string().min(1).optional(),
});

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({ options: { 'no-openbao': { type: 'boolean' }, help: { type: 'boolean' } }, allowPositionals: true, strict: true });
  if (values.help || positionals.length !== 1) {
    process.stderr.write('usage: npm run backup -- <new directory> [--no-openbao]\n');
    return values.help ? 0 : 2;
  }
  const env = Env.safeParse(Object.fromEntries(Object.entries(withSecretFiles(process.env)).filter(([, v]) => v !== '')));
  if (!env.success) {
    for (const issue of env.error.issues) process.stderr.write(`backup: ${issue.path.join('.')}: ${issue.message}\n`);
    return 2;
  }
  const withOpenBao = !values['no-openbao'];
  if (withOpenBao && (!env.data.VAULT_ADDR || !env.data.VAULT_TOKEN)) {
    process.stderr.write('backup: VAULT_ADDR and VAULT_TOKEN (the countersign-backup token) are required, or pass --no-openbao\n');
    return 2;
  }
  const dir = positionals[0]!;
  const manifest = await createBackup({
    dir,
    databaseUrl: env.data.MIGRATION_DATABASE_URL,
    openbao: withOpenBao ? { address: env.data.VAULT_ADDR!, token: env.data.VAULT_TOKEN! } : undefined,
  });
  const rows = manifest.postgres.tables.reduce((sum, t) => sum + t.rows, 0);
  process.stdout.write(
    `backup: ${dir}: ${manifest.openbao ? `OpenBao snapshot (${manifest.openbao.bytes} bytes), ` : ''}${manifest.postgres.tables.length} tables, ${rows} rows, ` +
      `${manifest.postgres.migrations.length} migrations; keep it with the unseal keys of today, apart from them\n`,
  );
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`backup failed: ${err instanceof BackupError ? err.message : redactedError(err)}\n`);
    process.exit(2);
  },
);
