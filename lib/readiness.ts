/**
 * Dependency probes shared by the API's and the worker's /readyz. Each rejects
 * with an error whose message is safe to show (no addresses, no credentials).
 */
import type { Connection } from '@temporalio/client';
import type { Config } from '../config/env';
import { pingDb, type Db } from './db';

export function postgresCheck(db: Db) {
  return () => pingDb(db);
}

export function temporalCheck(connection: Connection) {
  return async () => {
    await connection.workflowService.getSystemInfo({});
  };
}

/** Vault answers /sys/health with 200 only when initialised, unsealed and active. */
export function vaultCheck(config: Pick<Config, 'KEYSTORE' | 'VAULT_ADDR'>) {
  return async () => {
    if (config.KEYSTORE !== 'vault' || !config.VAULT_ADDR) return;
    const response = await fetch(new URL('/v1/sys/health', config.VAULT_ADDR), { signal: AbortSignal.timeout(2_000) });
    if (response.status === 503) throw Object.assign(new Error('sealed'), { code: 'SEALED' });
    if (!response.ok) throw Object.assign(new Error('unhealthy'), { code: 'UNHEALTHY' });
  };
}

/** Every configured chain answers eth_chainId with its own id. */
export function chainCheck(config: Pick<Config, 'chains'>) {
  return async () => {
    for (const [chainId, url] of config.chains) {
      const response = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'eth_chainId', params: [] }),
        signal: AbortSignal.timeout(2_000),
      });
      const body = (await response.json()) as { result?: string };
      if (body.result === undefined || Number(BigInt(body.result)) !== chainId) {
        throw Object.assign(new Error('wrong chain'), { code: 'WRONG_CHAIN' });
      }
    }
  };
}
