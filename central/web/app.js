// yiban dashboard: one static app, two modes.
//   city mode (served by yiban-central): every hall at a glance, drill-down, city KPIs.
//   hall mode (served by yiban-edge): this hall's queues, counters, tickets, alerts, devices, stats.
// This module boots the app and switches tabs; the views are in views/ (city, hall, cases, bookings),
// the shared parts in lib/ (dom, format, auth, api, stream, panels, charts). Every module is listed
// in files.txt (what the daemons serve) and preloaded by index.html.
import { t, getLang, setLang } from './i18n.js';
import { api } from './lib/api.js';
import { getToken, setSignOutHandler, showLogin, takeTokenFromFragment, wireLogin } from './lib/auth.js';
import { loadECharts } from './lib/charts.js';
import { $, toast } from './lib/dom.js';
import { esc } from './lib/format.js';
import { setLive } from './lib/stream.js';
import { BookingsView } from './views/bookings.js';
import { CasesView } from './views/cases.js';
import { CityView } from './views/city.js';
import { HallView } from './views/hall.js';

// ───────────────────────────── boot ─────────────────────────────
const TABS = ['overview', 'cases', 'bookings'];
const tabName = (tab) => (TABS.includes(tab) ? tab : 'overview');
const app = {
  view: null,
  who: null,
  // overview (the city's halls or the hall console), cases or (city mode) bookings; remembered for the tab
  tab: (() => { try { return tabName(sessionStorage.getItem('yiban.tab')); } catch { return 'overview'; } })(),
  stop() { this.view?.stop(); this.view = null; setLive('offline'); },
};

function renderNav() {
  for (const b of $('nav').querySelectorAll('button[data-tab]')) {
    b.hidden = b.dataset.tab === 'bookings' && document.body.dataset.mode === 'hall'; // bookings: city mode only
    b.textContent = t(`nav_${b.dataset.tab}`);
    b.classList.toggle('active', b.dataset.tab === app.tab);
    b.setAttribute('aria-pressed', String(b.dataset.tab === app.tab));
  }
}
function createView(who) {
  if (app.tab === 'cases') return new CasesView($('main'), who);
  if (app.tab === 'bookings' && who.mode !== 'hall') return new BookingsView($('main'));
  return who.mode === 'hall' ? new HallView($('main'), who) : new CityView($('main'));
}
async function openTab(tab) {
  if (tab === app.tab && app.view) return;
  app.tab = tabName(tab);
  try { sessionStorage.setItem('yiban.tab', app.tab); } catch { /* ignore */ }
  renderNav();
  if (!app.who || !getToken()) { boot(); return; }
  app.stop();
  app.view = createView(app.who);
  try {
    await app.view.start();
  } catch (e) {
    if (e.status !== 401) toast(`${t('error')}: ${e.message}`, true);
  }
}

function renderChrome() {
  $('lang').textContent = t('lang_switch');
  $('logout').textContent = t('logout');
  renderNav();
  setLive($('live').dataset.state || 'offline');
}

async function boot() {
  app.stop();
  renderChrome();
  if (!getToken()) { showLogin(''); return; }
  let who;
  // The hall list is read alongside whoami so the city's first paint waits for one round trip, not two.
  // (Skipped when this tab already knows it talks to a hall's edge.)
  let lastMode = '';
  try { lastMode = sessionStorage.getItem('yiban.mode') || ''; } catch { /* ignore */ }
  const halls = lastMode === 'hall' ? null : api('/api/v1/halls');
  halls?.catch(() => {});
  try {
    who = await api('/api/v1/whoami');
  } catch (e) {
    if (e.status === 401) return;
    if (e.status === 404) who = { mode: 'city' };
    else { $('main').innerHTML = `<div class="panel error" data-testid="boot-error">${esc(e.message)}</div>`; return; }
  }
  if (!getToken()) return; // a parallel request was refused (401): the login form is up
  $('logout').hidden = false;
  $('nav').hidden = false;
  app.who = who;
  document.body.dataset.mode = who.mode === 'hall' ? 'hall' : 'city';
  if (who.mode === 'hall' && app.tab === 'bookings') app.tab = 'overview'; // bookings: city mode only
  renderNav();
  try { sessionStorage.setItem('yiban.mode', document.body.dataset.mode); } catch { /* ignore */ }
  $('subtitle').textContent = who.role ? `${who.role}${who.hall ? ` · ${who.hall}` : ''}` : '';
  app.view = createView(who);
  try {
    await app.view.start(halls);
  } catch (e) {
    if (e.status !== 401) toast(`${t('error')}: ${e.message}`, true);
  }
  document.body.dataset.ready = '1';
  requestAnimationFrame(() => setTimeout(loadECharts, 0));
}

function init() {
  setLang(getLang());
  takeTokenFromFragment();
  setSignOutHandler(() => app.stop());
  wireLogin(() => boot());
  $('lang').addEventListener('click', () => {
    setLang(getLang() === 'zh' ? 'en' : 'zh');
    renderChrome();
    const v = app.view;
    if (v) {
      $('title').textContent = t(document.body.dataset.mode === 'hall' ? 'title_hall' : 'title_city');
      v.renderShell();
    }
  });
  $('logout').addEventListener('click', () => showLogin(''));
  $('nav').addEventListener('click', (ev) => {
    const b = ev.target.closest('button[data-tab]');
    if (b) openTab(b.dataset.tab);
  });
  boot().finally(() => requestAnimationFrame(() => setTimeout(loadECharts, 0)));
}

init();
