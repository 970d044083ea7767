/** The rate limiter's shared counts (api/http/rate-limit.ts) in PostgreSQL: one upsert per flush, whatever the number of keys. */
import type { Db } from '../../lib/db';
import type { RateLimitStore, SharedCount } from './rate-limit';

export function createPostgresRateLimitStore(db: Db): RateLimitStore {
  return {
    async add(deltas: readonly SharedCount[]): Promise<SharedCount[]> {
      if (deltas.length === 0) return [];
      const rows = (await db('rate_limit_windows')
        .insert(deltas.map((d) => ({ key: d.key, window_start: d.windowStart, count: d.count })))
        .onConflict(['key', 'window_start'])
        .merge({ count: db.raw('rate_limit_windows.count + excluded.count') })
        .returning(['key', 'window_start', 'count'])) as Array<{ key: string; window_start: Date; count: number }>;
      return rows.map((row) => ({ key: row.key, windowStart: row.window_start, count: row.count }));
    },
    async sweep(before: Date): Promise<void> {
      await db('rate_limit_windows').where('window_start', '<', before).delete();
    },
  };
}
