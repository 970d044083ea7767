/**
 * Determinism guard: the committed histories of every lifecycle (recorded by
 * test/support/record-histories.ts on the real stack) must replay against the
 * current workflow code without a non-determinism error.
 *
 * Five sets, newest first. histories/ is what the current code records: every
 * payload encrypted by the codec (domains/history), with the recording's test
 * data key beside it (history-key.json). histories/encoded/ was recorded with
 * the codec before the `verify-commands` patch (execute, reject and cancel
 * trusted as sent). histories/v3/, v2/ and v1/ were recorded before the codec
 * (payloads in clear, as workflows started before it look; the codec passes
 * them through): v3/ with the `verify-commands` patch, v2/ before it, v1/
 * before the `notify-only-with-webhooks` patch too (a notifyWebhooks activity
 * after every status change). Each replays on the path it was recorded on.
 * (The `failure-search-attribute` patch is taken only by a request that fails,
 * which none of the recorded lifecycles does.)
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

/** The lifecycles whose histories carry an execute, reject or cancel command (verified by a local activity). */
const WITH_COMMANDS = new Set(['confirmed.json', 'rejected.json', 'cancelled.json']);
const SETS = [
  { name: 'current', dir: ROOT, lifecycles: [...LIFECYCLES, 'confirmed_webhook'].sort(), patched: true, commands: true, encoded: true },
  { name: 'encoded', dir: path.join(ROOT, 'encoded'), lifecycles: [...LIFECYCLES, 'confirmed_webhook'].sort(), patched: true, commands: false, encoded: true },
  { name: 'v3', dir: path.join(ROOT, 'v3'), lifecycles: [...LIFECYCLES, 'confirmed_webhook'].sort(), patched: true, commands: true, encoded: false },
  { name: 'v2', dir: path.join(ROOT, 'v2'), lifecycles: [...LIFECYCLES, 'confirmed_webhook'].sort(), patched: true, commands: false, encoded: false },
  { name: 'v1', dir: path.join(ROOT, 'v1'), lifecycles: LIFECYCLES, patched: false, commands: false, encoded: false },
];

const KEY_FILE = 'history-key.json';
/** The data key a set was recorded with (a throwaway test key, committed with the fixtures). */
function recordingKey(dir: string): HistoryKey {
  const { id, key } = JSON.parse(readFileSync(path.join(dir, KEY_FILE), 'utf8')) as { id: string; key: string };
  return { id, key: Buffer.from(key, 'base64') };
}
/** Every set replays through the codec, as in production; sets in clear get the current key (and pass through it). */
const dataConverterFor = (set: { dir: string; encoded: boolean }) => historyDataConverter(staticKeySource([recordingKey(set.encoded ? set.dir : ROOT)]));

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
  const dataConverter = dataConverterFor(set);
  const files = readdirSync(set.dir).filter((f) => f.endsWith('.json') && f !== KEY_FILE).sort();

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

test('current: without the codec the histories do not replay (their payloads are unreadable)', async () => {
  const bundle = await workflowBundle();
  await assert.rejects(
    Worker.runReplayHistory({ workflowBundle: 'codePath' in bundle ? bundle : { code: bundle.code }, sinks: NO_TRACING_SINKS }, read(ROOT, 'confirmed.json'), 'replay-current-without-codec'),
  );
});
