/**
 * How workflow code is bundled, in one place: the worker (when it bundles at
 * start-up), the test harness (once per run, WORKFLOW_BUNDLE_PATH), the replay
 * tests and the bench all build the same bundle — workflows/index.ts plus
 * the OpenTelemetry workflow interceptors (they run inside the sandbox, so they
 * must be in the bundle; a prebuilt bundle ignores Worker interceptor modules).
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type BundleOptions } from '@temporalio/worker';

const require = createRequire(import.meta.url);

export const WORKFLOWS_PATH = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'workflows', 'index.ts');

/** Workflow interceptor modules every bundle contains. */
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('@temporalio/interceptors-opentelemetry/lib/workflow-interceptors')];

export function bundleWorkflows(options: { logger?: BundleOptions['logger'] } = {}): Promise<{ code: string }> {
  return bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES,
    ...(options.logger ? { logger: options.logger } : {}),
  });
}
