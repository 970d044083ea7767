/**
 * Errors of the chain domain, and the ONE place where EVM node error messages
 * are classified (`classifyNodeError`). Nodes disagree on wording (geth, anvil,
 * reth, nethermind, besu) and ethers maps only some of them, so we match the
 * node's own message first and fall back to ethers' codes.
 *
 * Security: a raw ethers error can carry the RPC URL (with credentials or an
 * API key in its path) in its message and `info.requestUrl`. Nothing raw leaves
 * this domain: `toChainError` keeps a short, URL-scrubbed message and replaces
 * the cause with a sanitised summary.
 */

export type NodeErrorKind =
  | 'already_known'
  | 'nonce_too_low'
  | 'underpriced'
  | 'insufficient_funds'
  | 'network'
  | 'reverted'
  | 'permanent';

export type ChainErrorCode =
  | 'invalid_intent'
  | 'invalid_config'
  | 'unknown_chain'
  | 'chain_mismatch'
  | 'unavailable'
  | 'unsupported_chain'
  | 'invalid_transaction'
  | 'key_mismatch'
  | 'broadcast_rejected'
  | 'nonce_consumed'
  | 'node_error';

export interface ChainErrorOptions {
  retryable?: boolean;
  cause?: unknown;
}

/** Base of every error this domain throws. `retryable` tells an activity whether to retry. */
export class ChainError extends Error {
  override name = 'ChainError';
  readonly retryable: boolean;

  constructor(
    readonly code: ChainErrorCode,
    message: string,
    options: ChainErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryable = options.retryable ?? false;
  }
}

/** The agent's request cannot be built (a 400 for the API). `field` names the intent field. */
export class InvalidIntentError extends ChainError {
  override name = 'InvalidIntentError';
  constructor(
    readonly field: string,
    message: string,
  ) {
    super('invalid_intent', message);
  }
}

/** The node could not be reached or answered with a transient failure: retry. */
export class ChainUnavailableError extends ChainError {
  override name = 'ChainUnavailableError';
  constructor(message: string, cause?: unknown) {
    super('unavailable', message, { retryable: true, cause });
  }
}

export type RejectionKind = Exclude<NodeErrorKind, 'already_known' | 'network' | 'nonce_too_low'>;

/**
 * The node refused our signed bytes for a reason that retrying the same bytes
 * will not fix. If no node ever accepted them, the caller voids the nonce.
 */
export class BroadcastRejectedError extends ChainError {
  override name = 'BroadcastRejectedError';
  constructor(
    readonly kind: RejectionKind,
    message: string,
    cause?: unknown,
  ) {
    super('broadcast_rejected', message, { cause });
  }
}

/**
 * "Nonce too low" and our hash is unknown to the node: another transaction used
 * this nonce, so someone else holds the key. Never retried; the caller freezes
 * the wallet and alerts.
 */
export class NonceConsumedError extends ChainError {
  override name = 'NonceConsumedError';
  constructor(readonly hash: string) {
    super('nonce_consumed', `nonce already used by another transaction; ${hash} is unknown to the node`);
  }
}

// ---------------------------------------------------------------------------
// URL scrubbing

const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>()[\]{},\\]+/gi;

/** Origin only (scheme, host, port): drops credentials, API keys in paths and queries. */
export function describeRpcUrl(raw: string): string {
  try {
    const url = new URL(raw);
    return `${url.protocol}//${url.host}`;
  } catch {
    return '[unparseable url]';
  }
}

/** Replaces every URL inside a text by its origin. */
export function scrubUrls(text: string): string {
  return text.replace(URL_IN_TEXT, (match) => describeRpcUrl(match));
}

// ---------------------------------------------------------------------------
// Classification

