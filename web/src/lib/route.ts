import { useEffect, useState } from 'react';

/**
 * Hash routing: the API serves index.html at `/` only, so every screen lives
 * under one entry (`/#/inbox`, `/#/history`, …) and no unknown path is needed.
 */
export const ROUTES = ['inbox', 'history', 'wallets', 'limits', 'agents', 'security', 'login', 'register'] as const;
export type Route = (typeof ROUTES)[number];

export function currentRoute(): Route | null {
  const name = window.location.hash.replace(/^#\/?/, '').split(/[/?]/)[0] ?? '';
  return (ROUTES as readonly string[]).includes(name) ? (name as Route) : null;
}

export function navigate(route: Route): void {
  if (currentRoute() !== route) window.location.hash = `#/${route}`;
}

export function useRoute(): Route | null {
  const [route, setRoute] = useState<Route | null>(currentRoute);
  useEffect(() => {
    const onChange = () => setRoute(currentRoute());
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return route;
}
