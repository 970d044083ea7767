/**
 * `npm run history:rotate-key` — a new data key for the Temporal payload codec.
 * Payloads written from now on are encrypted with it (each API and worker
 * process switches within a minute); every older key stays in `history_keys`,
 * so histories written before still decode. Runs with the API's credentials:
 * its DATABASE_URL (the API's role is the one that may add a data key,
 * lib/db-roles.ts) and its key-store credential (it may wrap history keys and
 * opens no wallet key). In the container: `node dist/scripts/history-key-rotate.js`
 * in the API's environment. (`npm run keys:rotate -- --purpose history`
 * rotates the transit key that wraps them instead.)
 */
import 'dotenv/config';
import { loadConfig } from '../config/env';
import { createDb } from '../lib/db';
import { createLogger } from '../lib/logger';
import { createKeyStore } from '../domains/keystore';
import { createHistoryKey } from '../domains/history';
import { createAuditLog } from '../domains/audit';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ name: 'history-key-rotate', level: config.LOG_LEVEL });
  const db = createDb({ url: config.DATABASE_URL, poolMax: 2, applicationName: 'countersign-history-key-rotate' });
  const keystore = await createKeyStore(config, { logger });
  try {
    const id = await createHistoryKey(db, keystore);
    await createAuditLog({ db, hmacKey: config.AUDIT_HMAC_KEY! }).append({ action: 'history_key.created', actorType: 'operator', subjectType: 'history_key', subjectId: id!, data: {} });
    logger.info({ historyKeyId: id }, 'new history data key: payloads are encrypted with it from now on; older keys stay for decoding');
  } finally {
    await keystore.close();
    await db.destroy();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`history:rotate-key failed: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}\n`);
  process.exit(1);
});
