import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';

const { requeueWebhookDeliveries } = proxyActivities<Activities>({ startToCloseTimeout: '30 seconds', retry: { maximumAttempts: 5 } });
/** As the transaction workflow's own webhook activity (workflows/transaction.ts): the database caps attempts per delivery. */
const { notifyWebhooks } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', backoffCoefficient: 2, maximumInterval: '10 minutes', maximumAttempts: 12 },
});

/**
 * An operator's re-send of a transaction's webhook notifications (`npm run
 * admin -- resend`): its failed deliveries get a fresh attempt budget and
 * each of their events is delivered again, with the same delivery ids. A
 * delivery that succeeded is not sent twice. Returns the versions re-sent.
 */
export async function resendNotificationsWorkflow({ transactionId }: { transactionId: string }): Promise<{ versions: number[] }> {
  const versions = await requeueWebhookDeliveries({ transactionId });
  for (const version of versions) await notifyWebhooks({ transactionId, version });
  return { versions };
}
