/**
 * Generated secrets for local stacks. Nothing has a default: `npm run dev` generates
 * them once and keeps them in .data/secrets.json (0600); `npm test` generates fresh
 * ones per run and keeps them in memory only.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const APP_SECRET_NAMES = ['JWT_SECRET_KEY', 'AUDIT_HMAC_KEY', 'API_KEY_HMAC_KEY', 'CODEC_OPERATOR_TOKEN'] as const;
export type AppSecretName = (typeof APP_SECRET_NAMES)[number];

export interface StackSecrets {
  app: Record<AppSecretName, string>;
  /** The superuser's: provisioning only (scripts/infra/postgres.ts). */
  postgresPassword: string;
  /** The schema owner's, the API's and the worker's database roles (lib/db-roles.ts). */
  databaseRoles: Record<'owner' | 'api' | 'worker', string>;
}

/** 32 random bytes, hex (64 characters). */
export function randomSecret(bytes = 32): string {
  return randomBytes(bytes).toString('hex');
}

export function generateSecrets(): StackSecrets {
  return {
    app: Object.fromEntries(APP_SECRET_NAMES.map((name) => [name, randomSecret()])) as Record<AppSecretName, string>,
    postgresPassword: randomSecret(24),
    databaseRoles: { owner: randomSecret(24), api: randomSecret(24), worker: randomSecret(24) },
  };
}

/** Writes a file only its owner can read, creating its directory. */
export function writePrivateFile(file: string, content: string | Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, content, { mode: 0o600 });
  fs.renameSync(tmp, file);
  fs.chmodSync(file, 0o600);
}

export function readJsonFile<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${file} is unreadable (${(error as Error).message}); fix or delete it (npm run dev:reset starts over)`, { cause: error });
  }
}

/** Dev: reads .data/secrets.json, filling in (and persisting) whatever is missing. */
export function loadOrCreateSecrets(file: string): StackSecrets {
  const stored = readJsonFile<Partial<StackSecrets>>(file) ?? {};
  const fresh = generateSecrets();
  const secrets: StackSecrets = {
    app: { ...fresh.app, ...(stored.app ?? {}) },
    postgresPassword: stored.postgresPassword ?? fresh.postgresPassword,
    // A .data/ from before the role split gains these on its next start.
    databaseRoles: { ...fresh.databaseRoles, ...(stored.databaseRoles ?? {}) },
  };
  if (JSON.stringify(stored) !== JSON.stringify(secrets)) writePrivateFile(file, `${JSON.stringify(secrets, null, 2)}\n`);
  return secrets;
}