/** Node messages, in priority order. Tests pin each one (test/unit/chain-errors.test.ts). */
const NODE_MESSAGE_PATTERNS: ReadonlyArray<readonly [NodeErrorKind, RegExp]> = [
  // geth/erigon/reth "already known", anvil "transaction already imported",
  // besu "Known transaction", nethermind "AlreadyKnown".
  ['already_known', /already known|already imported|known transaction|alreadyknown|already in (the )?(mem)?pool/i],
  // geth "nonce too low: address …", nethermind "OldNonce", besu "NONCE_TOO_LOW", ethers' NONCE_EXPIRED text.
  ['nonce_too_low', /nonce too low|nonce_too_low|noncetoolow|oldnonce|nonce has already been used/i],
  // "replacement transaction underpriced", "transaction underpriced", anvil's
  // "max fee per gas less than block base fee", nethermind "FeeTooLow".
  ['underpriced', /underpriced|fee too low|feetoolow|less than (the )?block base fee|fee cap less than|gas price too low/i],
  // geth "insufficient funds for gas * price + value", besu "Upfront cost exceeds account balance".
  ['insufficient_funds', /insufficient funds|insufficientfunds|insufficient balance|exceeds (account )?balance|not enough funds/i],
  ['reverted', /revert|vm exception|invalid opcode|out of gas/i],
  // Transient node trouble reported as a JSON-RPC error (load balancers, rate limits).
  ['network', /header not found|rate limit|too many requests|limit exceeded|timed? ?out|try again|service unavailable|busy/i],
];

const TRANSPORT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'ENOTFOUND',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);
const TRANSPORT_MESSAGE = /fetch failed|socket hang up|network error|econnrefused|econnreset|etimedout|eai_again|enotfound|request timeout|timeout|missing response|bad response/i;

const ETHERS_CODE_KIND: Readonly<Record<string, NodeErrorKind>> = {
  NONCE_EXPIRED: 'nonce_too_low',
  INSUFFICIENT_FUNDS: 'insufficient_funds',
  REPLACEMENT_UNDERPRICED: 'underpriced',
  CALL_EXCEPTION: 'reverted',
  TIMEOUT: 'network',
  NETWORK_ERROR: 'network',
};

type Loose = Record<string, unknown>;
const asObject = (value: unknown): Loose | undefined =>
  typeof value === 'object' && value !== null ? (value as Loose) : undefined;
const asString = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/**
 * JSON-RPC error messages found in an error: ethers keeps the node's own error
 * in `info.error` (or `error`), and a non-2xx answer's body in `info.responseBody`.
 */
export function nodeMessages(err: unknown): string[] {
  const found: string[] = [];
  const visit = (value: unknown, depth: number) => {
    const obj = asObject(value);
    if (!obj || depth > 4) return;
    const message = asString(obj.message);
    // A JSON-RPC error object has a numeric code and a message.
    if (message !== undefined && typeof obj.code === 'number') found.push(message);
    const info = asObject(obj.info);
    visit(info?.error, depth + 1);
    visit(obj.error, depth + 1);
    const body = asString(info?.responseBody);
    if (body !== undefined) {
      try {
        const parsed = asObject(JSON.parse(body));
        visit(parsed?.error, depth + 1);
      } catch {
        // not JSON: a proxy's HTML page
      }
    }
    visit(obj.cause, depth + 1);
  };
  visit(err, 0);
  return found;
}

function httpStatus(err: Loose): number | undefined {
  const info = asObject(err.info);
  const status = info?.responseStatus ?? asObject(err.response)?.statusCode;
  if (typeof status === 'number') return status;
  if (typeof status === 'string') {
    const match = /^(\d{3})/.exec(status);
    return match ? Number(match[1]) : undefined;
  }
  return undefined;
}

function isTransportFailure(err: unknown): boolean {
  for (let value: unknown = err, depth = 0; value !== undefined && depth < 5; depth++) {
    const obj = asObject(value);
    if (!obj) return false;
    const code = asString(obj.code);
    if (code !== undefined && TRANSPORT_CODES.has(code)) return true;
    if (code === 'SERVER_ERROR') {
      const status = httpStatus(obj);
      // 4xx other than timeout/too-early/rate-limit is our fault (auth, bad URL): retrying will not help.
      return status === undefined || status >= 500 || status === 408 || status === 425 || status === 429;
    }
    value = obj.cause ?? asObject(obj.info)?.error;
  }
  return false;
}

