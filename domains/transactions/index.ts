/**
 * The transactions domain's public surface. Other folders import from here,
 * never from the files behind it (an ESLint rule keeps it so).
 *
 *   API:     createTransactionService, createTransactionWorkflows, the route schemas
 *   worker:  createChainAdapter, and for the activities the custody path —
 *            createSigning (the signing gate), createSubmission (broadcast,
 *            confirm), createProjector, createMessageChecks (the workflow's
 *            checks of the records its messages name), startMissingWorkflows
 *            (the reconciler)
 */
export { createTransactionService, type TransactionService } from './service';
export type { AgentCaller, AuditSink, TransactionServiceDeps } from './context';
export { createTransactionWorkflows, WorkflowGoneError, type TransactionWorkflows } from './workflow-client';
export { createChainAdapter } from './chain-adapter';
export { createSigning, checkSignable, type Signing, type SigningDeps, type SignResult } from './signing';
export { createSubmission, type Outcome, type SubmissionDeps } from './submission';
export { createProjector, projectionFields } from './projection';
export { createMessageChecks } from './messages';
export { FinalFailure, SigningRefusedError } from './errors';
export { digestOf } from './digest';
export { projectStatus, updateDetails, type ProjectionResult } from './dal';
export type { SigningChain, SignArgs, TransactionChain, TxIntent } from './ports';
export type { TransactionRow } from './rows';
export { effectiveStatus, toView } from './view';
export { cancelAsOperator, OPERATOR_ACTOR_ID, type OperatorDeps } from './operator';
export { startMissingWorkflows, RECONCILE_EVERY_SECONDS, RECONCILE_GRACE_MS, type ReconcileReport } from './reconcile';
export { createStatusWait, type StatusWait } from './status-wait';
export { simulationRefusal } from './refusals';
export * from './schemas';
