import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { freshDatabase, requireEnv, type TestDatabase } from '../support/db';
import { createChainClients } from '../../domains/chain';
import { assertKnownChains, ChainResetError } from '../../domains/chain/identity';

let database: TestDatabase;
before(async () => {
  database = await freshDatabase();
});
after(async () => {
  await database?.drop();
});

test('the first start records the genesis hash; the same chain passes again; a reset chain is refused', async () => {
  const clients = createChainClients(new Map([[31337, requireEnv('WEB3_PROVIDER_URI')]]));
  try {
    await assertKnownChains(database.worker.db, clients);
    const row = (await database.db('chains').where({ chain_id: 31337 }).first()) as { genesis_hash: string };
    assert.match(row.genesis_hash, /^0x[0-9a-f]{64}$/);
    await assertKnownChains(database.worker.db, clients);
    await database.db('chains').where({ chain_id: 31337 }).update({ genesis_hash: `0x${'ab'.repeat(32)}` });
    await assert.rejects(assertKnownChains(database.worker.db, clients), (err: unknown) => err instanceof ChainResetError && /chain 31337 was reset/.test((err as Error).message));
  } finally {
    clients.destroy();
  }
});
