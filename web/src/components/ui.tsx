import { useCallback, useEffect, useRef, useState, type InputHTMLAttributes, type ReactNode, type SelectHTMLAttributes, type TextareaHTMLAttributes } from 'react';
import { ApiError } from '../api';

/** Turn anything thrown into words for a person. */
export function errorMessage(e: unknown): string {
  if (e instanceof ApiError) return e.message;
  if (e instanceof Error) return e.message;
  return String(e ?? 'Something went wrong.');
}

export function ErrorText({ error, testid, id }: { error: unknown; testid?: string; id?: string }) {
  if (!error) return null;
  const text = typeof error === 'string' ? error : errorMessage(error);
  return (
    <p className="error-text" role="alert" data-testid={testid} id={id}>
      {text}
    </p>
  );
}

export function Notice({ children, testid }: { children: ReactNode; testid?: string }) {
  return (
    <p className="notice" role="status" data-testid={testid}>
      {children}
    </p>
  );
}

/** Summary error for a form: hidden when every detail is already shown next to its field. */
export function FormError({ error, fields, testid = 'form-error' }: { error: unknown; fields: string[]; testid?: string }) {
  if (!error) return null;
  if (error instanceof ApiError && error.onlyFieldErrors(fields)) {
    return <p className="error-text sr-only" role="alert" data-testid={testid}>{error.message}</p>;
  }
  return <ErrorText error={error} testid={testid} />;
}

export function fieldError(error: unknown, ...names: string[]): string | undefined {
  return error instanceof ApiError ? error.forField(...names) : undefined;
}

type FieldBase = { label: string; name: string; testid: string; error?: string; hint?: ReactNode };

export function TextField({ label, name, testid, error, hint, ...rest }: FieldBase & InputHTMLAttributes<HTMLInputElement>) {
  const id = `f-${testid}`;
  const describedBy = [error ? `${id}-err` : '', hint ? `${id}-hint` : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} name={name} data-testid={testid} aria-invalid={error ? true : undefined} aria-describedby={describedBy} {...rest} />
      {hint ? <small id={`${id}-hint`} className="hint">{hint}</small> : null}
      {error ? <p id={`${id}-err`} className="error-text" data-testid={`${testid}-error`}>{error}</p> : null}
    </div>
  );
}

export function TextArea({ label, name, testid, error, hint, ...rest }: FieldBase & TextareaHTMLAttributes<HTMLTextAreaElement>) {
  const id = `f-${testid}`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea id={id} name={name} data-testid={testid} aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-err` : undefined} {...rest} />
      {hint ? <small className="hint">{hint}</small> : null}
      {error ? <p id={`${id}-err`} className="error-text" data-testid={`${testid}-error`}>{error}</p> : null}
    </div>
  );
}

export function SelectField({ label, name, testid, error, children, ...rest }: FieldBase & SelectHTMLAttributes<HTMLSelectElement> & { children: ReactNode }) {
  const id = `f-${testid}`;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <select id={id} name={name} data-testid={testid} aria-invalid={error ? true : undefined} aria-describedby={error ? `${id}-err` : undefined} {...rest}>
        {children}
      </select>
      {error ? <p id={`${id}-err`} className="error-text" data-testid={`${testid}-error`}>{error}</p> : null}
    </div>
  );
}

/** Run an async action with pending + error state; the error stays until the next run. */
export function useAction<A extends unknown[], R>(fn: (...args: A) => Promise<R>) {
  const [pending, setPending] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const mounted = useRef(true);
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
    };
  }, []);
  const fnRef = useRef(fn);
  fnRef.current = fn;
  const run = useCallback(async (...args: A): Promise<R | undefined> => {
    setPending(true);
    setError(null);
    try {
      return await fnRef.current(...args);
    } catch (e) {
      if (mounted.current) setError(e);
      return undefined;
    } finally {
      if (mounted.current) setPending(false);
    }
  }, []);
  return { run, pending, error, setError };
}

/** Load data on mount / when deps change, with loading and error state. */
export function useLoad<T>(fn: () => Promise<T>, deps: unknown[]) {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setLoading(true);
    setError(null);
    fn()
      .then((d) => live && setData(d))
      .catch((e) => live && setError(e))
      .finally(() => live && setLoading(false));
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { data, setData, error, loading, reload };
}

export function Stars({ value, testid }: { value: number | null | undefined; testid?: string }) {
  if (!value) return null;
  return (
    <span className="stars" aria-label={`Rated ${value} of 5`} data-testid={testid}>
      {'★'.repeat(value)}
      <span className="stars-off">{'★'.repeat(Math.max(0, 5 - value))}</span>
    </span>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p className="loading" role="status">
      <span className="spinner" aria-hidden="true" /> {label}
    </p>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

export function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const t = setTimeout(() => setV(value), ms);
    return () => clearTimeout(t);
  }, [value, ms]);
  return v;
}
