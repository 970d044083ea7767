/**
 * Determinism guard: the committed histories of every lifecycle (recorded by
 * test/support/record-histories.ts on the real stack) must replay against the
 * current workflow code without a non-determinism error.
 *
 * Three sets: histories/ is what the current code records; histories/v2/
 * was recorded before the `verify-commands` patch (execute, reject and cancel
 * trusted as sent); histories/v1/ before the `notify-only-with-webhooks` patch
 * too (a notifyWebhooks activity after every status change). Each replays on
 * the path it was recorded on.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../support/app';

const ROOT = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures', 'histories');
const LIFECYCLES = ['approval_expired', 'auto_executed', 'cancelled', 'confirmed', 'execution_expired', 'rejected'];

interface HistoryEvent {
  eventType: string;
  activityTaskScheduledEventAttributes?: { activityType: { name: string } };
  markerRecordedEventAttributes?: { markerName: string; details?: Record<string, { payloads?: { data?: string }[] }> };
}

/** The lifecycles whose histories carry an execute, reject or cancel command (verified by a local activity). */
const WITH_COMMANDS = new Set(['confirmed.json', 'rejected.json', 'cancelled.json']);
const SETS = [
  { name: 'current', dir: ROOT, lifecycles: [...LIFECYCLES, 'confirmed_webhook'].sort(), patched: true, commands: true },
  { name: 'v2', dir: path.join(ROOT, 'v2'), lifecycles: [...LIFECYCLES, 'confirmed_webhook'].sort(), patched: true, commands: false },
  { name: 'v1', dir: path.join(ROOT, 'v1'), lifecycles: LIFECYCLES, patched: false, commands: false },
];

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

/** Local activities of one type recorded in the history (their markers carry the activity type). */
const localActivities = (history: { events: HistoryEvent[] }, type: string) =>
  history.events.filter((e) => {
    if (e.markerRecordedEventAttributes?.markerName !== 'core_local_activity') return false;
    const data = e.markerRecordedEventAttributes.details?.['data']?.payloads?.[0]?.data ?? '';
    return Buffer.from(data, 'base64').toString('utf8').includes(`"${type}"`);
  }).length;

for (const set of SETS) {
  const files = readdirSync(set.dir).filter((f) => f.endsWith('.json')).sort();

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
      const verified = set.commands && WITH_COMMANDS.has(file);
      assert.deepEqual(patchIds(history), verified ? ['notify-only-with-webhooks', 'verify-commands'] : ['notify-only-with-webhooks'], file);
      assert.equal(localActivities(history, 'verifyCommand'), verified ? 1 : 0, `${file}: commands verified`);
      // Only the agent with a webhook is notified: 5 status changes, 5 activities.
      assert.equal(notifyCount(history), file === 'confirmed_webhook.json' ? 5 : 0, file);
    }
  });

  for (const file of files) {
    test(`${set.name}: replays ${file}`, async () => {
      // The CLI's JSON export; the replayer decodes it itself.
      const history: unknown = read(set.dir, file);
      const bundle = await workflowBundle();
      await Worker.runReplayHistory({ workflowBundle: 'codePath' in bundle ? bundle : { code: bundle.code } }, history, `replay-${set.name}-${file}`);
    });
  }
}
