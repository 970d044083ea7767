/**
 * One HTTP POST to a webhook receiver, connected to an address that was
 * already checked (resolve.ts). Security invariants:
 * * The socket goes to `address` — Node's resolver is replaced by one that
 *   returns only that address — while the Host header and the TLS server name
 *   (SNI and certificate check) stay those of the URL.
 * * Redirects are never followed (Node's http client does not follow them; a
 *   3xx is recorded as a failed attempt).
 * * One short deadline covers connect, TLS and the response headers; the
 *   response body is not read.
 * * The outcome carries a fixed, secret-free error word: never the URL (it may
 *   hold a token), never the receiver's body, never the signature.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { ResolvedAddress } from './resolve';
import type { WebhookTarget } from './url-policy';

export interface PostRequest {
  target: WebhookTarget;
  address: ResolvedAddress;
  body: string;
  headers: Record<string, string>;
  timeoutMs: number;
}

export interface PostOutcome {
  delivered: boolean;
  responseStatus: number | null;
  /** A fixed word such as `timeout`, `http_500`, `redirect_not_followed`; null when delivered. */
  error: string | null;
}

export const USER_AGENT = 'Countersign-Webhooks/1';

export function postWebhook(request: PostRequest): Promise<PostOutcome> {
  const { target, address } = request;
  const pinned: LookupFunction = (_hostname, options, callback) => {
    if ((options as { all?: boolean }).all) (callback as unknown as (e: null, a: ResolvedAddress[]) => void)(null, [address]);
    else callback(null, address.address, address.family);
  };
  const client = target.protocol === 'https:' ? https : http;
  const port = target.port;
  const defaultPort = target.protocol === 'https:' ? 443 : 80;
  const hostHeader = `${isIP(target.hostname) === 6 ? `[${target.hostname}]` : target.hostname}${port === defaultPort ? '' : `:${port}`}`;

  return new Promise<PostOutcome>((resolve) => {
    let settled = false;
    const finish = (outcome: PostOutcome) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      req.destroy();
      resolve(outcome);
    };
    const req = client.request({
      method: 'POST',
      // An IP literal is connected to directly; a name goes through `pinned`, which answers with the checked address.
      host: target.hostname,
      port,
      path: target.path,
      lookup: pinned,
      agent: false,
      headers: {
        ...request.headers,
        Host: hostHeader,
        'User-Agent': USER_AGENT,
        'Content-Length': String(Buffer.byteLength(request.body)),
      },
      ...(target.protocol === 'https:' && isIP(target.hostname) === 0 ? { servername: target.hostname } : {}),
    });
    const deadline = setTimeout(() => finish({ delivered: false, responseStatus: null, error: 'timeout' }), request.timeoutMs);
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      res.destroy();
      if (status >= 200 && status < 300) finish({ delivered: true, responseStatus: status, error: null });
      else if (status >= 300 && status < 400) finish({ delivered: false, responseStatus: status, error: 'redirect_not_followed' });
      else finish({ delivered: false, responseStatus: status, error: `http_${status}` });
    });
    req.on('error', (err) => finish({ delivered: false, responseStatus: null, error: networkError(err) }));
    req.end(request.body);
  });
}

/** A secret-free word for a network failure. */
export function networkError(err: unknown): string {
  const code = typeof (err as { code?: unknown })?.code === 'string' ? ((err as { code: string }).code) : '';
  if (code === 'ECONNREFUSED') return 'connection_refused';
  if (code === 'ECONNRESET' || code === 'EPIPE') return 'connection_reset';
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') return 'timeout';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH') return 'unreachable';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns_failed';
  if (/^(ERR_TLS_|ERR_SSL_|CERT_|UNABLE_TO_|DEPTH_ZERO|SELF_SIGNED|HOSTNAME_MISMATCH)/.test(code) || code.includes('SSL')) return 'tls_error';
  if (code === 'HPE_INVALID_CONSTANT' || code.startsWith('HPE_')) return 'invalid_response';
  return 'network_error';
}
