/**
 * `npm run keys:rotate` — rotate the key store's keys and rewrap every stored
 * ciphertext (wallets.key_ciphertext, mfa_factors.secret_ciphertext,
 * webhooks.secret_ciphertext) while API and worker keep running.
 *
 *   npm run keys:rotate -- [--purpose wallet --purpose mfa …] [--rewrap-only]
 *                          [--min-decryption-version latest|<n>] [--batch-size 100]
 *
 * Vault: needs VAULT_OPERATOR_TOKEN (operator policy: rotate, config, read,
 * rewrap — no decrypt); the service's own VAULT_TOKEN / AppRole is not used.
 * PostgreSQL: needs MIGRATION_DATABASE_URL (the schema owner): the ciphertext
 * columns are written by nobody else — neither the API's nor the worker's
 * role may (lib/db-roles.ts); the services' DATABASE_URL is not used.
 * Wallet keys are never decrypted here: Vault rewraps them internally. The
 * local store (KEYSTORE=local) has no such service and decrypts/re-encrypts in
 * this process, zeroing each plaintext at once.
 *
 * Audit: one `keys.rotated` event per purpose and one `wallet.key_rotated`
 * per rewrapped wallet (in the same transaction as its new ciphertext).
 *
 * Exit status: 0 done; 2 finished but rows remain below the new version
 * (locked throughout or failed — run again with --rewrap-only); 1 error.
 */
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/env';
import { createDb } from '../lib/db';
import { createLogger } from '../lib/logger';
import { createKeyAdmin, KEY_PURPOSES, type KeyPurpose } from '../domains/keystore';
import { createAuditLog } from '../domains/audit';
import { RotationError, rotateKeys, type RotateOptions } from '../domains/keystore';

const USAGE = `usage: npm run keys:rotate -- [--purpose wallet|mfa|webhook]... [--rewrap-only]
                               [--min-decryption-version latest|<n>] [--batch-size <n>] [--max-passes <n>]`;

function parseOptions(argv: string[]): RotateOptions {
  const { values } = parseArgs({
    args: argv,
    options: {
      purpose: { type: 'string', multiple: true },
      'rewrap-only': { type: 'boolean', default: false },
      'min-decryption-version': { type: 'string' },
      'batch-size': { type: 'string', default: '100' },
      'max-passes': { type: 'string', default: '10' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(USAGE);
    process.exit(0);
  }
  const purposes = (values.purpose ?? [...KEY_PURPOSES]) as KeyPurpose[];
  for (const purpose of purposes) if (!KEY_PURPOSES.includes(purpose)) throw new RotationError(`unknown --purpose ${purpose}`);
  const positive = (name: string, raw: string) => {
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1) throw new RotationError(`--${name} must be a positive integer`);
    return n;
  };
  const min = values['min-decryption-version'];
  return {
    purposes,
    rotate: !values['rewrap-only'],
    batchSize: positive('batch-size', values['batch-size']),
    maxPasses: positive('max-passes', values['max-passes']),
    ...(min === undefined ? {} : { minDecryptionVersion: min === 'latest' ? ('latest' as const) : positive('min-decryption-version', min) }),
  };
}

/**
 * The operator credentials replace the service's: rotation must not run with the API's or
 * worker's Vault token, and writes ciphertext columns as the schema owner.
 */
function operatorEnvironment(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (!env.MIGRATION_DATABASE_URL) {
    throw new RotationError('MIGRATION_DATABASE_URL is required (the schema owner): rotation rewrites ciphertext columns that neither the API\'s nor the worker\'s database role may write');
  }
  const database = { ...env, DATABASE_URL: env.MIGRATION_DATABASE_URL };
  if ((env.KEYSTORE ?? 'vault') !== 'vault') return database;
  if (!env.VAULT_OPERATOR_TOKEN) throw new RotationError('VAULT_OPERATOR_TOKEN is required with KEYSTORE=vault (an operator token: rotate, config, read, rewrap)');
  return { ...database, VAULT_TOKEN: env.VAULT_OPERATOR_TOKEN, VAULT_ROLE_ID: undefined, VAULT_SECRET_ID: undefined };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  const config = loadConfig(operatorEnvironment(process.env));
  const logger = createLogger({ name: 'keys-rotate', level: config.LOG_LEVEL });
  const db = createDb({ url: config.DATABASE_URL, poolMax: 2, applicationName: 'countersign-keys-rotate' });
  const keystore = await createKeyAdmin(config, { logger });
  try {
    if (!config.AUDIT_HMAC_KEY) throw new RotationError('AUDIT_HMAC_KEY is required: rotation is written to the audit log');
    const audit = createAuditLog({ db, hmacKey: config.AUDIT_HMAC_KEY });
    const report = await rotateKeys({ db, keystore, audit, logger }, options);
    let incomplete = false;
    for (const p of report.purposes) {
      console.log(
        `${p.purpose}: version ${p.before.latestVersion} → ${p.after.latestVersion}, min decryption ${p.after.minDecryptionVersion}; ` +
          `rewrapped ${p.rewrapped}, changed concurrently ${p.changedConcurrently}, failed ${p.failed.length}, remaining ${p.remaining}` +
          (p.foreign > 0 ? `, ${p.foreign} row(s) of another key store kind untouched` : ''),
      );
      if (p.failed.length > 0) console.log(`  ${p.purpose} rows that would not rewrap: ${p.failed.join(', ')}`);
      if (p.remaining > 0) incomplete = true;
    }
    return incomplete ? 2 : 0;
  } finally {
    await keystore.close();
    await db.destroy();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    // Key-store failures are KeyStoreErrors with safe messages (raw Vault errors never leave domains/keystore).
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    console.error(`keys:rotate failed: ${message.slice(0, 1000)}`);
    process.exit(1);
  },
);
