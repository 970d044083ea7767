/**
 * Temporal connection helpers shared by the API and the worker. Both refuse to
 * run when the project's search attributes are not registered: an upsert of an
 * unregistered attribute fails workflow tasks silently.
 */
import { Client, Connection, type ClientOptions } from '@temporalio/client';
import { SEARCH_ATTRIBUTE_TYPES } from '../workflows/definitions';

export interface TemporalClientOptions {
  address: string;
  namespace: string;
  /** The payload codec (domains/history): without it, payloads reach Temporal's store in clear. */
  dataConverter?: ClientOptions['dataConverter'];
  /** Tracing (lib/tracing.ts). */
  interceptors?: ClientOptions['interceptors'];
}

export async function connectTemporal(options: TemporalClientOptions) {
  const connection = await Connection.connect({ address: options.address, connectTimeout: '10s' });
  const client = new Client({
    connection,
    namespace: options.namespace,
    ...(options.dataConverter ? { dataConverter: options.dataConverter } : {}),
    ...(options.interceptors ? { interceptors: options.interceptors } : {}),
  });
  return { connection, client };
}

export class SearchAttributesMissingError extends Error {
  override name = 'SearchAttributesMissingError';
}

/** Throws naming every custom search attribute the namespace lacks. */
export async function assertSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  const response = await connection.operatorService.listSearchAttributes({ namespace });
  const registered = response.customAttributes ?? {};
  const missing = Object.keys(SEARCH_ATTRIBUTE_TYPES).filter((name) => !(name in registered));
  if (missing.length > 0) {
    throw new SearchAttributesMissingError(
      `Temporal namespace "${namespace}" lacks the search attributes ${missing.join(', ')}; register them (temporal operator search-attribute create --name <Name> --type <Type>) before starting Countersign`,
    );
  }
}

/** Registers any missing attribute (test servers and first dev start). */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<void> {
  let registered: Record<string, unknown> = {};
  try {
    registered = (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
  } catch (err) {
    // The time-skipping test server cannot list them; it accepts adding them.
    if ((err as { code?: number }).code !== 12 /* UNIMPLEMENTED */) throw err;
  }
  const TYPE_ENUM = { Keyword: 2, Int: 3 } as const; // temporal.api.enums.v1.IndexedValueType
  const searchAttributes = Object.fromEntries(
    Object.entries(SEARCH_ATTRIBUTE_TYPES)
      .filter(([name]) => !(name in registered))
      .map(([name, type]) => [name, TYPE_ENUM[type]]),
  );
  if (Object.keys(searchAttributes).length === 0) return;
  await connection.operatorService.addSearchAttributes({ namespace, searchAttributes });
}
