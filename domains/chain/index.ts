/**
 * The chain domain: everything that talks to an EVM node, plus the pure pieces
 * around it (intent → call, decoding, the approval digest, error classification).
 * Import from here; `canonical.ts`, `display.ts`, `amounts.ts` and
 * `warnings.ts` are also importable alone (no imports, no Node built-ins) by
 * the web app.
 */
export * from './types';
export * from './amounts';
export * from './warnings';
export * from './effects';
export * from './errors';
export * from './formats';
export * from './display';
export * from './request';
export * from './decode';
export * from './tokens';
export * from './fees';
export * from './revert';
export * from './simulate';
export * from './digest';
export * from './sign';
export * from './broadcast';
export * from './confirm';
export * from './balances';
export * from './providers';
export { canonicalString, canonicalizeStringRecord, approvalObject, unixSeconds } from './canonical';
export * from './identity';
export * from './amounts';
export * from './warnings';
export * from './effects';
