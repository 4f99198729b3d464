import { useEffect, useState } from 'preact/hooks';
import { createStore } from './store';

/** A one-time message carried to the next page (e.g. "booked" after a booking). */
export const flash = createStore<{ kind: 'success' | 'info' | 'warning'; text: string } | null>(null);

/** Takes the pending message (once) for the page being shown. */
export function useFlash() {
  const [message] = useState(() => flash.get());
  useEffect(() => {
    flash.set(null);
  }, []);
  return message;
}
