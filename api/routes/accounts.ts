/**
 * Account routes: register, login, logout, MFA enrolment, password change and
 * sessions (docs/http-contract.md; issue 19 §5 for the last two).
 *
 * * `POST /api/change_password` `{current_password, new_password, mfa_code}` → 204:
 *   every other session of the user is revoked; the caller's stays valid (it
 *   proved the password and a code just now), so the web app carries on.
 * * `GET /api/sessions` → `{sessions}`; `DELETE /api/sessions/:id` → 204 (404 for
 *   an unknown or someone else's); `POST /api/logout_all` → 204, every session
 *   including the caller's, and the session cookies cleared.
 * * Confirming a new factor (`confirm_mfa`) or replacing one (`setup_mfa` with
 *   password and code) revokes every other session too.
 *
 * Usernames are accepted in any case and stored lowercase (`Alice` and `alice`
 * are one account); string lengths count code points, as the published JSON
 * Schema does, so input that matches the schema is never a 400.
 */
import { z } from 'zod';
import type { Config } from '../../config/env';
import type { UserService } from '../../domains/users';
import type { MfaService } from '../../domains/mfa';
import { USERNAME_PATTERN, PASSWORD_MAX, PASSWORD_MIN } from '../../domains/users';
import { MFA_CODE_PATTERN } from '../../domains/mfa';
import { CSRF_COOKIE, SESSION_COOKIE } from '../http/principal';
import { defineRoute, type AnyRoute } from '../http/route';

export { codePointString } from '../../lib/schemas';
import { codePointString } from '../../lib/schemas';

export const MfaCodeSchema = z.string().regex(MFA_CODE_PATTERN, 'must be the 6-digit code from your authenticator app').meta({ description: 'The current 6-digit TOTP code' });
const UsernameSchema = z
  .string()
  .regex(USERNAME_PATTERN, 'must be 3 to 64 of a-z, 0-9, ".", "_", "-"')
  .meta({ description: 'Case-insensitive: stored and compared in lowercase' });

export const RegisterBody = z
  .object({
    username: UsernameSchema,
    password: codePointString(PASSWORD_MIN, PASSWORD_MAX).meta({ description: '8–128 characters; common passwords and the username itself are refused (403 password_invalid)' }),
  })
  .strict();
export const RegisterResponse = z.object({ user_id: z.uuid() }).strict();

export const LoginBody = z.object({ username: UsernameSchema, password: codePointString(1, PASSWORD_MAX) }).strict();
export const LoginResponse = z
  .object({
    access_token: z.string().min(1),
    token_type: z.literal('Bearer'),
    expires_in: z.number().int().positive().meta({ description: 'Seconds until the token expires' }),
  })
  .strict();

export const SetupMfaBody = z
  .object({
    password: codePointString(1, PASSWORD_MAX).optional().meta({ description: 'Required when a factor is already active' }),
    mfa_code: MfaCodeSchema.optional().meta({ description: 'A code of the current factor; required when one is already active' }),
  })
  .strict();
export const SetupMfaResponse = z
  .object({
    mfa_uri: z.string().startsWith('otpauth://totp/'),
    secret: z.string().regex(/^[A-Z2-7]{32}$/).meta({ description: 'Base32, 160 bits; shown once' }),
    qr_code: z.string().startsWith('data:image/png;base64,').meta({ description: 'A PNG data URL of mfa_uri' }),
  })
  .strict();

export const ConfirmMfaBody = z.object({ mfa_code: MfaCodeSchema }).strict();
export const ConfirmMfaResponse = z.object({ mfa_enabled: z.literal(true) }).strict();

export const ChangePasswordBody = z
  .object({
    current_password: codePointString(1, PASSWORD_MAX),
    new_password: codePointString(PASSWORD_MIN, PASSWORD_MAX).meta({ description: '8–128 characters; common passwords and the username itself are refused (403 password_invalid)' }),
    mfa_code: MfaCodeSchema,
  })
  .strict();

