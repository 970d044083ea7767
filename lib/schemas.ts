/**
 * zod pieces shared by every route schema. JSON Schema's minLength/maxLength
 * count code points while zod's .min()/.max() count UTF-16 units, so a
 * published length bound must be checked in code points too (CONTRACT.md:
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
