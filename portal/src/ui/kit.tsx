import type { ComponentChildren, JSX } from 'preact';
import { useEffect, useRef, useState, useCallback } from 'preact/hooks';
import { ApiError } from '../api/errors';
import { useT, type Messages } from '../i18n';
import { Icon, type IconName } from './icons';

let fieldCounter = 0;
function useId(prefix: string): string {
  const ref = useRef<string>();
  if (!ref.current) {
    fieldCounter += 1;
    ref.current = `${prefix}-${fieldCounter}`;
  }
  return ref.current;
}

/** A page: its heading receives the focus when the page opens, and names the tab. */
export function Page({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${title} · Clinic`;
  }, [title]);
  useEffect(() => {
    // Move the focus to the new page for keyboard and screen-reader users (not on first load).
    if (document.activeElement && document.activeElement !== document.body) heading.current?.focus();
    else if (document.body.dataset.navigated) heading.current?.focus();
    document.body.dataset.navigated = '1';
  }, []);
  return (
    <section class="page" aria-labelledby="page-title">
      <div class="page-head">
        <h1 id="page-title" tabIndex={-1} ref={heading}>
          {title}
        </h1>
        {actions ? <div class="page-actions">{actions}</div> : null}
      </div>
      {children}
    </section>
  );
}

type InputProps = Omit<JSX.InputHTMLAttributes<HTMLInputElement>, 'onInput' | 'value' | 'label'> & {
  label: string;
  value: string;
  onValue: (value: string) => void;
  error?: string | undefined;
  hint?: string | undefined;
  type?: string;
  name?: string;
  autocomplete?: string;
  required?: boolean;
};

/** The ids of a field's hint and error, as the input's aria-describedby (undefined when neither shows). */
function describedBy(id: string, hint: string | undefined, error: string | undefined): string | undefined {
  return [hint ? `${id}-hint` : null, error ? `${id}-error` : null].filter(Boolean).join(' ') || undefined;
}

function FieldHint({ id, hint }: { id: string; hint: string | undefined }) {
  return hint ? (
    <p class="hint" id={`${id}-hint`}>
      {hint}
    </p>
  ) : null;
}

/**
 * The frame every single-value field shares, so that inputs and selects look and announce alike:
 * the label, the hint above the control and the error (with its icon) below it.
 */
function FieldFrame({ id, label, hint, error, children }: { id: string; label: ComponentChildren; hint: string | undefined; error: string | undefined; children: ComponentChildren }) {
  return (
    <div class={`field${error ? ' has-error' : ''}`}>
      {label}
      <FieldHint id={id} hint={hint} />
      {children}
      {error ? (
        <p class="field-error" id={`${id}-error`}>
          <Icon name="alert" /> {error}
        </p>
      ) : null}
    </div>
  );
}

/** A labelled input with its hint and its error (announced, and tied with aria-describedby). */
export function Field({ label, value, onValue, error, hint, ...rest }: InputProps) {
  const id = useId('f');
  const heading = (
    <div class="label-row">
      <label for={id}>{label}</label>
      {rest.required ? (
        <span class="req" aria-hidden="true">
          *
        </span>
      ) : null}
    </div>
  );
  return (
    <FieldFrame id={id} label={heading} hint={hint} error={error}>
      <input
        id={id}
        value={value}
        onInput={(e) => onValue((e.currentTarget as HTMLInputElement).value)}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={describedBy(id, hint, error)}
        {...rest}
      />
    </FieldFrame>
  );
}

export function SelectField({
  label,
  value,
  onValue,
  options,
  error,
  hint,
  required,
  name,
}: {
  label: string;
  value: string;
  onValue: (value: string) => void;
  options: { value: string; label: string }[];
  error?: string | undefined;
  hint?: string | undefined;
  required?: boolean;
  name?: string;
}) {
  const id = useId('s');
  return (
    <FieldFrame id={id} label={<label for={id}>{label}</label>} hint={hint} error={error}>
      <select
        id={id}
        name={name}
        value={value}
        required={required}
        aria-invalid={error ? 'true' : undefined}
        aria-describedby={describedBy(id, hint, error)}
        onChange={(e) => onValue((e.currentTarget as HTMLSelectElement).value)}
      >
        {options.map((o) => (
          <option value={o.value} key={o.value}>
            {o.label}
          </option>
        ))}
      </select>
    </FieldFrame>
  );
}

export function Checkbox({ label, checked, onChecked, hint }: { label: string; checked: boolean; onChecked: (v: boolean) => void; hint?: string }) {
  const id = useId('c');
  return (
    <div class="check">
      <input
        type="checkbox"
        id={id}
        checked={checked}
        aria-describedby={describedBy(id, hint, undefined)}
        onChange={(e) => onChecked((e.currentTarget as HTMLInputElement).checked)}
      />
      <label for={id}>{label}</label>
      <FieldHint id={id} hint={hint} />
    </div>
  );
}

type ButtonProps = Omit<JSX.HTMLAttributes<HTMLButtonElement>, 'icon'> & {
  variant?: 'primary' | 'secondary' | 'danger' | 'ghost';
  busy?: boolean;
  icon?: IconName;
  type?: 'button' | 'submit';
  disabled?: boolean;
};

export function Button({ variant = 'primary', busy, icon, children, type = 'button', disabled, ...rest }: ButtonProps) {
  return (
    <button type={type} class={`btn btn-${variant}`} disabled={disabled || busy} aria-busy={busy ? 'true' : undefined} {...rest}>
      {busy ? <span class="spinner" aria-hidden="true" /> : icon ? <Icon name={icon} /> : null}
      <span>{children}</span>
    </button>
  );
}

export function Notice({ kind, children, icon }: { kind: 'info' | 'success' | 'warning' | 'error'; children: ComponentChildren; icon?: IconName }) {
  const name: IconName = icon ?? (kind === 'success' ? 'check' : kind === 'info' ? 'info' : 'alert');
  return (
    <div class={`notice notice-${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      <Icon name={name} />
      <div>{children}</div>
    </div>
  );
}

/** A human sentence for any failure, in the current language. */
export function describeError(t: Messages, error: unknown): string {
  if (error instanceof ApiError) {
    const known = t.errors[error.code as keyof Messages['errors']];
    if (known) return known;
    if (error.status >= 500) return t.errors.UNAVAILABLE;
    if (error.detail) return error.detail;
    return t.errors.UNEXPECTED;
  }
  return t.errors.UNEXPECTED;
}

/** An error message with the request id (for support) and, when it may help, a retry button. */
export function ErrorNotice({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  const t = useT();
  const apiError = error instanceof ApiError ? error : null;
  const transient = !apiError || apiError.status === 0 || apiError.status >= 500 || apiError.status === 429;
  return (
    <Notice kind="error">
      <p>{describeError(t, error)}</p>
      {apiError?.code === 'TOO_MANY_ATTEMPTS' || apiError?.code === 'TOO_MANY_REQUESTS' ? (
        apiError.retryAfter ? <p>{t.common.retryAfter(apiError.retryAfter)}</p> : null
      ) : null}
      {apiError?.requestId ? <p class="muted small">{t.common.requestId(apiError.requestId)}</p> : null}
      {onRetry && transient ? (
        <p>
          <Button variant="secondary" icon="refresh" onClick={onRetry}>
            {t.common.retry}
          </Button>
        </p>
      ) : null}
    </Notice>
  );
}

export function Loading({ label }: { label?: string }) {
  const t = useT();
  return (
    <p class="loading" role="status">
      <span class="spinner" aria-hidden="true" /> {label ?? t.common.loading}
    </p>
  );
}

export function Empty({ children, icon = 'info' }: { children: ComponentChildren; icon?: IconName }) {
  return (
    <div class="empty">
      <Icon name={icon} size={28} />
      <p>{children}</p>
    </div>
  );
}

/**
 * What a load shows before its data: its failure, with a retry, and a spinner the first time only
 * (a reload keeps the data on screen rather than blanking it).
 */
export function LoadStatus({ load, label }: { load: Pick<Async<unknown>, 'data' | 'error' | 'loading' | 'reload'>; label?: string }) {
  return (
    <>
      {load.error ? <ErrorNotice error={load.error} onRetry={load.reload} /> : null}
      {load.loading && !load.data ? <Loading label={label} /> : null}
    </>
  );
}

/**
 * A table in a region that scrolls sideways on narrow screens; the region takes the focus so that
 * keyboard users can scroll it too. The region is named by `labelledBy` (a heading's id) or
 * `label`; the table by its own `caption` when it has one, else by the same heading.
 */
export function TableRegion({
  labelledBy,
  label,
  caption,
  columns,
  children,
}: {
  labelledBy?: string;
  label?: string;
  caption?: string;
  columns: ComponentChildren[];
  children: ComponentChildren;
}) {
  return (
    <div class="table-wrap" tabIndex={0} role="region" aria-labelledby={labelledBy} aria-label={label}>
      <table aria-labelledby={caption ? undefined : labelledBy}>
        {caption ? <caption class="visually-hidden">{caption}</caption> : null}
        <thead>
          <tr>
            {columns.map((column, i) => (
              <th scope="col" key={i}>
                {column}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{children}</tbody>
      </table>
    </div>
  );
}

export interface Async<T> {
  data: T | undefined;
  error: unknown;
  loading: boolean;
  reload: () => void;
  set: (value: T) => void;
}

/** Runs a load when the deps change; `reload` runs it again. Stale answers are ignored. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data: T | undefined; error: unknown; loading: boolean }>({
    data: undefined,
    error: null,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  const run = useRef(0);
  useEffect(() => {
    run.current += 1;
    const mine = run.current;
    setState((s) => ({ ...s, loading: true, error: null }));
    load().then(
      (data) => {
        if (run.current === mine) setState({ data, error: null, loading: false });
      },
      (error: unknown) => {
        if (run.current === mine) setState((s) => ({ data: s.data, error, loading: false }));
      },
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  const set = useCallback((data: T) => setState({ data, error: null, loading: false }), []);
  return { ...state, reload, set };
}

/** Calls `tick` every `ms` while `active`. */
export function useInterval(tick: () => void, ms: number, active: boolean): void {
  const saved = useRef(tick);
  saved.current = tick;
  useEffect(() => {
    if (!active) return undefined;
    const id = setInterval(() => saved.current(), ms);
    return () => clearInterval(id);
  }, [ms, active]);
}

export function CopyButton({ text, label }: { text: string; label: string }) {
  const t = useT();
  const [copied, setCopied] = useState<boolean | null>(null);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <span class="copy">
      <Button variant="secondary" icon="copy" onClick={copy} aria-label={label}>
        {t.common.copy}
      </Button>
      <span role="status" class="small">
        {copied === true ? t.common.copied : copied === false ? t.common.copyFailed : ''}
      </span>
    </span>
  );
}

export type Tone = 'neutral' | 'info' | 'success' | 'warning' | 'danger';

export function Badge({ tone, children }: { tone: Tone; children: ComponentChildren }) {
  return <span class={`badge badge-${tone}`}>{children}</span>;
}
