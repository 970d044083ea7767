/**
 * Determinism guard: the committed histories of every lifecycle (recorded by
 * test/support/record-histories.ts on the real stack) must replay against the
 * current workflow code without a non-determinism error.
 *
 * Three sets: histories/ and histories/v1/ were recorded before the payload
 * codec (payloads in clear): v1/ also before the `notify-only-with-webhooks`
 * patch (a notifyWebhooks activity after every status change), replaying on the
 * unpatched path. histories/encoded/ is what the current code records: every
 * payload encrypted by the codec (domains/history), with the recording's test
 * data key beside it (history-key.json). Every set replays through the codec,
 * which passes unencrypted payloads through — as it does for workflows started
 * before it existed.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../support/app';
import { historyDataConverter, isEncrypted, staticKeySource, type HistoryKey } from '../../domains/history';
import { NO_TRACING_SINKS } from '../../lib/tracing';
import { applicationPayloads } from '../support/history';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures', 'histories');
const LIFECYCLES = ['approval_expired', 'auto_executed', 'cancelled', 'confirmed', 'execution_expired', 'rejected'];

interface HistoryEvent {
  eventType: string;
  activityTaskScheduledEventAttributes?: { activityType: { name: string } };
  markerRecordedEventAttributes?: { markerName: string; details?: Record<string, { payloads?: { data?: string }[] }> };
}

const SETS = [
  { name: 'current', dir: ROOT, lifecycles: [...LIFECYCLES, 'confirmed_webhook'].sort(), patched: true, encoded: false },
  { name: 'v1', dir: path.join(ROOT, 'v1'), lifecycles: LIFECYCLES, patched: false, encoded: false },
  { name: 'encoded', dir: path.join(ROOT, 'encoded'), lifecycles: [...LIFECYCLES, 'confirmed_webhook'].sort(), patched: true, encoded: true },
];

const ENCODED_KEY_FILE = path.join(ROOT, 'encoded', 'history-key.json');
/** The recording's data key (a throwaway test key, committed with the fixtures). */
function fixtureKeys(): HistoryKey[] {
  const { id, key } = JSON.parse(readFileSync(ENCODED_KEY_FILE, 'utf8')) as { id: string; key: string };
  return [{ id, key: Buffer.from(key, 'base64') }];
}
const dataConverter = historyDataConverter(staticKeySource(fixtureKeys()));

const read = (dir: string, file: string) => JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as { events: HistoryEvent[] };
const notifyCount = (history: { events: HistoryEvent[] }) =>
  history.events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType.name === 'notifyWebhooks').length;
/** Patch ids recorded in the history (core's patch markers carry `{ id, deprecated }` as a JSON payload). */
const patchIds = (history: { events: HistoryEvent[] }) =>
  history.events
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
    .map((e) => {
      const data = e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads?.[0]?.data ?? '';
      return (JSON.parse(Buffer.from(data, 'base64').toString('utf8')) as { id: string }).id;
    });

for (const set of SETS) {
  const files = readdirSync(set.dir).filter((f) => f.endsWith('.json') && f !== 'history-key.json').sort();

  test(`${set.name}: there are committed histories for every lifecycle`, () => {
    assert.deepEqual(
      files.map((f) => f.replace('.json', '')),
      set.lifecycles,
    );
  });

  test(`${set.name}: the histories take the ${set.patched ? 'patched' : 'unpatched'} path`, () => {
    for (const file of files) {
      const history = read(set.dir, file);
      if (!set.patched) {
        assert.deepEqual(patchIds(history), [], file);
        assert.ok(notifyCount(history) > 0, `${file}: notifies after every status change`);
        continue;
      }
      assert.deepEqual(patchIds(history).filter((id) => id === 'notify-only-with-webhooks'), ['notify-only-with-webhooks'], file);
      // Only the agent with a webhook is notified: 5 status changes, 5 activities.
      assert.equal(notifyCount(history), file === 'confirmed_webhook.json' ? 5 : 0, file);
    }
  });

  test(`${set.name}: payloads are ${set.encoded ? 'all encrypted' : 'in clear'}`, () => {
    for (const file of files) {
      const payloads = applicationPayloads(historyFromJSON(read(set.dir, file)));
      assert.ok(payloads.length >= 2, `${file} has payloads`);
      assert.deepEqual(
        payloads.filter(({ payload }) => isEncrypted(payload) !== set.encoded).map(({ path }) => path),
        [],
        `${file}: every payload ${set.encoded ? 'encrypted' : 'unencrypted'}`,
      );
    }
  });

  for (const file of files) {
    test(`${set.name}: replays ${file}`, async () => {
      // The CLI's JSON export; the replayer decodes it itself, the codec decrypts its payloads.
      const history: unknown = read(set.dir, file);
      const bundle = await workflowBundle();
      await Worker.runReplayHistory(
        { workflowBundle: 'codePath' in bundle ? bundle : { code: bundle.code }, dataConverter, sinks: NO_TRACING_SINKS },
        history,
        `replay-${set.name}-${file}`,
      );
    });
  }
}

test('encoded: without the codec the histories do not replay (their payloads are unreadable)', async () => {
  const bundle = await workflowBundle();
  await assert.rejects(
    Worker.runReplayHistory({ workflowBundle: 'codePath' in bundle ? bundle : { code: bundle.code }, sinks: NO_TRACING_SINKS }, read(path.join(ROOT, 'encoded'), 'confirmed.json'), 'replay-encoded-without-codec'),
  );
});
