import { createContext, useContext, useEffect, useRef, useState, type ReactNode } from 'react';
import { connectLiveEvents, type LiveMessage, type LiveState } from './events';

interface LiveContextValue {
  state: LiveState;
  subscribe(listener: (message: LiveMessage) => void): () => void;
}

const LiveContext = createContext<LiveContextValue | null>(null);

/** One EventSource per signed-in page; screens subscribe to it. */
export function LiveProvider({ children }: { children: ReactNode }) {
  const [state, setState] = useState<LiveState>('connecting');
  const listeners = useRef(new Set<(message: LiveMessage) => void>());
  const [value] = useState<Omit<LiveContextValue, 'state'>>(() => ({
    subscribe(listener) {
      listeners.current.add(listener);
      return () => listeners.current.delete(listener);
    },
  }));

  useEffect(() => {
    const connection = connectLiveEvents({
      onState: setState,
      onMessage: (message) => {
        for (const listener of listeners.current) listener(message);
      },
    });
    return () => connection.close();
  }, []);

  // While the stream is down (proxy that buffers SSE, flaky mobile network), resync
  // from the JSON API every 20 s so the inbox still moves; never while it is live.
  // Keyed on live/not-live only: offline ↔ reconnecting flips must not restart the timer.
  const live = state === 'live';
  useEffect(() => {
    if (live) return undefined;
    const timer = setInterval(() => {
      for (const listener of listeners.current) listener({ kind: 'resync' });
    }, 20_000);
    return () => clearInterval(timer);
  }, [live]);

  // A phone waking a background tab: catch up at once.
  useEffect(() => {
    const onVisible = () => {
      if (document.visibilityState === 'visible') for (const listener of listeners.current) listener({ kind: 'resync' });
    };
    document.addEventListener('visibilitychange', onVisible);
    return () => document.removeEventListener('visibilitychange', onVisible);
  }, []);

  return <LiveContext.Provider value={{ state, subscribe: value.subscribe }}>{children}</LiveContext.Provider>;
}

export function useLiveState(): LiveState {
  return useContext(LiveContext)?.state ?? 'offline';
}

/** Calls `listener` for every live message; the latest listener is always used. */
export function useLiveMessages(listener: (message: LiveMessage) => void): void {
  const context = useContext(LiveContext);
  const latest = useRef(listener);
  latest.current = listener;
  useEffect(() => {
    if (!context) return undefined;
    return context.subscribe((message) => latest.current(message));
  }, [context?.subscribe]);
}
