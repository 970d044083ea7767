/**
 * All activities, built by one factory from their dependencies, so tests pass
 * fakes only where a fake is honest. Workflows import the *type* only.
 */
import type { Db } from '../lib/db';
import type { Logger } from '../lib/logger';
import { createPingActivities } from './ping';

export interface ActivityDeps {
  db: Db;
  logger: Logger;
}

export function createActivities(deps: ActivityDeps) {
  return {
    ...createPingActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
