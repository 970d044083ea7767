/**
 * Temporal history protection: the payload codec (codec.ts), its data keys
 * (keyring.ts) and the DataConverter both the API's client and the worker use.
 */
import type { DataConverter } from '@temporalio/common';
import { createHistoryCodec, type HistoryKeySource } from './codec';

export * from './codec';
export { createHistoryKeyring, createKey as createHistoryKey, type HistoryKeyring } from './keyring';

export function historyDataConverter(keys: HistoryKeySource): DataConverter {
  return { payloadCodecs: [createHistoryCodec(keys)] };
}