function allText(err: unknown): string {
  const parts: string[] = [];
  for (let value: unknown = err, depth = 0; value !== undefined && depth < 5; depth++) {
    const obj = asObject(value);
    if (!obj) {
      if (typeof value === 'string') parts.push(value);
      break;
    }
    for (const key of ['shortMessage', 'message', 'code'] as const) {
      const text = asString(obj[key]);
      if (text !== undefined) parts.push(text);
    }
    value = obj.cause;
  }
  return parts.join(' | ');
}

function matchMessage(message: string): NodeErrorKind | undefined {
  for (const [kind, pattern] of NODE_MESSAGE_PATTERNS) {
    if (pattern.test(message)) return kind;
  }
  return undefined;
}

/**
 * Classifies an error from a node call. The node's own JSON-RPC message wins,
 * because ethers rewrites any eth_call/estimateGas failure (even "insufficient
 * funds") into CALL_EXCEPTION, then transport failures, then ethers codes,
 * then the error's text. Anything else is `permanent`.
 */
export function classifyNodeError(err: unknown): NodeErrorKind {
  if (err instanceof ChainUnavailableError) return 'network';
  if (err instanceof BroadcastRejectedError) return err.kind;
  if (err instanceof NonceConsumedError) return 'nonce_too_low';
  for (const message of nodeMessages(err)) {
    const kind = matchMessage(message);
    if (kind) return kind;
  }
  if (isTransportFailure(err)) return 'network';
  const obj = asObject(err);
  if (obj && asObject(obj.info)?.responseStatus !== undefined && asString(obj.code) === 'SERVER_ERROR') return 'permanent';
  const ethersKind = ETHERS_CODE_KIND[asString(obj?.code) ?? ''];
  if (ethersKind) return ethersKind;
  const text = allText(err);
  const kind = matchMessage(text);
  if (kind) return kind;
  if (TRANSPORT_MESSAGE.test(text)) return 'network';
  return 'permanent';
}

const MAX_MESSAGE = 300;

/** A short, URL-free description of a node error, fit for logs, `last_error` and failures. */
export function describeNodeError(err: unknown): string {
  const obj = asObject(err);
  const node = nodeMessages(err)[0];
  const text = node ?? asString(obj?.shortMessage) ?? asString(obj?.message) ?? (typeof err === 'string' ? err : 'unknown error');
  // The node's own words are enough; otherwise ethers' or Node's code helps (TIMEOUT, ECONNREFUSED).
  const code = node === undefined ? asString(obj?.code) : undefined;
  const described = code && !text.includes(code) && /^[A-Z_]+$/.test(code) ? `${text} (${code})` : text;
  const scrubbed = scrubUrls(described).replace(/\s+/g, ' ').trim();
  return scrubbed.length > MAX_MESSAGE ? `${scrubbed.slice(0, MAX_MESSAGE)}…` : scrubbed;
}

/** A stand-in for a raw node error: same name/code, scrubbed message, no payload or URL. */
function sanitisedCause(err: unknown): Error {
  const obj = asObject(err);
  const cause = new Error(describeNodeError(err));
  cause.name = asString(obj?.name) ?? 'Error';
  const code = asString(obj?.code);
  if (code !== undefined) (cause as Error & { code?: string }).code = code;
  return cause;
}

/**
 * Wraps anything a node call threw into a ChainError, without the raw error:
 * network trouble becomes a retryable ChainUnavailableError, the rest a
 * non-retryable `node_error`. `context` says what we were doing.
 */
export function toChainError(err: unknown, context: string): ChainError {
  if (err instanceof ChainError) return err;
  const message = `${context}: ${describeNodeError(err)}`;
  if (classifyNodeError(err) === 'network') return new ChainUnavailableError(message, sanitisedCause(err));
  return new ChainError('node_error', message, { cause: sanitisedCause(err) });
}

/** Rethrows a network failure as a retryable error; returns the kind of anything else. */
export function throwIfNetwork(err: unknown, context: string): NodeErrorKind {
  const kind = classifyNodeError(err);
  if (kind === 'network') throw toChainError(err, context);
  return kind;
}
