/** @countersign/sdk: a client for agents, its typed errors, and the agent tools (MCP / Vercel AI SDK adapters). */
export { createCountersign, FINAL_STATUSES } from './client';
export type { CountersignClient, CountersignOptions, Proposal, ProposeRequest, TransactionList, TransactionStatus, TransactionView, WaitOptions, Wallet, WalletDetail } from './client';
export { CountersignError, ERROR_CODES, isCountersignError } from './errors';
export type { ErrorCode, ErrorDetail, ErrorReason } from './errors';
export { countersignTools, nextStep, refusalOf } from './tools';
export type { CountersignTool, CountersignToolName, ToolContext } from './tools';
export type { paths as ApiPaths } from './generated/openapi';