export const SessionIdParams = z.object({ id: z.uuid() }).strict();
export const SessionView = z
  .object({
    id: z.uuid().meta({ description: 'The session (its access token id)' }),
    created_at: z.iso.datetime(),
    last_seen_at: z.iso.datetime().optional().meta({ description: 'Last request, to the minute' }),
    ip: z.string().optional().meta({ description: 'Address the login came from' }),
    user_agent: z.string().optional().meta({ description: "The login's User-Agent, as the client sent it (control characters removed)" }),
    current: z.boolean().meta({ description: 'The session making this request' }),
  })
  .strict();
export const SessionList = z.object({ sessions: z.array(SessionView) }).strict();

/** Session cookies for the web app (the JSON answer carries the same token for API clients); `csrf` is bound to the session. */
export function sessionCookies(token: string, csrf: string, maxAgeSeconds: number, secure: boolean): string[] {
  const common = `Path=/; Max-Age=${maxAgeSeconds}; SameSite=Strict${secure ? '; Secure' : ''}`;
  return [`${SESSION_COOKIE}=${token}; ${common}; HttpOnly`, `${CSRF_COOKIE}=${csrf}; ${common}`];
}

export function clearedSessionCookies(secure: boolean): string[] {
  const common = `Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Strict${secure ? '; Secure' : ''}`;
  return [`${SESSION_COOKIE}=; ${common}; HttpOnly`, `${CSRF_COOKIE}=; ${common}`];
}

export interface AccountRouteDeps {
  users: Pick<UserService, 'register' | 'login' | 'logout' | 'verifyPassword' | 'getUser' | 'changePassword' | 'sessions'>;
  mfa: Pick<MfaService, 'setup' | 'confirm' | 'verifyAndConsume'>;
  /** `production` marks the cookies Secure. */
  config: Pick<Config, 'production'>;
}

