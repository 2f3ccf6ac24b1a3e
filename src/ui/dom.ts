/** Small DOM helpers: typed lookups, element creation, and the status line of each panel. */

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from the page`);
  return found as T;
}

type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | undefined> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (name === 'text') el.textContent = String(value);
    else el.setAttribute(name, value === true ? '' : value);
  }
  for (const child of children) if (child) el.append(child);
  return el;
}

export type StatusKind = 'info' | 'busy' | 'error' | 'empty';

/** Sets a panel's status line; errors are announced at once (role=alert), the rest politely. */
export function setStatus(el: HTMLElement, kind: StatusKind, message: string): void {
  el.dataset.kind = kind;
  el.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  el.textContent = message;
}

export function clearStatus(el: HTMLElement): void {
  delete el.dataset.kind;
  el.setAttribute('role', 'status');
  el.textContent = '';
}

export const fmt = (n: number, digits = 3) => n.toFixed(digits);
