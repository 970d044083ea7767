/**
 * Signing cost: the worker's `sign` activity (createActivities(...).signTransaction,
 * called directly against the real PostgreSQL, OpenBao and anvil, with the
 * worker's decrypt-only Vault credential) against a bare ethers signature of
 * the same transaction, plus the key-store decrypt alone, so the custody
 * overhead is visible.
 *
 * The requests were prepared and approved through the API (their workflows
 * wait for `execute`, which never comes); each is signed exactly once, one
 * after another, on one wallet.
 */
import { randomBytes } from 'node:crypto';
import { Wallet } from 'ethers';
import { pino } from 'pino';
import type { Config } from '../config/env';
import type { Db } from '../lib/db';
import { systemClock } from '../lib/clock';
import { createActivities } from '../activities';
import { createAuditLog } from '../domains/audit';
import { createChainClients } from '../domains/chain';
import { createKeyStore } from '../domains/keystore';
import { createChainAdapter } from '../domains/transactions/chain-adapter';
import { median, summarize, type Summary } from './lib/stats';

export interface SigningResult {
  iterations: number;
  signActivityMs: Summary;
  /** Medians per sign activity call: where its time goes. */
  perSign: { dbQueries: number | undefined; dbMs: number | undefined; vaultMs: number | undefined; rpcMs: number | undefined; ecdsaMs: number | undefined };
  keystoreDecryptMs: Summary;
  bareEthersSignMs: Summary;
  /** sign activity p50 / bare ethers p50 */
  ratio: number | undefined;
}

export async function runSigning(options: { config: Config; db: Db; transactionIds: string[] }): Promise<SigningResult> {
  const { config, db } = options;
  const keystore = await createKeyStore(config);
  const chains = createChainClients(config.chains);
  // Time what the activity waits on: every query (knex events), Vault, the node, the ECDSA work.
  const spent = { dbQueries: 0, dbMs: 0, vaultMs: 0, rpcMs: 0, ecdsaMs: 0 };
  const startedQueries = new Map<string, number>();
  const onQuery = (q: { __knexQueryUid: string }) => startedQueries.set(q.__knexQueryUid, performance.now());
  const onDone = (_r: unknown, q: { __knexQueryUid: string }) => {
    const t = startedQueries.get(q.__knexQueryUid);
    if (t === undefined) return;
    startedQueries.delete(q.__knexQueryUid);
    spent.dbQueries += 1;
    spent.dbMs += performance.now() - t;
  };
  const timed = <A extends unknown[], R>(key: 'vaultMs' | 'rpcMs' | 'ecdsaMs', fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      const t = performance.now();
      try {
        return await fn(...args);
      } finally {
        spent[key] += performance.now() - t;
      }
    };
  const chain = createChainAdapter(chains);
  const activities = createActivities({
    db,
    logger: pino({ level: 'silent' }),
    clock: systemClock,
    keystore: { decrypt: timed('vaultMs', keystore.decrypt.bind(keystore)) },
    chain: {
      ...chain,
      feeSuggestion: timed('rpcMs', chain.feeSuggestion),
      pendingNonce: timed('rpcMs', chain.pendingNonce),
      sign: timed('ecdsaMs', chain.sign),
    },
    audit: createAuditLog({ db, hmacKey: config.AUDIT_HMAC_KEY! }),
    config,
  });
  try {
    // Warm the connections (Vault, anvil, PostgreSQL pool) outside the measurement.
    const first = options.transactionIds[0]!;
    const wallet = (await db('transactions').join('wallets', 'wallets.id', 'transactions.wallet_id').where('transactions.id', first).first('wallets.id', 'wallets.key_ciphertext')) as {
      id: string;
      key_ciphertext: string;
    };
    (await keystore.decrypt('wallet', wallet.id, wallet.key_ciphertext)).fill(0);

    const signMs: number[] = [];
    const parts: (typeof spent)[] = [];
    db.client.on('query', onQuery);
    db.client.on('query-response', onDone);
    db.client.on('query-error', onDone);
    try {
      for (const transactionId of options.transactionIds) {
        Object.assign(spent, { dbQueries: 0, dbMs: 0, vaultMs: 0, rpcMs: 0, ecdsaMs: 0 });
        const t0 = performance.now();
        // Version 3 = pending_approval (1) → approved (2) → signing (3), as the workflow would pass it.
        await activities.signTransaction({ transactionId, version: 3 });
        signMs.push(performance.now() - t0);
        parts.push({ ...spent });
      }
    } finally {
      db.client.off('query', onQuery);
      db.client.off('query-response', onDone);
      db.client.off('query-error', onDone);
    }

    const decryptMs: number[] = [];
    for (let i = 0; i < options.transactionIds.length; i++) {
      const t0 = performance.now();
      const key = await keystore.decrypt('wallet', wallet.id, wallet.key_ciphertext);
      decryptMs.push(performance.now() - t0);
      key.fill(0);
    }

    // The same transaction shape, signed by ethers alone: key → Wallet → signTransaction.
    const row = (await db('transactions').where({ id: first }).first()) as { to_address: string; value: string; data: string; gas_limit: string; max_fee_per_gas: string; max_priority_fee_per_gas: string; chain_id: number };
    const privateKey = `0x${randomBytes(32).toString('hex')}`;
    const bareMs: number[] = [];
    for (let i = 0; i < Math.max(50, options.transactionIds.length); i++) {
      const t0 = performance.now();
      await new Wallet(privateKey).signTransaction({
        type: 2,
        chainId: BigInt(row.chain_id),
        nonce: i,
        to: row.to_address,
        value: BigInt(row.value),
        data: row.data,
        gasLimit: BigInt(row.gas_limit),
        maxFeePerGas: BigInt(row.max_fee_per_gas),
        maxPriorityFeePerGas: BigInt(row.max_priority_fee_per_gas),
        accessList: [],
      });
      bareMs.push(performance.now() - t0);
    }
    const sign = summarize(signMs);
    const bare = summarize(bareMs);
    return {
      iterations: signMs.length,
      signActivityMs: sign,
      perSign: {
        dbQueries: median(parts.map((p) => p.dbQueries)),
        dbMs: median(parts.map((p) => p.dbMs)),
        vaultMs: median(parts.map((p) => p.vaultMs)),
        rpcMs: median(parts.map((p) => p.rpcMs)),
        ecdsaMs: median(parts.map((p) => p.ecdsaMs)),
      },
      keystoreDecryptMs: summarize(decryptMs),
      bareEthersSignMs: bare,
      ratio: sign.p50 !== undefined && bare.p50 ? sign.p50 / bare.p50 : undefined,
    };
  } finally {
    chains.destroy();
    await keystore.close();
  }
}
