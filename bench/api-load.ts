/**
 * The API alone, with autocannon: GET /api/transaction_status at a fixed rate
 * (and flat out, to see its ceiling), POST /api/prepare_transaction at a fixed
 * concurrency. Loopback only; the bench raised the per-key rate limits.
 */
import autocannon, { type Result } from 'autocannon';

export interface LoadFigures {
  connections: number;
  targetRate?: number;
  durationSeconds: number;
  requestsPerSecond: number;
  requests: number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latencyMs: { p50: number; p90: number; p97_5: number; p99: number; max: number; mean: number };
}

function figures(result: Result, connections: number, durationSeconds: number, targetRate?: number): LoadFigures {
  return {
    connections,
    ...(targetRate !== undefined ? { targetRate } : {}),
    durationSeconds,
    requestsPerSecond: result.requests.average,
    requests: result.requests.total,
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    latencyMs: {
      p50: result.latency.p50,
      p90: result.latency.p90,
      p97_5: result.latency.p97_5,
      p99: result.latency.p99,
      max: result.latency.max,
      mean: result.latency.mean,
    },
  };
}

export async function loadStatus(options: { apiUrl: string; apiKey: string; transactionIds: string[]; connections: number; durationSeconds: number; rate?: number }): Promise<LoadFigures> {
  let turn = 0;
  const result = await autocannon({
    url: options.apiUrl,
    connections: options.connections,
    duration: options.durationSeconds,
    ...(options.rate !== undefined ? { overallRate: options.rate } : {}),
    timeout: 10,
    headers: { 'x-api-key': options.apiKey },
    requests: [
      {
        method: 'GET',
        setupRequest: (request) => ({ ...request, path: `/api/transaction_status?transaction_id=${options.transactionIds[turn++ % options.transactionIds.length]}` }),
      },
    ],
  });
  return figures(result, options.connections, options.durationSeconds, options.rate);
}

export async function loadPrepare(options: { apiUrl: string; apiKey: string; walletAddresses: string[]; to: string; connections: number; durationSeconds: number }): Promise<LoadFigures> {
  let turn = 0;
  const result = await autocannon({
    url: options.apiUrl,
    connections: options.connections,
    duration: options.durationSeconds,
    timeout: 10,
    headers: { 'x-api-key': options.apiKey, 'content-type': 'application/json' },
    requests: [
      {
        method: 'POST',
        path: '/api/prepare_transaction',
        setupRequest: (request) => ({
          ...request,
          body: JSON.stringify({
            wallet_address: options.walletAddresses[turn++ % options.walletAddresses.length],
            kind: 'native',
            to_address: options.to,
            amount: '1000',
            memo: 'bench api-only',
          }),
        }),
      },
    ],
  });
  return figures(result, options.connections, options.durationSeconds);
}
