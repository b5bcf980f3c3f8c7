import { useEffect, useId, useRef, useState, type KeyboardEvent } from 'react';
import { useDebounced } from './ui';

export interface Suggestion {
  key: string;
  label: string;
  detail?: string;
}

interface Props<T> {
  label: string;
  name: string;
  testid: string;
  value: string;
  onChange: (v: string) => void;
  onPick: (item: T) => void;
  fetch: (q: string, signal: AbortSignal) => Promise<T[]>;
  toSuggestion: (item: T) => Suggestion;
  error?: string;
  required?: boolean;
  hint?: string;
}

/** ARIA 1.2 combobox: type to search, ↑/↓ to move, Enter to pick, Escape to close. */
export function Autocomplete<T>({ label, name, testid, value, onChange, onPick, fetch, toSuggestion, error, required, hint }: Props<T>) {
  const id = useId();
  const [items, setItems] = useState<T[]>([]);
  const [open, setOpen] = useState(false);
  const [active, setActive] = useState(-1);
  const [typed, setTyped] = useState(false);
  const q = useDebounced(value, 200);
  const fetchRef = useRef(fetch);
  fetchRef.current = fetch;

  useEffect(() => {
    if (!typed || q.trim().length < 1) {
      setItems([]);
      return;
    }
    const ctrl = new AbortController();
    fetchRef
      .current(q.trim(), ctrl.signal)
      .then((r) => {
        setItems(r);
        setActive(-1);
        setOpen(r.length > 0);
      })
      .catch(() => setItems([]));
    return () => ctrl.abort();
  }, [q, typed]);

  const pick = (item: T) => {
    onPick(item);
    setOpen(false);
    setTyped(false);
  };

  const onKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'ArrowDown' && items.length) {
      e.preventDefault();
      setOpen(true);
      setActive((a) => (a + 1) % items.length);
    } else if (e.key === 'ArrowUp' && items.length) {
      e.preventDefault();
      setActive((a) => (a <= 0 ? items.length - 1 : a - 1));
    } else if (e.key === 'Enter' && open && active >= 0) {
      e.preventDefault();
      pick(items[active]);
    } else if (e.key === 'Escape') {
      setOpen(false);
    }
  };

  const listId = `${id}-list`;
  return (
    <div className="field autocomplete">
      <label htmlFor={`${id}-input`}>{label}</label>
      <input
        id={`${id}-input`}
        name={name}
        data-testid={testid}
        role="combobox"
        aria-expanded={open}
        aria-controls={listId}
        aria-autocomplete="list"
        aria-activedescendant={open && active >= 0 ? `${id}-opt-${active}` : undefined}
        aria-invalid={error ? true : undefined}
        aria-describedby={error ? `${id}-err` : undefined}
        autoComplete="off"
        required={required}
        value={value}
        onChange={(e) => {
          setTyped(true);
          onChange(e.target.value);
        }}
        onKeyDown={onKey}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
      />
      {hint ? <small className="hint">{hint}</small> : null}
      <ul id={listId} role="listbox" className={`suggestions${open ? ' open' : ''}`} hidden={!open} data-testid={`${testid}-options`}>
        {items.map((it, i) => {
          const s = toSuggestion(it);
          return (
            <li
              key={s.key}
              id={`${id}-opt-${i}`}
              role="option"
              aria-selected={i === active}
              className={i === active ? 'active' : ''}
              onMouseDown={(e) => {
                e.preventDefault();
                pick(it);
              }}
            >
              {s.label}
              {s.detail ? <span className="muted small"> · {s.detail}</span> : null}
            </li>
          );
        })}
      </ul>
      {error ? <p id={`${id}-err`} className="error-text" data-testid={`${testid}-error`}>{error}</p> : null}
    </div>
  );
}
