/**
 * A route is declared once — method, path, who may call it, zod schemas for
 * its input and output — and that one declaration drives validation, the
 * router and the OpenAPI document (api/http/openapi.ts), so they cannot drift.
 */
import type { Context } from 'koa';
import type { z } from 'zod';
import type { Principal, UserPrincipal, AgentPrincipal } from './principal';

/** Who may call a route (docs/http-contract.md, "Who may call what"). */
export type RouteAuth = 'public' | 'user' | 'agent' | 'principal';

type PrincipalFor<A extends RouteAuth> = A extends 'user'
  ? UserPrincipal
  : A extends 'agent'
    ? AgentPrincipal
    : A extends 'principal'
      ? Principal
      : Principal | undefined;

export interface HandlerInput<A extends RouteAuth, B, Q, P, H = unknown> {
  principal: PrincipalFor<A>;
  body: B;
  query: Q;
  params: P;
  /** The declared request headers (`RouteSpec.headers`), validated; a present but empty header is validated (and refused) like any other value. */
  headerParams: H;
  /** Client address (X-Forwarded-For only when TRUST_PROXY is on). */
  ip: string;
  requestId: string;
  headers: Context['headers'];
  koa: Context;
}

export interface HandlerResult {
  status: number;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface RouteSpec<A extends RouteAuth = RouteAuth, B = unknown, Q = unknown, P = unknown, H = unknown> {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  auth: A;
  summary: string;
  tags: string[];
  body?: z.ZodType<B>;
  query?: z.ZodType<Q>;
  params?: z.ZodType<P>;
  /** Request headers the route reads, keyed by their canonical name (e.g. `Idempotency-Key`). */
  headers?: z.ZodType<H>;
  /** Success responses by status; `null` for an empty body (204). */
  responses: Record<number, z.ZodType | null>;
  /** Error statuses this route can answer, beyond the common ones every route documents. */
  errors?: number[];
  /** Rate-limit bucket; routes without one share the per-principal default. */
  rateLimit?: 'login' | 'register' | 'default' | 'none';
  /** SSE and similar: the handler writes the response itself. */
  raw?: boolean;
  /** Left out of the OpenAPI document: not a REST operation (POST /mcp speaks JSON-RPC). */
  undocumented?: boolean;
  /** Extra OpenAPI response content types for the success status (e.g. text/event-stream). */
  alsoProduces?: string[];
  handler(input: HandlerInput<A, B, Q, P, H>): Promise<HandlerResult>;
}

/** Identity helper that keeps the generic types of one route together. */
export function defineRoute<A extends RouteAuth, B = undefined, Q = undefined, P = undefined, H = undefined>(
  spec: RouteSpec<A, B, Q, P, H>,
): RouteSpec<A, B, Q, P, H> {
  return spec;
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyRoute = RouteSpec<any, any, any, any, any>;
