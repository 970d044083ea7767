/**
 * How workflow code is bundled, in one place: the build (dist/workflow-bundle.js,
 * scripts/build.ts), the worker when it runs from source (Worker.create with
 * workflowsPath and these interceptor modules), the test harness (once per run,
 * WORKFLOW_BUNDLE_PATH), the replay tests and the bench all get the same code —
 * workflows/index.ts plus the OpenTelemetry workflow interceptors (they run
 * inside the sandbox, so they must be in the bundle; a prebuilt bundle ignores
 * Worker interceptor modules).
 */
import { createRequire } from 'node:module';
import { bundleWorkflowCode, type BundleOptions } from '@temporalio/worker';
import { WORKFLOWS_SOURCE } from './app-paths';

const require = createRequire(import.meta.url);

/** Workflow interceptor modules every bundle contains. */
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')];

export function bundleWorkflows(options: { logger?: BundleOptions['logger'] } = {}): Promise<{ code: string }> {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_SOURCE,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    ...(options.logger ? { logger: options.logger } : {}),
  });
}
