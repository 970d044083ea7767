/**
 * The worker's Temporal Runtime: the SDK's logs go through pino (one JSON line
 * each, like the rest of the process — the SDK's default logger writes
 * multi-line objects), and the SDK's own worker metrics (task slots, poll and
 * task latencies, sticky cache, …) are exported with ours on the worker's
 * /metrics.
 *
 * Metrics come through the SDK's buffered exporter (`telemetryOptions.metrics.buffer`)
 * and are rendered here in Prometheus' text format, so the worker needs no
 * second port (several workers on one host never collide). The buffer is
 * drained every few seconds and on each scrape. Names keep the SDK's
 * `temporal_` prefix; durations are in seconds.
 *
 * Runtime.install must run before the first NativeConnection; call this first.
 */
import { ApplicationFailure, type LogLevel, type LogMetadata, type Logger as TemporalLogger } from '@temporalio/common';
import { MetricsBuffer, Runtime, type BufferedMetricUpdate } from '@temporalio/worker';
import type { Logger } from './logger';

/** Refusals the product expects (the database said no, a policy said no): info, without a stack. */
const EXPECTED_FAILURE_TYPES = new Set(['Refused', 'SigningRefused', 'PolicyRefused', 'BroadcastRejected']);

export interface TemporalRuntime {
  /** The SDK's metrics as Prometheus text. */
  renderMetrics(): string;
  stop(): void;
}

export function installTemporalRuntime(logger: Logger, options: { drainMs?: number } = {}): TemporalRuntime {
  const buffer = new MetricsBuffer({ maxBufferSize: 50_000, useSecondsForDurations: true });
  Runtime.install({
    logger: temporalLogger(logger),
    telemetryOptions: {
      // Core's own (Rust) log lines are forwarded to the logger above instead of printed.
      logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } },
      metrics: { buffer },
    },
  });
  const store = createPrometheusStore();
  const drain = () => {
    for (const update of buffer.retrieveUpdates()) store.apply(update);
  };
  const timer = setInterval(drain, options.drainMs ?? 5_000);
  timer.unref();
  return {
    renderMetrics() {
      drain();
      return store.render();
    },
    stop: () => clearInterval(timer),
  };
}

/** Temporal's Logger interface on top of pino: metadata as fields, errors by name and message. */
export function temporalLogger(logger: Logger): TemporalLogger {
  const sdk = logger.child({ component: 'temporal-sdk' });
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => {
    const { error, ...fields } = (meta ?? {}) as LogMetadata & { error?: unknown };
    const expected = isExpectedRefusal(error);
    const pinoLevel = expected && (level === 'WARN' || level === 'ERROR') ? 'info' : PINO_LEVEL[level];
    const described = error === undefined ? {} : { err: describeError(error, !expected) };
    sdk[pinoLevel]({ ...flatten(fields), ...described }, message);
  };
  return {
    log,
    trace: (message, meta) => log('TRACE', message, meta),
    debug: (message, meta) => log('DEBUG', message, meta),
    info: (message, meta) => log('INFO', message, meta),
    warn: (message, meta) => log('WARN', message, meta),
    error: (message, meta) => log('ERROR', message, meta),
  };
}

const PINO_LEVEL: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = { TRACE: 'trace', DEBUG: 'debug', INFO: 'info', WARN: 'warn', ERROR: 'error' };

function isExpectedRefusal(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth += 1) {
    if (e instanceof ApplicationFailure && e.type && EXPECTED_FAILURE_TYPES.has(e.type)) return true;
  }
  return false;
}

/** Name, type and message; the stack only for unexpected errors (activities keep raw errors out of messages). */
function describeError(error: unknown, withStack: boolean) {
  if (!(error instanceof Error)) return { message: String(error).slice(0, 200) };
  const type = (error as { type?: unknown }).type;
  const cause = error.cause instanceof Error ? { name: error.cause.name, message: error.cause.message.slice(0, 200), type: (error.cause as { type?: unknown }).type } : undefined;
  return {
    name: error.name,
    ...(typeof type === 'string' ? { type } : {}),
    message: error.message.slice(0, 500),
    ...(cause ? { cause } : {}),
    ...(withStack && error.stack ? { stack: error.stack.split('\n').slice(0, 8).join('\n') } : {}),
  };
}

/** Temporal's metadata holds bigint timestamps and nested objects: plain JSON-safe fields. */
function flatten(fields: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(fields)) {
    if (typeof value === 'bigint') out[key] = value.toString();
    else if (value === undefined || typeof value === 'function') continue;
    else out[key] = value;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The SDK's buffered metric updates, kept as Prometheus series

const HISTOGRAM_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

interface Family {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  series: Map<string, { labels: string; value: number; buckets?: number[]; sum?: number; count?: number }>;
}

export function createPrometheusStore() {
  const families = new Map<string, Family>();

  function familyOf(update: BufferedMetricUpdate): Family {
    const { metric } = update;
    const name = promName(metric.name.startsWith('temporal_') ? metric.name : `temporal_${metric.name}`);
    let family = families.get(name);
    if (!family) {
      const type = metric.kind === 'counter' ? 'counter' : metric.kind === 'histogram' ? 'histogram' : 'gauge';
      family = { name, help: (metric.description ?? metric.name).replace(/\s+/g, ' '), type, series: new Map() };
      families.set(name, family);
    }
    return family;
  }

  return {
    apply(update: BufferedMetricUpdate) {
      const family = familyOf(update);
      const labels = renderLabels(update.attributes as Record<string, unknown>);
      let series = family.series.get(labels);
      if (!series) {
        series = { labels, value: 0, ...(family.type === 'histogram' ? { buckets: HISTOGRAM_BUCKETS.map(() => 0), sum: 0, count: 0 } : {}) };
        family.series.set(labels, series);
      }
      const value = Number(update.value);
      if (!Number.isFinite(value)) return;
      if (update.metric.kind === 'counter' || update.metric.kind === 'up-down-counter') series.value += value;
      else if (update.metric.kind === 'gauge') series.value = value;
      else {
        HISTOGRAM_BUCKETS.forEach((bound, i) => {
          if (value <= bound) series.buckets![i]! += 1;
        });
        series.sum! += value;
        series.count! += 1;
      }
    },

    render(): string {
      const lines: string[] = [];
      for (const family of families.values()) {
        lines.push(`# HELP ${family.name} ${family.help}`, `# TYPE ${family.name} ${family.type}`);
        for (const s of family.series.values()) {
          if (family.type !== 'histogram') {
            lines.push(`${family.name}${braces(s.labels)} ${s.value}`);
            continue;
          }
          HISTOGRAM_BUCKETS.forEach((bound, i) => lines.push(`${family.name}_bucket${braces(join(s.labels, `le="${bound}"`))} ${s.buckets![i]}`));
          lines.push(`${family.name}_bucket${braces(join(s.labels, 'le="+Inf"'))} ${s.count}`, `${family.name}_sum${braces(s.labels)} ${s.sum}`, `${family.name}_count${braces(s.labels)} ${s.count}`);
        }
      }
      return lines.length > 0 ? `${lines.join('\n')}\n` : '';
    },
  };
}

const promName = (name: string) => name.replace(/[^a-zA-Z0-9_:]/g, '_');
const escape = (value: string) => value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const join = (a: string, b: string) => (a ? `${a},${b}` : b);
const braces = (labels: string) => (labels ? `{${labels}}` : '');

function renderLabels(attributes: Record<string, unknown>): string {
  return Object.keys(attributes)
    .sort()
    .map((key) => `${promName(key)}="${escape(String(attributes[key]))}"`)
    .join(',');
}
