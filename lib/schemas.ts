/**
 * zod pieces shared by every route schema. JSON Schema's minLength/maxLength
 * count code points while zod's .min()/.max() count UTF-16 units, so a
 * published length bound must be checked in code points too (docs/http-contract.md:
 * "string lengths count code points").
 */
import { z } from 'zod';

export function codePointLength(text: string): number {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

/** A string of min..max code points, published as minLength/maxLength. */
export function codePointString(min: number, max: number) {
  return z
    .string()
    .refine((text) => {
      const n = codePointLength(text);
      return n >= min && n <= max;
    }, `must be ${min} to ${max} characters long`)
    .meta({ minLength: min, maxLength: max });
}

/** A lowercase UUID, as PostgreSQL and randomUUID() write them (docs/http-contract.md: ids are lowercase UUIDs). */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const isUuid = (value: unknown): value is string => typeof value === 'string' && UUID_PATTERN.test(value);
export const uuidString = () => z.string().regex(UUID_PATTERN);

/** A string of min..max code points. */
export const boundedString = codePointString;

// eslint-disable-next-line no-control-regex -- refusing U+0000 is the point
const NO_NUL = /^[^\u0000]*$/;
/**
 * Free text stored in PostgreSQL as given (memo, rejection reason): a `text`
 * column cannot hold U+0000, so it is refused here as a 400 naming the field —
 * not a 500 from the database. Other control characters are kept and stripped
 * only where the text is shown.
 */
export function storedText(min: number, max: number) {
  return z
    .string()
    .regex(NO_NUL, 'must not contain NUL (U+0000) characters')
    .refine((text) => {
      const n = codePointLength(text);
      return n >= min && n <= max;
    }, `must be ${min} to ${max} characters long`)
    .meta({ minLength: min, maxLength: max });
}

export const Address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, 'expected a 0x-prefixed 20-byte hex address');
export const MfaCode = z.string().regex(/^[0-9]{6}$/, 'expected the 6-digit code from the authenticator app');
/** A password as typed: 1–128 code points (the policy on new passwords is the users domain's). */
export const Password = boundedString(1, 128);

/** One of the configured chains (docs/http-contract.md: `chain_id` is an enum of them). */
export function chainIdSchema(chainIds: readonly number[]) {
  const [first, ...rest] = chainIds.map((id) => z.literal(id));
  if (!first) throw new Error('no chain configured');
  return rest.length === 0 ? first : z.union([first, ...rest]);
}

