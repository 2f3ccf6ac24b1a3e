/**
 * The demo page's entry: the tabs (ARIA tab pattern: arrow keys, Home/End), and the panels
 * wired to each other ("more like this", "score these captions", "patches of this image").
 */
import { byId } from './dom';
import { setUpPatches } from './patches';
import { setUpScore } from './score';
import { setUpSearch } from './search';
import { refreshStatus } from './status';
import { setUpUpload } from './upload';

type Panel = 'search' | 'score' | 'patches' | 'add';
const tabs = [...document.querySelectorAll<HTMLButtonElement>('[role="tab"]')];

function select(name: Panel, focus = false): void {
  for (const tab of tabs) {
    const on = tab.id === `tab-${name}`;
    tab.setAttribute('aria-selected', String(on));
    tab.tabIndex = on ? 0 : -1;
    byId(tab.getAttribute('aria-controls') ?? '').hidden = !on;
    if (on && focus) tab.focus();
  }
  history.replaceState(null, '', `#${name}`);
}

tabs.forEach((tab, i) => {
  const name = tab.id.slice('tab-'.length) as Panel;
  tab.addEventListener('click', () => select(name));
  tab.addEventListener('keydown', (e) => {
    const to =
      e.key === 'ArrowRight'
        ? (i + 1) % tabs.length
        : e.key === 'ArrowLeft'
          ? (i - 1 + tabs.length) % tabs.length
          : e.key === 'Home'
            ? 0
            : e.key === 'End'
              ? tabs.length - 1
              : -1;
    if (to < 0) return;
    e.preventDefault();
    select(tabs[to]?.id.slice('tab-'.length) as Panel, true);
  });
});

const search = setUpSearch();
const score = setUpScore();
const patches = setUpPatches();
setUpUpload(
  (id) => {
    select('search');
    search.searchByImage(id);
  },
  () => void refreshStatus(),
);

document.addEventListener('koclip:use-image', (e) => {
  const { target, id, collection } = (
    e as CustomEvent<{ target: 'score' | 'patches'; id: string; collection: string }>
  ).detail;
  (target === 'score' ? score : patches).useImage(id, collection);
  select(target, true);
});
byId('status-refresh').addEventListener('click', () => void refreshStatus());

const initial = location.hash.slice(1);
if (initial === 'score' || initial === 'patches' || initial === 'add') select(initial);
void refreshStatus();
