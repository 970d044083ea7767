/**
 * The policies domain's public surface: owner-set rules per wallet that can
 * only refuse, checked at prepare and again in the signing transaction, and
 * the address book. Other folders import from here.
 *
 *   API:     createPolicyService (reads, changes, the prepare check, view notes),
 *            createAddressBook, policyDenied, the route schemas
 *   worker:  createPolicyEngine (checkSigning, recordRefusal), agentLabelsOf (webhook payloads)
 *   views:   agentLabelsColumn (the labels an agent may see, in the transaction views' one query)
 *   pure:    factsOf, evaluate, normalizeRules, describeRule (the web app imports describe.ts, windows.ts, labels.ts directly)
 */
export { createPolicyEngine, type PolicyEngine, type PolicyEngineDeps, type PrepareCheck, type PrepareVerdict, type SigningRequest, type RefusalRecord } from './engine';
export { createPolicyService, toRuleView, type PolicyService, type PolicyServiceDeps, type ViewNotes, type LimitNote, type NotedRow } from './service';
export { createAddressBook, type AddressBook, type AddressBookDeps } from './address-book';
export { policyDenied, POLICY_DENIED_MESSAGE } from './errors';
export { agentLabelsColumn, agentLabelsOf } from './dal';
export { factsOf, type RequestFacts, type RawRequest } from './facts';
export { evaluate, appliesTo, type Usage } from './rules';
export { normalizeRule, normalizeRules, ruleId, selectorOf } from './normalize';
export { describeRule, type DescribableRule, type DescribeContext } from './describe';
export { windowSeconds, windowText, WINDOW_PATTERN } from './windows';
export { isValidLabel, LABEL_PATTERN, MAX_LABEL_LENGTH } from './labels';
export * from './types';
export * from './schemas';
