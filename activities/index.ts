/**
 * All activities, built by one factory from their dependencies, so tests pass
 * fakes only where a fake is honest. Workflows import the *type* only.
 */
import { backdoorRefusals } from '../lib/metrics';
import { createPingActivities } from './ping';
import { createReconcileActivities } from './reconcile';
import { createTransactionActivities, type TransactionActivityDeps } from './transactions';
import { createWebhookActivities, type WebhookActivityDeps } from './webhooks';

export type ActivityDeps = TransactionActivityDeps & WebhookActivityDeps;

export function createActivities(deps: ActivityDeps) {
  return {
    ...createPingActivities(deps),
    // A refused back-door message is counted (countersign_backdoor_refusals_total) unless the caller counts it itself.
    ...createTransactionActivities({ onMessageRefused: (update) => backdoorRefusals.inc({ update }), ...deps }),
    ...createWebhookActivities(deps),
    ...createReconcileActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
