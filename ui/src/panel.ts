// A dashboard panel: mounted into its element when shown, told of the store's changes
// only while mounted, and unmounted (listeners and timers released) when the user leaves.
import type { Store } from "./store";

export interface Mounted {
  unmount(): void;
}

export interface Panel {
  title: string;
  mount(el: HTMLElement, store: Store): Mounted;
}

/** Sets `el`'s markup only when it changed, so unchanged parts keep their DOM. */
export function setHtml(el: Element | null, html: string) {
  if (el && el.innerHTML !== html) el.innerHTML = html;
}

/** Runs `f` now and every `ms` while mounted; the panel's only polling. */
export function every(ms: number, f: () => void): () => void {
  f();
  const t = setInterval(f, ms);
  return () => clearInterval(t);
}
