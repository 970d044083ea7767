/**
 * OpenTelemetry traces: the API's HTTP span → the Temporal client's
 * StartWorkflow / Update spans → the workflow's spans → the activities' spans,
 * one trace id throughout (the Temporal interceptors carry the context in
 * Temporal headers). Exported as OTLP/HTTP (JSON) to
 * `${OTEL_EXPORTER_OTLP_ENDPOINT}/v1/traces`, batched.
 *
 * Unset endpoint: no tracer provider is installed, the API adds no middleware,
 * the client and activities get no interceptors. The workflow interceptors are
 * in the workflow bundle either way (it is built once, lib/workflow-bundle.ts);
 * without tracing their spans go to a no-op sink.
 */
import { context, propagation, SpanKind, SpanStatusCode, trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { ClientInterceptors } from '@temporalio/client';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { InjectedSinks, WorkerInterceptors } from '@temporalio/worker';
import type { Context as KoaContext, Next } from 'koa';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry';

export interface Tracing {
  tracer: Tracer;
  /** For the API's (and the worker's) Temporal client. */
  clientInterceptors: ClientInterceptors;
  /** Activity interceptors (the workflow ones are bundled). */
  activityInterceptors: NonNullable<WorkerInterceptors['activity']>;
  sinks: InjectedSinks<OpenTelemetrySinks>;
  /** Sends what is buffered; call before the process exits. */
  flush(): Promise<void>;
}

let installed: { tracing: Tracing; processor: SpanProcessor } | undefined;

/**
 * Installs the process's tracer provider when an endpoint is configured; undefined otherwise.
 * Once per process: a second call (the API and the worker in one test process) gets the first.
 */
export function startTracing(options: { endpoint: string | undefined; serviceName: string }): Tracing | undefined {
  if (!options.endpoint) return undefined;
  if (installed) return installed.tracing;
  const resource = new Resource({ 'service.name': options.serviceName });
  const exporter = new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/+$/, '')}/v1/traces` });
  const processor = new BatchSpanProcessor(exporter, { scheduledDelayMillis: 1000 });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [processor] });
  // Global: the AsyncLocalStorage context manager and the W3C trace-context propagator.
  provider.register();
  const tracer = trace.getTracer('countersign');
  const tracing: Tracing = {
    tracer,
    clientInterceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer })] },
    activityInterceptors: [
      (ctx) => ({ inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }), outbound: new OpenTelemetryActivityOutboundInterceptor(ctx) }),
    ],
    sinks: { exporter: makeWorkflowExporter(processor, resource) },
    flush: () => provider.forceFlush(),
  };
  installed = { tracing, processor };
  return tracing;
}

/** Where the bundled workflow interceptors send their spans when tracing is off. */
export const NO_TRACING_SINKS: InjectedSinks<OpenTelemetrySinks> = {
  exporter: { export: { fn: () => undefined, callDuringReplay: false } },
};

/**
 * The API's server span for each request, named by method and route template, continuing an
 * incoming `traceparent` if there is one. Runs inside it: everything the request calls (the
 * Temporal client included) is its child.
 */
export function httpServerSpans(tracer: Tracer) {
  return async (ctx: KoaContext, next: Next) => {
    const parent = propagation.extract(context.active(), ctx.headers);
    await tracer.startActiveSpan(`${ctx.method} ${ctx.path.startsWith('/api/') ? 'api' : 'app'}`, { kind: SpanKind.SERVER, attributes: { 'http.request.method': ctx.method } }, parent, async (span) => {
      // For the request's log line, written after the span ends.
      ctx.state.traceId = span.spanContext().traceId;
      try {
        await next();
      } finally {
        const route = typeof ctx.state.route === 'string' ? ctx.state.route : undefined;
        if (route) {
          span.updateName(`${ctx.method} ${route}`);
          span.setAttribute('http.route', route);
        }
        span.setAttribute('http.response.status_code', ctx.status);
        if (typeof ctx.state.requestId === 'string') span.setAttribute('countersign.request_id', ctx.state.requestId);
        if (ctx.status >= 500) span.setStatus({ code: SpanStatusCode.ERROR });
        span.end();
      }
    });
  };
}
