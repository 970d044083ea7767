import os from 'node:os';
import type { Db } from '../lib/db';

export function createPingActivities(deps: { db: Db }) {
  return {
    /** Records the ping once: a retried attempt finds its own row. */
    async recordPing(pingId: string): Promise<string> {
      const recordedBy = `worker@${os.hostname()}:${process.pid}`;
      await deps.db('pings').insert({ id: pingId, message: 'pong', recorded_by: recordedBy }).onConflict('id').ignore();
      const row = await deps.db('pings').where({ id: pingId }).first('recorded_by');
      return (row as { recorded_by: string }).recorded_by;
    },
  };
}
