/**
 * All activities, built by one factory from their dependencies, so tests pass
 * fakes only where a fake is honest. Workflows import the *type* only.
 */
import { createPingActivities } from './ping';
import { createTransactionActivities, type TransactionActivityDeps } from './transactions';
import { createWebhookActivities, type WebhookActivityDeps } from './webhooks';

export type ActivityDeps = TransactionActivityDeps & WebhookActivityDeps;

export function createActivities(deps: ActivityDeps) {
  return {
    ...createPingActivities(deps),
    ...createTransactionActivities(deps),
    ...createWebhookActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
