import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * What people were typing, kept in memory only (never in storage): when a session ends by itself
 * (idle time-out, expired refresh) the page is left, and after signing in again the same person
 * finds the form as it was. A different person signing in, or signing out on purpose, clears it.
 */
const drafts = new Map<string, unknown>();
let owner: string | null = null;
const onClear = new Set<() => void>();

/** Other in-memory work of one person (e.g. reports asked for) is dropped with the drafts. */
export function onDraftsCleared(listener: () => void): void {
  onClear.add(listener);
}

function clearAll(): void {
  drafts.clear();
  for (const listener of onClear) listener();
}

export function draftsOwnedBy(accountId: string): void {
  if (owner !== accountId) clearAll();
  owner = accountId;
}

export function clearDrafts(): void {
  clearAll();
  owner = null;
}

export function forgetDraft(key: string): void {
  drafts.delete(key);
}

/** Form state under `key` that survives the page being left and re-entered. */
export function useDraft<T extends object>(key: string, initial: T): [T, (patch: Partial<T>) => void, () => void] {
  const [value, setValue] = useState<T>(() => ({ ...initial, ...((drafts.get(key) as Partial<T>) ?? {}) }));
  const latest = useRef(value);
  latest.current = value;
  useEffect(() => {
    drafts.set(key, latest.current);
  }, [key, value]);
  const update = (patch: Partial<T>) => setValue((prev) => ({ ...prev, ...patch }));
  const reset = () => {
    drafts.delete(key);
    setValue(initial);
  };
  return [value, update, reset];
}
