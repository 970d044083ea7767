/**
 * Temporal connection helpers shared by the API and the worker. Both refuse to
 * run when the project's search attributes are not registered: an upsert of an
 * unregistered attribute fails workflow tasks silently.
 *
 * With TEMPORAL_TLS_* set, both connect with mTLS (the client for the API and
 * the worker, the worker's NativeConnection too): the server accepts only
 * certificates its CA signed, so reaching port 7233 is no longer enough to
 * send a message or read a history. scripts/temporal-certs.sh makes them.
 */
import { readFileSync } from 'node:fs';
import { Client, Connection, type ClientOptions, type TLSConfig } from '@temporalio/client';
import type { Config } from '../config/env';
import { ConfigError } from '../config/env';
import { SEARCH_ATTRIBUTE_TYPES } from '../workflows/definitions';

export type TemporalTlsSettings = Pick<Config, 'TEMPORAL_TLS_CERT' | 'TEMPORAL_TLS_KEY' | 'TEMPORAL_TLS_CA' | 'TEMPORAL_TLS_SERVER_NAME'>;

function readPem(variable: string, file: string, kind: RegExp): Buffer {
  let content: Buffer;
  try {
    content = readFileSync(file);
  } catch (err) {
    throw new ConfigError(`${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  // Name the variable, never echo the content (a key is a secret).
  if (!kind.test(content.toString('latin1'))) throw new ConfigError(`${variable}: ${file} is not a PEM file of the expected kind`);
  return content;
}

/** The client TLS options for Connection and NativeConnection, or undefined for plaintext (no TEMPORAL_TLS_* set). */
export function temporalTls(settings: TemporalTlsSettings): TLSConfig | undefined {
  const { TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key, TEMPORAL_TLS_CA: ca, TEMPORAL_TLS_SERVER_NAME: serverName } = settings;
  if (!cert && !key && !ca && !serverName) return undefined;
  return {
    ...(serverName ? { serverNameOverride: serverName } : {}),
    ...(ca ? { serverRootCACertificate: readPem('TEMPORAL_TLS_CA', ca, /-----BEGIN CERTIFICATE-----/) } : {}),
    ...(cert && key
      ? {
          clientCertPair: {
            crt: readPem('TEMPORAL_TLS_CERT', cert, /-----BEGIN CERTIFICATE-----/),
            key: readPem('TEMPORAL_TLS_KEY', key, /-----BEGIN (RSA |EC )?PRIVATE KEY-----/),
          },
        }
      : {}),
  };
}

export interface TemporalClientOptions {
  address: string;
  namespace: string;
  /** mTLS (temporalTls); plaintext without it. */
  tls?: TLSConfig | undefined;
  /** The payload codec (domains/history): without it, payloads reach Temporal's store in clear. */
  dataConverter?: ClientOptions['dataConverter'];
  /** Tracing (lib/tracing.ts). */
  interceptors?: ClientOptions['interceptors'];
}

export async function connectTemporal(options: TemporalClientOptions) {
  const connection = await Connection.connect({ address: options.address, connectTimeout: '10s', ...(options.tls ? { tls: options.tls } : {}) });
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