export function accountRoutes(deps: AccountRouteDeps): AnyRoute[] {
  const { users, mfa } = deps;
  const secure = deps.config.production;
  return [
    defineRoute({
      method: 'POST',
      path: '/api/register',
      auth: 'public',
      summary: 'Registers a user',
      tags: ['accounts'],
      body: RegisterBody,
      responses: { 201: RegisterResponse },
      errors: [403, 409],
      rateLimit: 'register',
      handler: async ({ body, ip, requestId }) => {
        const { userId } = await users.register(body, { ip, requestId });
        return { status: 201, body: { user_id: userId } };
      },
    }),

    defineRoute({
      method: 'POST',
      path: '/api/login',
      auth: 'public',
      summary: 'Logs in: an access token, and the session cookies for the web app',
      tags: ['accounts'],
      body: LoginBody,
      responses: { 200: LoginResponse },
      errors: [401, 503],
      rateLimit: 'login',
      handler: async ({ body, ip, requestId, koa }) => {
        const issued = await users.login(body, { ip, requestId, userAgent: koa.get('user-agent') });
        for (const cookie of sessionCookies(issued.token, issued.csrfToken, issued.expiresIn, secure)) koa.append('Set-Cookie', cookie);
        return {
          status: 200,
          headers: { 'Cache-Control': 'no-store' },
          body: { access_token: issued.token, token_type: 'Bearer', expires_in: issued.expiresIn },
        };
      },
    }),

    defineRoute({
      method: 'POST',
      path: '/api/logout',
      auth: 'user',
      summary: 'Revokes this access token at once and clears the session cookies',
      tags: ['accounts'],
      responses: { 204: null },
      handler: async ({ principal, ip, requestId, koa }) => {
        await users.logout({ userId: principal.userId, jti: principal.jti, expiresAt: principal.expiresAt }, { ip, requestId });
        for (const cookie of clearedSessionCookies(secure)) koa.append('Set-Cookie', cookie);
        return { status: 204 };
      },
    }),

    defineRoute({
      method: 'POST',
      path: '/api/setup_mfa',
      auth: 'user',
      summary: 'Starts TOTP enrolment: a new secret, pending until a first code confirms it. Replacing an active factor (password and a current code) revokes every other session of the user.',
      tags: ['accounts'],
      body: SetupMfaBody,
      responses: { 201: SetupMfaResponse },
      errors: [403, 429, 503],
      handler: async ({ principal, body, ip, requestId }) => {
        const user = await users.getUser(principal.userId);
        if (!user) throw new Error('authenticated user has no row');
        const enrollment = await mfa.setup(
          { userId: user.id, username: user.username, password: body.password, mfaCode: body.mfa_code, keepSession: principal.jti, meta: { ip, requestId } },
          users,
        );
        return {
          status: 201,
          headers: { 'Cache-Control': 'no-store' },
          body: { mfa_uri: enrollment.mfaUri, secret: enrollment.secret, qr_code: enrollment.qrCode },
        };
      },
    }),

    defineRoute({
      method: 'POST',
      path: '/api/confirm_mfa',
      auth: 'user',
      summary: 'Confirms the pending TOTP factor with a first code; the new factor revokes every other session of the user',
      tags: ['accounts'],
      body: ConfirmMfaBody,
      responses: { 200: ConfirmMfaResponse },
      errors: [403, 429, 503],
      handler: async ({ principal, body, ip, requestId }) => {
        await mfa.confirm({ userId: principal.userId, code: body.mfa_code, keepSession: principal.jti, meta: { ip, requestId } });
        return { status: 200, body: { mfa_enabled: true as const } };
      },
    }),

    defineRoute({
      method: 'POST',
      path: '/api/change_password',
      auth: 'user',
      summary:
        'Changes the password: the current one (403 password_invalid, throttled like a login), a new one (403 password_invalid when common or the username) and a fresh TOTP code. Every other session of the user is revoked; this one stays valid.',
      tags: ['accounts'],
      body: ChangePasswordBody,
      responses: { 204: null },
      errors: [403, 429, 503],
      handler: async ({ principal, body, ip, requestId }) => {
        await users.changePassword(
          { userId: principal.userId, currentPassword: body.current_password, newPassword: body.new_password, mfaCode: body.mfa_code, keepSession: principal.jti },
          mfa,
          { ip, requestId },
        );
        return { status: 204 };
      },
    }),

    defineRoute({
      method: 'GET',
      path: '/api/sessions',
      auth: 'user',
      summary: 'Your sessions (signed-in devices) that can still act for you, newest first; `current` marks this one',
      tags: ['accounts'],
      responses: { 200: SessionList },
      handler: async ({ principal }) => ({
        status: 200,
        headers: { 'Cache-Control': 'no-store' },
        body: { sessions: await users.sessions.list(principal.userId, principal.jti) },
      }),
    }),

    defineRoute({
      method: 'DELETE',
      path: '/api/sessions/:id',
      auth: 'user',
      summary: 'Signs one of your sessions out at once (404 for an unknown one and for someone else’s)',
      tags: ['accounts'],
      params: SessionIdParams,
      responses: { 204: null },
      errors: [404],
      handler: async ({ principal, params, ip, requestId }) => {
        await users.sessions.revoke(principal.userId, params.id, principal.jti, { ip, requestId });
        return { status: 204 };
      },
    }),

    defineRoute({
      method: 'POST',
      path: '/api/logout_all',
      auth: 'user',
      summary: 'Signs out everywhere: revokes every session of yours, this one included, and clears the session cookies',
      tags: ['accounts'],
      responses: { 204: null },
      handler: async ({ principal, ip, requestId, koa }) => {
        await users.sessions.revokeAll(principal.userId, { ip, requestId });
        for (const cookie of clearedSessionCookies(secure)) koa.append('Set-Cookie', cookie);
        return { status: 204 };
      },
    }),
  ];
}
