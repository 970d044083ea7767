import { useEffect, useRef, useState, type ReactNode } from 'react';
import { cleanText } from './lib/sanitize';

/** An error region announced to screen readers (role="alert"). */
export function ErrorBox({ message, testId }: { message: string | null | undefined; testId: string }) {
  if (!message) return null;
  return (
    <p className="notice notice-error" role="alert" data-testid={testId}>
      {message}
    </p>
  );
}

export function SuccessBox({ message, testId }: { message: string | null | undefined; testId: string }) {
  if (!message) return null;
  return (
    <p className="notice notice-ok" role="status" data-testid={testId}>
      {message}
    </p>
  );
}

/** The page heading; receives focus on navigation so keyboard users start at the top. */
export function PageTitle({ children }: { children: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus({ preventScroll: false });
  }, []);
  return (
    <h1 ref={ref} tabIndex={-1} className="page-title">
      {children}
    </h1>
  );
}

/** A 6-digit TOTP input with the attributes phones need to offer the code. */
export function CodeInput(props: {
  id: string;
  value: string;
  onChange(value: string): void;
  testId: string;
  label?: string;
  disabled?: boolean;
  /** One line: the hint is only for screen readers. */
  compact?: boolean;
}) {
  return (
    <div className={props.compact ? 'field field-compact' : 'field'}>
      <label htmlFor={props.id}>{props.label ?? 'Authenticator code'}</label>
      <input
        id={props.id}
        data-testid={props.testId}
        className="code-input"
        inputMode="numeric"
        autoComplete="one-time-code"
        pattern="[0-9]{6}"
        maxLength={6}
        required
        disabled={props.disabled}
        value={props.value}
        onChange={(e) => props.onChange(e.target.value.replace(/[^0-9]/g, '').slice(0, 6))}
        aria-describedby={`${props.id}-hint`}
      />
      <span id={`${props.id}-hint`} className={props.compact ? 'visually-hidden' : 'hint'}>
        6 digits from your authenticator app. Each code works once.
      </span>
    </div>
  );
}

/** An address in full (never truncated where a decision depends on it), monospace, wrap-anywhere. */
export function Address({ value, testId }: { value: unknown; testId?: string }) {
  const text = typeof value === 'string' && /^0x[0-9a-fA-F]{40}$/.test(value) ? value : cleanText(value, 64) || '—';
  return (
    <code className="mono address" data-testid={testId}>
      {text}
    </code>
  );
}

/** Copies text; falls back to selecting it when the Clipboard API is unavailable. */
export function CopyButton({ text, testId, label = 'Copy' }: { text: string; testId: string; label?: string }) {
  const [copied, setCopied] = useState<'idle' | 'copied' | 'failed'>('idle');
  return (
    <button
      type="button"
      className="button button-secondary"
      data-testid={testId}
      onClick={() => {
        navigator.clipboard
          ?.writeText(text)
          .then(() => setCopied('copied'))
          .catch(() => setCopied('failed'));
        if (!navigator.clipboard) setCopied('failed');
      }}
    >
      {copied === 'copied' ? 'Copied' : copied === 'failed' ? 'Copy failed — select the text' : label}
      <span className="visually-hidden" aria-live="polite">
        {copied === 'copied' ? ' to clipboard' : ''}
      </span>
    </button>
  );
}

/** Re-renders every `ms` milliseconds and returns the current time. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}
