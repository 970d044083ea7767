/**
 * The OpenAPI 3.1 document, generated from the same route declarations and
 * zod schemas that validate requests (docs/http-contract.md: "so the two cannot drift").
 */
import { z } from 'zod';
import type { AnyRoute } from './route';

const COMMON_ERRORS = [400, 401, 403, 404, 405, 413, 415, 429, 500, 503];
const PUBLIC_ERRORS = [400, 404, 405, 413, 415, 429, 500, 503];

const ErrorSchema = z
  .object({
    error: z
      .object({
        code: z.string(),
        message: z.string(),
        reason: z.string().optional(),
        hint: z.string().describe('One sentence telling the caller what to do next.'),
        // 400: the fields at fault; 403 policy_denied: the owner's rules that refused.
        details: z
          .array(z.union([z.object({ field: z.string(), message: z.string(), in: z.string().optional() }), z.object({ rule_id: z.string(), type: z.string(), message: z.string() })]))
          .optional(),
      })
      .loose(),
  })
  .strict();

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request',
  401: 'Not authenticated',
  403: "Forbidden (wrong principal, or a failed password / MFA check; policy_denied: the wallet owner's policy refuses the request, details name the rules)",
  404: 'Not found (unknown, or not yours)',
  405: 'Method not allowed',
  409: 'Conflict with the current state',
  413: 'Payload too large',
  415: 'Unsupported media type',
  422: 'Idempotency key reused with a different body; or, for prepare_transaction, simulation_failed: the request cannot succeed (reason: would_revert, insufficient_funds, not_a_token)',
  429: 'Rate limited or locked out',
  500: 'Internal error',
  503: 'A dependency is unavailable',
};

const jsonSchema = (schema: z.ZodType, io: 'input' | 'output') =>
  z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any' }) as Record<string, unknown>;

/**
 * zod puts recursive schemas (e.g. `z.json()` function arguments) in a `$defs`
 * at the root of each schema it emits, with `#/$defs/…` references. Embedded
 * in the document those references would point at the document's root, where
 * nothing is: clients and fuzzers could not resolve them. So each `$defs`
 * entry moves to `components.schemas` under a name unique to its use, and the
 * references follow; `$schema` goes (the document's dialect applies).
 */
function hoistDefs(schema: Record<string, unknown>, prefix: string, components: Record<string, unknown>): Record<string, unknown> {
  const { $defs, $schema: _dialect, ...rest } = schema as { $defs?: Record<string, unknown>; $schema?: unknown };
  const names = new Map(Object.keys($defs ?? {}).map((name) => [name, `${prefix}_${name.replace(/[^A-Za-z0-9_]/g, '_')}`]));
  const rewrite = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(rewrite);
    if (value === null || typeof value !== 'object') return value;
    const out: Record<string, unknown> = {};
    for (const [key, inner] of Object.entries(value)) {
      const local = key === '$ref' && typeof inner === 'string' && inner.startsWith('#/$defs/') ? names.get(inner.slice('#/$defs/'.length)) : undefined;
      out[key] = local ? `#/components/schemas/${local}` : rewrite(inner);
    }
    return out;
  };
  for (const [name, def] of Object.entries($defs ?? {})) components[names.get(name)!] = rewrite(def);
  return rewrite(rest) as Record<string, unknown>;
}

/** Koa's `/api/agents/:id` → OpenAPI's `/api/agents/{id}`. */
export const openApiPath = (path: string) => path.replace(/:([A-Za-z_]+)/g, '{$1}');

export function buildOpenApi(routes: AnyRoute[], info: { version: string; serverUrl?: string }) {
  const paths: Record<string, Record<string, unknown>> = {};
  const schemas: Record<string, unknown> = {};
  schemas.Error = hoistDefs(jsonSchema(ErrorSchema, 'output'), 'Error', schemas);
  for (const route of routes) {
    if (route.undocumented) continue;
    const id = operationId(route);
    const toSchema = (schema: z.ZodType, io: 'input' | 'output', where: string) => hoistDefs(jsonSchema(schema, io), `${id}_${where}`, schemas);
    const operation: Record<string, unknown> = {
      operationId: id,
      summary: route.summary,
      tags: route.tags,
      security: security(route.auth),
      parameters: [
        ...parameters(route.params, 'path', toSchema),
        ...parameters(route.query, 'query', toSchema),
        ...parameters(route.headers, 'header', toSchema),
      ],
      responses: responses(route, toSchema),
    };
    if (route.body) {
      operation.requestBody = { required: true, content: { 'application/json': { schema: toSchema(route.body, 'input', 'body') } } };
    }
    (paths[openApiPath(route.path)] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'Countersign API',
      version: info.version,
      description: 'Agents propose EVM transactions; the wallet owner countersigns each with a TOTP code before anything is signed.',
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    paths,
    components: {
      securitySchemes: {
        bearerAuth: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT', description: 'A user access token from POST /api/login' },
        apiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'An agent API key' },
        sessionCookie: { type: 'apiKey', in: 'cookie', name: 'cs_session', description: 'The web app session (writes also need X-CSRF-Token)' },
      },
      schemas,
    },
  };
}

function operationId(route: AnyRoute) {
  const words = route.path
    .replace(/^\/api\//, '')
    .split('/')
    .filter(Boolean)
    .map((part) => (part.startsWith(':') ? `by_${part.slice(1)}` : part));
  return [route.method.toLowerCase(), ...words].join('_').replace(/[^A-Za-z0-9_]/g, '_');
}

function security(auth: AnyRoute['auth']) {
  switch (auth) {
    case 'public':
      return [];
    case 'user':
      return [{ bearerAuth: [] }, { sessionCookie: [] }];
    case 'agent':
      return [{ apiKeyHeader: [] }];
    case 'principal':
      // In the order the API picks one credential (api/http/authenticate.ts): X-API-Key, then
      // Authorization, then the cookie — a stale cookie beside a valid key or token is not used.
      return [{ apiKeyHeader: [] }, { bearerAuth: [] }, { sessionCookie: [] }];
  }
}

type ToSchema = (schema: z.ZodType, io: 'input' | 'output', where: string) => Record<string, unknown>;

function parameters(schema: z.ZodType | undefined, where: 'path' | 'query' | 'header', toSchema: ToSchema) {
  if (!schema) return [];
  const json = toSchema(schema, 'input', where) as { properties?: Record<string, unknown>; required?: string[] };
  return Object.entries(json.properties ?? {}).map(([name, property]) => ({
    name,
    in: where,
    required: where === 'path' || (json.required ?? []).includes(name),
    schema: property,
  }));
}

function responses(route: AnyRoute, toSchema: ToSchema) {
  const out: Record<string, unknown> = {};
  for (const [status, schema] of Object.entries(route.responses)) {
    const content: Record<string, unknown> = {};
    if (schema) content['application/json'] = { schema: toSchema(schema, 'output', `response${status}`) };
    for (const type of route.alsoProduces ?? []) content[type] = { schema: { type: 'string' } };
    out[status] = { description: 'Success', ...(Object.keys(content).length ? { content } : {}) };
  }
  const errors = new Set([...(route.auth === 'public' ? PUBLIC_ERRORS : COMMON_ERRORS), ...(route.errors ?? [])]);
  for (const status of [...errors].sort()) {
    if (String(status) in out) continue; // the route documents its own body for this status
    out[String(status)] = {
      description: ERROR_DESCRIPTIONS[status] ?? 'Error',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
      ...(status === 429 || status === 503 ? { headers: { 'Retry-After': { schema: { type: 'string' } } } } : {}),
    };
  }
  return out;
}
