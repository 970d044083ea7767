/**
 * What makes a username or password acceptable (NIST SP 800-63B): usernames
 * 3–64 of `[a-z0-9._-]` (any case accepted, stored lowercase, so uniqueness is
 * case-insensitive); passwords 8–128 code points, no composition rules, but
 * not one from the shipped list of common passwords nor the username itself.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { DATA_DIR } from '../../lib/app-paths';

/** Accepted on the wire (any case); the stored form is lowercase. */
export const USERNAME_PATTERN = /^[A-Za-z0-9._-]{3,64}$/;
export const PASSWORD_MIN = 8;
export const PASSWORD_MAX = 128;

export const normalizeUsername = (username: string) => username.toLowerCase();

export const COMMON_PASSWORDS_FILE = path.join(DATA_DIR, 'common-passwords.txt');

let common: ReadonlySet<string> | undefined;

/** The shipped list, lowercase, read once (a missing file is a deployment error, not an empty list). */
export function commonPasswords(file = COMMON_PASSWORDS_FILE): ReadonlySet<string> {
  if (common && file === COMMON_PASSWORDS_FILE) return common;
  const entries = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.length > 0 && !line.startsWith('#'))
    .map((line) => line.toLowerCase());
  const set = new Set(entries);
  if (file === COMMON_PASSWORDS_FILE) common = set;
  return set;
}

export type PasswordProblem = 'common' | 'same_as_username';

/** Why a new password is refused, or undefined when it is acceptable. Length is the schema's job. */
export function passwordProblem(password: string, username: string): PasswordProblem | undefined {
  const lowered = password.toLowerCase();
  if (lowered === username.toLowerCase()) return 'same_as_username';
  if (commonPasswords().has(lowered)) return 'common';
  return undefined;
}

/** Length in code points (what users count, and what JSON Schema's minLength/maxLength count). */
export const codePointLength = (text: string) => {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
};
