/**
 * The credentials `npm run dev` generated, for the operator's scripts run
 * beside it (`npm run admin`, `npm run audit:verify`): read from .data/, never
 * printed. They fill only what neither the shell nor .env set, so the same
 * scripts run unchanged against a production environment.
 */
import fs from 'node:fs';
import path from 'node:path';
import { DEFAULT_ROLE_NAMES } from '../../lib/db-roles';
import { DEV_OPENBAO_PORT, type VaultCredentials } from './openbao';
import { devDataDir } from './paths';
import { DATABASE_NAME, DEV_POSTGRES_PORT } from './postgres';
import { readJsonFile, type StackSecrets } from './secrets';
import { DEV_TEMPORAL_PORT } from './temporal';

/** The operator's environment for the dev stack under `dataDir`, or undefined when there is none. */
export function devOperatorEnv(dataDir = devDataDir()): Record<string, string> | undefined {
  const file = path.join(dataDir, 'secrets.json');
  if (!fs.existsSync(file)) return undefined;
  const secrets = readJsonFile<StackSecrets>(file);
  if (!secrets?.app || !secrets.databaseRoles) return undefined;
  const vault = readJsonFile<VaultCredentials>(path.join(dataDir, 'openbao', 'credentials.json'));
  const urlOf = (user: string, password: string) => `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${DEV_POSTGRES_PORT}/${DATABASE_NAME}`;
  return {
    ...secrets.app,
    MIGRATION_DATABASE_URL: urlOf(DEFAULT_ROLE_NAMES.owner, secrets.databaseRoles.owner),
    // The API's own role: what the API's configuration (config/env.ts) expects to find.
    DATABASE_URL: urlOf(DEFAULT_ROLE_NAMES.api, secrets.databaseRoles.api),
    TEMPORAL_ADDRESS: `127.0.0.1:${DEV_TEMPORAL_PORT}`,
    KEYSTORE: 'vault',
    VAULT_ADDR: `http://127.0.0.1:${DEV_OPENBAO_PORT}`,
    // The API's credential: it unwraps the payload codec's data keys, and opens no wallet key.
    ...(vault?.apiToken ? { VAULT_TOKEN: vault.apiToken } : {}),
  };
}

/**
 * When nothing names a database (neither MIGRATION_DATABASE_URL nor
 * DATABASE_URL, nor a _FILE of either, in the shell or .env), uses the dev stack's credentials.
 * Returns whether it did.
 */
export function useDevCredentials(env: NodeJS.ProcessEnv = process.env, dataDir = devDataDir()): boolean {
  if (['MIGRATION_DATABASE_URL', 'DATABASE_URL', 'MIGRATION_DATABASE_URL_FILE', 'DATABASE_URL_FILE'].some((key) => env[key])) return false;
  const dev = devOperatorEnv(dataDir);
  if (!dev) return false;
  for (const [key, value] of Object.entries(dev)) if (!env[key]) env[key] = value;
  return true;
}

/** An error for an operator's terminal: name, driver code and message, never a connection string. */
export function redactedError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return `${err.name}${typeof code === 'string' ? ` (${code})` : ''}: ${err.message.replace(/postgres(ql)?:\/\/\S+/g, 'postgres://…').slice(0, 300)}`;
}
