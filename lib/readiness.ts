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

/** A named dependency check; resolves when healthy, rejects (with a safe message) otherwise. */
export type ReadinessChecks = Record<string, () => Promise<void>>;

const CHECK_TIMEOUT_MS = 3_000;

export async function runReadiness(checks: ReadinessChecks) {
  const entries = await Promise.all(
    Object.entries(checks).map(async ([name, check]) => {
      try {
        await withTimeout(check(), CHECK_TIMEOUT_MS);
        return [name, { status: 'ok' }] as const;
      } catch (err) {
        // The body names the dependency, not its address or credentials.
        return [name, { status: 'error', error: safeMessage(err) }] as const;
      }
    }),
  );
  const ready = entries.every(([, result]) => result.status === 'ok');
  return { ready, checks: Object.fromEntries(entries) };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), ms);
    }),
  ]);
}

function safeMessage(err: unknown): string {
  if (err instanceof Error && err.message === 'timed out') return 'timed out';
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^[A-Z_]+$/.test(code) ? code.toLowerCase() : 'unreachable';
}
