import { proxyActivities } from '@temporalio/workflow';
import type { createActivities } from '../activities';

const { recordPing } = proxyActivities<ReturnType<typeof createActivities>>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 5 },
});

/** The first end-to-end slice: API → Temporal → worker → PostgreSQL. */
export async function pingWorkflow(pingId: string): Promise<{ pingId: string; recordedBy: string }> {
  const recordedBy = await recordPing(pingId);
  return { pingId, recordedBy };
}
