/** The HTTP layer's view of who is calling (lib/principal.ts) and the cookies and headers that carry it. */
export type { AgentPrincipal, Authenticator, Principal, UserPrincipal } from '../../lib/principal';
/** API keys are recognisable by their prefix (`cs_<id>_<secret>`); anything else in a Bearer header is a JWT. */
export { API_KEY_PREFIX } from '../../domains/agents';
export const SESSION_COOKIE = 'cs_session';
export const CSRF_COOKIE = 'cs_csrf';
export const CSRF_HEADER = 'x-csrf-token';
