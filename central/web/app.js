// yiban dashboard: one static app, two modes.
//   city mode (served by yiban-central): every hall at a glance, drill-down, city KPIs.
//   hall mode (served by yiban-edge): this hall's queues, counters, tickets, alerts, devices, stats.
// Sections: utilities · auth · API client · SSE client · panel scheduler · charts · city view · hall view · boot.
import { t, tState, getLang, setLang } from './i18n.js';

// ───────────────────────────── utilities ─────────────────────────────
const $ = (id) => document.getElementById(id);
const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const esc = (v) => (v == null ? '' : String(v).replace(/[&<>"']/g, (c) => ESC[c]));
const num = (v) => (v == null || Number.isNaN(Number(v)) ? '—' : Number(v).toLocaleString());

/** Seconds → "42秒", "12分", "1:05" (h:mm). */
function fmtDur(sec) {
  if (sec == null || Number.isNaN(Number(sec))) return '—';
  const s = Math.max(0, Math.round(Number(sec)));
  if (s < 60) return `${s}${t('s')}`;
  if (s < 3600) return `${Math.floor(s / 60)}${t('min')}`;
  const h = Math.floor(s / 3600);
  return `${h}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}`;
}
/** Epoch ms → "HH:MM" (today) or "MM-DD HH:MM". */
function fmtTime(ms) {
  if (!ms) return '—';
  const d = new Date(Number(ms));
  const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return hm;
  return `${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')} ${hm}`;
}
const fmtPct = (v) => (v == null ? '—' : `${Math.round(Number(v))}%`);
const fmtRate = (v) => (v == null ? '—' : `${(Number(v) * 100).toFixed(1)}%`);
function localDay(d = new Date()) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}
/** Test ids must be stable and selector-safe. */
const tid = (s) => String(s).replace(/[^A-Za-z0-9_.:-]/g, '_');

let toastTimer = null;
function toast(message, isError = false) {
  const el = $('toast');
  el.textContent = message;
  el.className = isError ? 'toast err' : 'toast';
  el.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { el.hidden = true; }, isError ? 6000 : 2500);
}

// ───────────────────────────── auth ─────────────────────────────
const TOKEN_KEY = 'yiban.token';

/** #token=… in the address → sessionStorage, and the fragment is removed from the address bar. */
function takeTokenFromFragment() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (!m) return;
  try { sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1])); } catch { /* ignore */ }
  history.replaceState(null, '', location.pathname + location.search);
}
const getToken = () => { try { return sessionStorage.getItem(TOKEN_KEY) || ''; } catch { return ''; } };

let loginShown = false;
function showLogin(message = '') {
  app.stop();
  try { sessionStorage.removeItem(TOKEN_KEY); } catch { /* ignore */ }
  const dlg = $('login');
  $('login-title').textContent = t('login_title');
  $('login-token-label').textContent = t('login_token');
  $('login-submit').textContent = t('login_submit');
  $('login-message').textContent = message;
  if (!loginShown) {
    loginShown = true;
    if (typeof dlg.showModal === 'function') dlg.showModal(); else dlg.setAttribute('open', '');
  }
}
function wireLogin() {
  $('login-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const tok = $('login-token').value.trim();
    if (!tok) return;
    try { sessionStorage.setItem(TOKEN_KEY, tok); } catch { /* ignore */ }
    $('login-token').value = '';
    $('login').close?.();
    $('login').removeAttribute('open');
    loginShown = false;
    boot();
  });
}

// ───────────────────────────── API client ─────────────────────────────
class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

/** fetch JSON with the bearer token; a 401 shows the login form with the server's message. */
async function api(path, { method = 'GET', body } = {}) {
  // Signed out (a 401 already showed the login form): send nothing until a new token is entered.
  if (!getToken()) throw new ApiError(401, 'unauthorized', t('login_required'));
  const headers = { Authorization: `Bearer ${getToken()}`, Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', String(e.message || e));
  }
  let data = null;
  const text = await res.text();
  if (text) { try { data = JSON.parse(text); } catch { data = null; } }
  if (!res.ok) {
    const code = data?.error?.code || `http_${res.status}`;
    const message = data?.error?.message || `${res.status} ${res.statusText}`;
    if (res.status === 401) showLogin(message);
    throw new ApiError(res.status, code, message);
  }
  return data;
}
/** A file with the bearer token (the material downloads); errors as api(). */
async function apiBlob(path) {
  if (!getToken()) throw new ApiError(401, 'unauthorized', t('login_required'));
  let res;
  try {
    res = await fetch(path, { headers: { Authorization: `Bearer ${getToken()}` }, cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 'network', String(e.message || e));
  }
  if (!res.ok) {
    let data = null;
    try { data = JSON.parse(await res.text()); } catch { data = null; }
    const message = data?.error?.message || `${res.status} ${res.statusText}`;
    if (res.status === 401) showLogin(message);
    throw new ApiError(res.status, data?.error?.code || `http_${res.status}`, message);
  }
  return res.blob();
}
const enc = encodeURIComponent;

// ───────────────────────────── SSE client ─────────────────────────────
/**
 * Server-Sent Events over fetch() (EventSource cannot send the Authorization header).
 * Reconnects with exponential back-off; a silent connection (no bytes for 40 s, the
 * servers send keepalives every 15 s) is dropped and reopened.
 */
class EventStream {
  constructor(path, { onEvent, onState, onOpen }) {
    Object.assign(this, { path, onEvent, onState, onOpen });
    this.stopped = true;
    this.ctrl = null;
    this.delay = 500;
    this.opened = 0;
  }
  start() {
    if (!this.stopped) return;
    this.stopped = false;
    this.loop();
  }
  stop() {
    this.stopped = true;
    this.ctrl?.abort();
    clearTimeout(this.watchdog);
  }
  async loop() {
    while (!this.stopped) {
      let maxDelay = 15000;
      try {
        maxDelay = await this.connectOnce();
      } catch { /* network error or abort: reconnect below */ }
      if (this.stopped) break;
      this.onState('offline');
      await new Promise((r) => setTimeout(r, this.delay));
      this.delay = Math.min(this.delay * 2, maxDelay);
    }
  }
  kick() {
    clearTimeout(this.watchdog);
    this.watchdog = setTimeout(() => this.ctrl?.abort(), 40000);
  }
  /** One connection; resolves when it ends. Returns the back-off ceiling to use. */
  async connectOnce() {
    this.onState('connecting');
    this.ctrl = new AbortController();
    const res = await fetch(this.path, {
      headers: { Authorization: `Bearer ${getToken()}`, Accept: 'text/event-stream' },
      signal: this.ctrl.signal, cache: 'no-store',
    });
    if (res.status === 401) {
      let msg = t('login_required');
      try { msg = (await res.json())?.error?.message || msg; } catch { /* ignore */ }
      this.stopped = true;
      showLogin(msg);
      return 30000;
    }
    if (!res.ok || !res.body) {
      this.onState('offline', `${res.status}`);
      return res.status === 404 ? 60000 : 15000;
    }
    this.delay = 500;
    this.onState('live');
    this.onOpen(this.opened++ > 0);
    this.kick();
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      this.kick();
      buf += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let cut;
      while ((cut = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + 2);
        this.dispatch(block);
      }
    }
    clearTimeout(this.watchdog);
    return 15000;
  }
  dispatch(block) {
    let event = 'message';
    const data = [];
    for (const line of block.split('\n')) {
      if (!line || line.startsWith(':')) continue;
      const i = line.indexOf(':');
      const field = i < 0 ? line : line.slice(0, i);
      let value = i < 0 ? '' : line.slice(i + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (!data.length) return;
    let parsed;
    try { parsed = JSON.parse(data.join('\n')); } catch { parsed = data.join('\n'); }
    $('live').dataset.lastEvent = String(Date.now()); // when the last event arrived (tests measure latency with it)
    try { this.onEvent(event, parsed); } catch (e) { console.error('stream handler', e); }
  }
}

function setLive(state, detail = '') {
  const el = $('live');
  el.dataset.state = state;
  el.className = `live ${state === 'live' ? 'live-on' : state}`;
  $('live-text').textContent = t(state === 'live' ? 'live' : state);
  el.title = detail;
}

// ───────────────────────────── panel scheduler ─────────────────────────────
/**
 * Each panel re-reads through here: at most one read per panel per `gap` ms (leading edge
 * plus one trailing read), never two reads of one panel at once.
 */
class Panels {
  constructor() { this.p = new Map(); }
  add(name, load, gap = 200) { this.p.set(name, { load, gap, last: 0, timer: null, running: false, dirty: false }); }
  clear() { for (const s of this.p.values()) clearTimeout(s.timer); this.p.clear(); }
  invalidate(name) {
    const s = this.p.get(name);
    if (!s) return;
    if (s.running) { s.dirty = true; return; }
    if (s.timer) return;
    const wait = Math.max(0, s.last + s.gap - Date.now());
    if (wait === 0) this.run(name, s);
    else s.timer = setTimeout(() => this.run(name, s), wait);
  }
  all() { for (const name of this.p.keys()) this.invalidate(name); }
  async run(name, s) {
    s.timer = null;
    s.running = true;
    s.last = Date.now();
    try {
      await s.load();
    } catch (e) {
      if (e?.status !== 401) console.warn(`panel ${name}:`, e);
    } finally {
      s.running = false;
      if (s.dirty && this.p.get(name) === s) { s.dirty = false; this.invalidate(name); }
    }
  }
}

// ───────────────────────────── charts (ECharts) ─────────────────────────────
const charts = new Set();
const pendingCharts = new Map();

/** Draw or update an ECharts chart in el (kept across updates). */
function chart(el, option) {
  if (!el) return;
  if (!window.echarts) { pendingCharts.set(el, option); return; }
  let c = window.echarts.getInstanceByDom(el);
  if (!c) { c = window.echarts.init(el, 'dark', { renderer: 'canvas' }); charts.add(c); }
  c.setOption({ backgroundColor: 'transparent', animation: false, ...option }, true);
  el.dataset.rendered = '1';
}
function flushPendingCharts() {
  if (!window.echarts) return;
  for (const [el, opt] of pendingCharts) if (el.isConnected) chart(el, opt);
  pendingCharts.clear();
}
/** Adds the ECharts <script> once (after the first paint); queued charts draw on its load. */
function loadECharts() {
  if (window.echarts || $('echarts-js')) return;
  const el = document.createElement('script');
  el.id = 'echarts-js';
  el.async = true;
  el.src = document.documentElement.dataset.echarts || 'node_modules/echarts/dist/echarts.min.js';
  el.addEventListener('load', flushPendingCharts);
  document.head.appendChild(el);
}
function disposeChartsIn(root) {
  if (!window.echarts || !root) return;
  root.querySelectorAll('.chart').forEach((el) => {
    const c = window.echarts.getInstanceByDom(el);
    if (c) { charts.delete(c); c.dispose(); }
  });
}
let resizeTimer = null;
window.addEventListener('resize', () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => { for (const c of charts) if (!c.isDisposed()) c.resize(); }, 100);
});
const grid = { left: 44, right: 16, top: 30, bottom: 28 };
const hhmm = (ms) => fmtTime(ms);
function lineOption(points, series) {
  return {
    tooltip: { trigger: 'axis' },
    legend: { top: 0, textStyle: { fontSize: 11 } },
    grid,
    xAxis: { type: 'category', data: points.map((p) => hhmm(p.ts)), boundaryGap: false },
    yAxis: { type: 'value', minInterval: 1 },
    series: series.map(([key, name]) => ({ name, type: 'line', showSymbol: false, data: points.map((p) => p[key] ?? null) })),
  };
}
function naHtml(id) { return `<div class="na" data-testid="${id}-na">${esc(t('not_available'))}</div>`; }

// ───────────────────────────── health ─────────────────────────────
/** red: integrity broken or disconnected; amber: alerts, lag > 100 events, longest wait > 30 min. */
function health(h) {
  if (h.integrity_ok === false || h.connected === false) return 'red';
  if ((h.alerts_active || 0) > 0 || (h.lag_events || 0) > 100 || (h.longest_wait_s || 0) > 1800) return 'amber';
  return 'green';
}
function occupancyPct(h) {
  if (h.occupancy_pct != null) return h.occupancy_pct;
  const occ = typeof h.occupancy === 'object' && h.occupancy ? h.occupancy.value : h.occupancy;
  if (occ != null && h.capacity) return (100 * occ) / h.capacity;
  return null;
}
function occupancyText(h) {
  const pct = occupancyPct(h);
  if (pct != null) return fmtPct(pct);
  const occ = typeof h.occupancy === 'object' && h.occupancy ? h.occupancy.value : h.occupancy;
  return occ == null ? '—' : `${num(occ)}${t('people')}`;
}

// ───────────────────────────── alerts table (both modes) ─────────────────────────────
/** Alerts with a comment box and Acknowledge (and, on the edge, Resolve) buttons; id is `alert` (central) or `id` (edge). */
function alertsTable(alerts, withResolve) {
  if (!alerts.length) return `<div class="na" data-testid="alerts-empty">${esc(t('no_alerts'))}</div>`;
  return `<table class="wrap alerts"><thead><tr><th>${esc(t('severity'))}</th><th>${esc(t('alert_rule'))} · ${esc(t('message'))}</th><th>${esc(t('raised'))} · ${esc(t('state'))}</th><th></th></tr></thead><tbody>
    ${alerts.map((a) => {
      const raw = a.alert ?? a.id;
      const id = tid(raw);
      const closed = a.state === 'resolved';
      return `<tr data-testid="alert-row-${id}"><td><span class="badge sev-${esc(a.severity)}">${esc(tState(a.severity, 'sev_'))}</span></td>
        <td class="msg"><b>${esc(a.rule)}</b> · ${esc(a.subject)}<br><span title="${esc(a.message)}">${esc(a.message)}</span></td>
        <td>${fmtTime(a.raised_ts)}<br><span data-testid="alert-state-${id}" data-state="${esc(a.state)}">${esc(tState(a.state))}</span>${a.acked_by ? `<br><span class="muted">${esc(a.acked_by)}</span>` : ''}</td>
        <td class="actions"><input id="alert-comment-${id}" data-testid="alert-comment-${id}" placeholder="${esc(t('comment'))}" ${closed ? 'disabled' : ''}>
          <button data-alert="${esc(raw)}" data-op="ack" data-testid="alert-ack-${id}" ${a.state !== 'raised' ? 'disabled' : ''}>${esc(t('ack'))}</button>
          ${withResolve ? `<button data-alert="${esc(raw)}" data-op="resolve" data-testid="alert-resolve-${id}" ${closed ? 'disabled' : ''}>${esc(t('resolve'))}</button>` : ''}</td></tr>`;
    }).join('')}</tbody></table>`;
}

// ───────────────────────────── city view ─────────────────────────────
class CityView {
  constructor(root) {
    this.root = root;
    this.halls = new Map(); // hall id → row of /api/v1/halls
    this.selected = null;
    this.detail = null;
    this.series = null;
    this.kpi = null;
    this.kpiCharts = null;
    this.filter = '';
    this.onlyProblems = false;
    this.panels = new Panels();
    this.panels.add('halls', () => this.loadHalls());
    this.panels.add('detail', () => this.loadDetail());
    this.panels.add('series', () => this.loadSeries(), 1000);
    this.panels.add('kpi', () => this.loadKpi(), 5000);
    this.stream = new EventStream('/api/v1/stream', {
      onEvent: (ev, data) => this.onEvent(ev, data),
      onState: setLive,
      onOpen: (again) => { if (again) this.panels.all(); },
    });
  }

  async start(prefetchedHalls) {
    $('title').textContent = t('title_city');
    this.renderShell();
    await this.loadHalls(prefetchedHalls);
    this.panels.p.get('halls').last = Date.now();
    this.stream.start();
    this.loadKpi();
  }
  stop() { this.stream.stop(); this.panels.clear(); }

  renderShell() {
    disposeChartsIn(this.root);
    const from = this.kpiFrom || localDay();
    const to = this.kpiTo || localDay();
    this.root.innerHTML = `
      <div class="city with-kpi">
        <section>
          <div class="summary"><span class="summary" data-testid="city-summary" id="city-summary"></span><span class="spacer"></span>
            <input id="hall-filter" data-testid="hall-filter" placeholder="${esc(t('filter_halls'))}" value="${esc(this.filter)}">
            <label><input type="checkbox" id="only-problems" data-testid="only-problems" ${this.onlyProblems ? 'checked' : ''}> ${esc(t('only_problems'))}</label>
          </div>
          <div class="tiles" id="tiles" data-testid="hall-tiles"></div>
        </section>
        <section class="panel" data-testid="kpi-panel">
          <h2>${esc(t('kpi'))}
            <span class="tools">
              <label>${esc(t('kpi_from'))} <input type="date" id="kpi-from" data-testid="kpi-from" value="${from}"></label>
              <label>${esc(t('kpi_to'))} <input type="date" id="kpi-to" data-testid="kpi-to" value="${to}"></label>
              <button id="kpi-load" data-testid="kpi-load">${esc(t('kpi_load'))}</button>
            </span>
          </h2>
          <h3 class="muted">${esc(t('wait_hist'))}</h3><div class="chart" id="chart-wait-hist" data-testid="chart-wait-hist"></div>
          <h3 class="muted">${esc(t('served_per_hour'))}</h3><div class="chart" id="chart-served-hour" data-testid="chart-served-hour"></div>
          <h3 class="muted">${esc(t('satisfaction_per_hall'))}</h3><div class="chart" id="chart-satisfaction" data-testid="chart-satisfaction"></div>
          <div class="scroll" id="kpi-table" data-testid="kpi-table"></div>
        </section>
      </div>
      <aside class="drawer" id="drawer" data-testid="hall-drawer" hidden></aside>`;
    $('tiles').addEventListener('click', (ev) => {
      const tile = ev.target.closest('.tile');
      if (tile) this.open(tile.dataset.hall);
    });
    $('hall-filter').addEventListener('input', (ev) => { this.filter = ev.target.value.trim().toLowerCase(); this.applyFilter(); });
    $('only-problems').addEventListener('change', (ev) => { this.onlyProblems = ev.target.checked; this.applyFilter(); });
    $('kpi-load').addEventListener('click', () => {
      this.kpiFrom = $('kpi-from').value; this.kpiTo = $('kpi-to').value;
      this.panels.p.get('kpi').last = 0;
      this.panels.invalidate('kpi');
    });
    this.renderTiles();
    if (this.kpi || this.kpiCharts) this.renderKpi();
    if (this.selected) this.renderDrawer();
  }

  // ── tiles
  hidden(h) {
    if (this.onlyProblems && health(h) === 'green') return true;
    if (!this.filter) return false;
    return !`${h.hall} ${h.name || ''} ${h.region || ''}`.toLowerCase().includes(this.filter);
  }
  tileHtml(h) {
    const hl = health(h);
    const id = tid(h.hall);
    const cls = `tile health-${hl}${this.selected === h.hall ? ' selected' : ''}${this.hidden(h) ? ' hidden' : ''}`;
    const flags = [];
    if (h.connected === false) flags.push(`<span class="badge red">${esc(t('disconnected'))}</span>`);
    const tip = `${h.name || ''} ${h.hall} ${h.region || ''}`;
    return `<div class="${cls}" data-hall="${esc(h.hall)}" data-testid="hall-tile-${id}" data-health="${hl}" title="${esc(tip)}">
      <div class="top"><span class="name">${esc(h.name || h.hall)}</span><span class="w" data-testid="hall-waiting-${id}">${num(h.waiting)}</span></div>
      <div class="id">${esc(h.hall)}${flags.join('')}</div>
      <div class="m">
        <span title="${esc(t('longest_wait'))}" class="${(h.longest_wait_s || 0) > 1800 ? 'hot' : ''}"><i>${esc(t('sh_wait'))}</i><b data-testid="hall-longest-${id}">${h.waiting ? fmtDur(h.longest_wait_s) : '—'}</b></span>
        <span title="${esc(t('occupancy'))}"><i>${esc(t('sh_occ'))}</i><b data-testid="hall-occupancy-${id}">${occupancyText(h)}</b></span>
        <span title="${esc(t('alerts'))}" class="${h.alerts_active ? 'hot' : ''}"><i>${esc(t('sh_alerts'))}</i><b data-testid="hall-alerts-${id}">${num(h.alerts_active)}</b></span>
        <span title="${esc(t('lag'))}" class="${(h.lag_events || 0) > 100 ? 'hot' : ''}"><i>${esc(t('sh_lag'))}</i><b data-testid="hall-lag-${id}">${num(h.lag_events)}</b></span>
        <span title="${esc(t('integrity'))}" class="${h.integrity_ok === false ? 'bad' : ''}"><i>${esc(t('sh_int'))}</i><b data-testid="hall-integrity-${id}">${esc(h.integrity_ok === false ? t('integrity_broken') : t('integrity_ok'))}</b></span>
      </div></div>`;
  }
  renderTiles() {
    const rows = [...this.halls.values()];
    $('tiles').classList.toggle('dense', rows.length > 60);
    $('tiles').innerHTML = rows.map((h) => this.tileHtml(h)).join('');
    this.renderSummary();
    if (rows.length && !performance.getEntriesByName('yiban-first-tiles').length) performance.mark('yiban-first-tiles');
  }
  updateTile(h) {
    const isNew = !this.halls.has(h.hall);
    this.halls.set(h.hall, h);
    const el = this.root.querySelector(`.tile[data-testid="hall-tile-${tid(h.hall)}"]`);
    if (el && !isNew) el.outerHTML = this.tileHtml(h);
    else this.renderTiles();
    this.renderSummary();
  }
  applyFilter() {
    for (const el of $('tiles').children) {
      const h = this.halls.get(el.dataset.hall);
      if (h) el.classList.toggle('hidden', this.hidden(h));
    }
  }
  renderSummary() {
    const c = { red: 0, amber: 0, green: 0 };
    let waiting = 0;
    for (const h of this.halls.values()) { c[health(h)] += 1; waiting += Number(h.waiting || 0); }
    $('city-summary').innerHTML = `
      <span>${esc(t('halls'))} <b class="big" data-testid="city-hall-count">${this.halls.size}</b></span>
      <span>${esc(t('total_waiting'))} <b class="big" data-testid="city-total-waiting">${num(waiting)}</b></span>
      <span class="badge red" data-testid="city-red">${esc(t('health_red'))} ${c.red}</span>
      <span class="badge amber" data-testid="city-amber">${esc(t('health_amber'))} ${c.amber}</span>
      <span class="badge green" data-testid="city-green">${esc(t('health_green'))} ${c.green}</span>`;
  }
  async loadHalls(prefetched) {
    const data = (prefetched && await prefetched.catch(() => null)) || await api('/api/v1/halls');
    this.halls = new Map((data?.halls || []).map((h) => [h.hall, h]));
    this.renderTiles();
  }

  // ── live
  onEvent(ev, data) {
    if (ev === 'hall' && data && data.hall) {
      this.updateTile(data);
      if (this.selected === data.hall) { this.panels.invalidate('detail'); this.panels.invalidate('series'); }
      this.panels.invalidate('kpi');
    } else if (ev === 'halls' && Array.isArray(data?.halls)) {
      this.halls = new Map(data.halls.map((h) => [h.hall, h]));
      this.renderTiles();
    }
  }

  // ── drill-down
  open(hall) {
    const prev = this.selected;
    this.selected = hall;
    this.detail = null; this.series = null;
    for (const id of [prev, hall]) {
      const h = id && this.halls.get(id);
      if (h) this.updateTile(h);
    }
    this.renderDrawer();
    this.panels.p.get('detail').last = 0;
    this.panels.p.get('series').last = 0;
    this.panels.invalidate('detail');
    this.panels.invalidate('series');
  }
  close() {
    const prev = this.selected;
    this.selected = null;
    const d = $('drawer');
    disposeChartsIn(d);
    d.hidden = true; d.innerHTML = '';
    const h = prev && this.halls.get(prev);
    if (h) this.updateTile(h);
  }
  renderDrawer() {
    const d = $('drawer');
    disposeChartsIn(d);
    d.hidden = false;
    const h = this.halls.get(this.selected) || { hall: this.selected };
    d.innerHTML = `
      <div class="head"><h2 data-testid="drawer-title">${esc(h.name || h.hall)}</h2><span class="muted">${esc(h.hall)}</span>
        <span class="spacer"></span><button id="drawer-close" data-testid="drawer-close">${esc(t('close'))}</button></div>
      <div id="drawer-summary" data-testid="drawer-summary"></div>
      <div class="grid2">
        <section class="panel"><h2>${esc(t('occupancy'))} · ${esc(t('series_today'))}</h2><div class="chart" id="chart-hall-occupancy" data-testid="chart-hall-occupancy"></div></section>
        <section class="panel"><h2>${esc(t('waiting'))} · ${esc(t('series_today'))}</h2><div class="chart" id="chart-hall-waiting" data-testid="chart-hall-waiting"></div></section>
        <section class="panel wide" id="drawer-alerts" data-testid="drawer-alerts"></section>
        <section class="panel" id="drawer-queues" data-testid="drawer-queues"></section>
        <section class="panel" id="drawer-counters" data-testid="drawer-counters"></section>
        <section class="panel" id="drawer-devices" data-testid="drawer-devices"></section>
      </div>`;
    $('drawer-close').addEventListener('click', () => this.close());
    $('drawer-alerts').addEventListener('click', (ev) => {
      const b = ev.target.closest('button[data-alert]');
      if (b) this.ackAlert(b.dataset.alert, b);
    });
    if (this.detail) this.renderDetail();
    if (this.series) this.renderSeries();
  }
  async loadDetail() {
    const hall = this.selected;
    if (!hall) return;
    const data = await api(`/api/v1/halls/${enc(hall)}`);
    if (this.selected !== hall) return;
    this.detail = data;
    this.renderDetail();
  }
  renderDetail() {
    const d = this.detail;
    if (!d || !$('drawer-queues')) return;
    const row = this.halls.get(d.hall) || {};
    const sync = d.sync || {};
    // The detail is fresher than the tile's row: waiting and longest wait come from its queues.
    const waiting = (d.queues || []).reduce((a, q) => a + (q.waiting || 0), 0);
    const longest = Math.max(0, ...(d.queues || []).map((q) => (q.waiting ? q.oldest_wait_s || 0 : 0)));
    $('drawer-summary').innerHTML = `<div class="kpis">
      <div><b data-testid="drawer-waiting">${num(waiting)}</b><span>${esc(t('waiting'))}</span></div>
      <div><b>${waiting ? fmtDur(longest) : '—'}</b><span>${esc(t('longest_wait'))}</span></div>
      <div><b>${occupancyText({ ...row, occupancy: d.occupancy?.value ?? row.occupancy })}</b><span>${esc(t('occupancy'))}</span></div>
      <div><b>${esc(d.integrity?.ok === false ? t('integrity_broken') : t('integrity_ok'))}</b><span>${esc(t('integrity'))}${d.integrity?.reason ? ` · ${esc(d.integrity.reason)}` : ''}</span></div>
      <div><b>${esc(sync.connected ? t('connected') : t('disconnected'))}</b><span>${esc(t('sync'))} · ${esc(t('lag'))} ${num(sync.lag_events)}</span></div>
      <div><b>${fmtTime(sync.last_contact_ts)}</b><span>${esc(t('last_contact'))}</span></div></div>`;
    const alerts = d.alerts || [];
    $('drawer-alerts').innerHTML = `<h2>${esc(t('alerts'))} <span class="badge">${alerts.length}</span></h2>${alertsTable(alerts, false)}`;
    $('drawer-queues').innerHTML = `<h2>${esc(t('queues'))}</h2><table><thead><tr><th>${esc(t('service'))}</th><th class="num">${esc(t('waiting'))}</th><th class="num">${esc(t('est_wait'))}</th><th class="num">${esc(t('oldest_wait'))}</th></tr></thead><tbody>
      ${(d.queues || []).map((q) => `<tr data-testid="queue-row-${tid(q.service)}"><td>${esc(q.name ? `${q.service} ${q.name}` : q.service)}</td><td class="num" data-testid="queue-waiting-${tid(q.service)}">${num(q.waiting)}</td>
        <td class="num">${fmtDur(q.estimated_wait_s)}</td><td class="num">${q.waiting ? fmtDur(q.oldest_wait_s) : '—'}</td></tr>`).join('')}</tbody></table>`;
    $('drawer-counters').innerHTML = `<h2>${esc(t('counters'))}</h2><table><thead><tr><th>${esc(t('counter'))}</th><th>${esc(t('state'))}</th><th>${esc(t('ticket'))}</th><th>${esc(t('since'))}</th></tr></thead><tbody>
      ${(d.counters || []).map((c) => `<tr data-testid="counter-row-${tid(c.counter)}"><td>${esc(c.counter)}</td><td>${esc(tState(c.state))}</td><td>${esc(c.number || '—')}</td><td>${fmtTime(c.since_ts)}</td></tr>`).join('')}</tbody></table>`;
    const items = [...(d.devices?.items || [])].sort((a, b) => Number(a.online) - Number(b.online) || String(a.device).localeCompare(b.device));
    $('drawer-devices').innerHTML = `<h2>${esc(t('devices'))} <span class="badge green">${num(d.devices?.online)}</span> <span class="badge ${d.devices?.offline ? 'red' : ''}">${num(d.devices?.offline)}</span></h2>
      <table><thead><tr><th>${esc(t('device'))}</th><th>${esc(t('kind'))}</th><th>${esc(t('online'))}</th><th>${esc(t('since'))}</th></tr></thead><tbody>
      ${items.map((v) => `<tr class="${v.online ? '' : 'offline'}" data-testid="device-row-${tid(v.device)}"><td>${esc(v.device)}</td><td>${esc(v.kind)}</td><td>${esc(v.online ? t('online') : t('offline'))}</td><td>${fmtTime(v.since_ts ?? v.last_seen)}</td></tr>`).join('')}</tbody></table>`;
  }
  async ackAlert(alert, button) {
    const hall = this.selected;
    const comment = $(`alert-comment-${tid(alert)}`)?.value || '';
    button.disabled = true;
    try {
      await api(`/api/v1/halls/${enc(hall)}/alerts/${enc(alert)}/ack`, { method: 'POST', body: { comment } });
      toast(t('done'));
      this.panels.invalidate('detail');
    } catch (e) {
      button.disabled = false;
      if (e.status !== 401) toast(`${t('error')}: ${e.message}`, true);
    }
  }
  async loadSeries() {
    const hall = this.selected;
    if (!hall) return;
    let data;
    try {
      data = await api(`/api/v1/halls/${enc(hall)}/series`);
    } catch (e) {
      if (e.status === 404 || e.status === 400) data = { unavailable: true }; else throw e;
    }
    if (this.selected !== hall) return;
    this.series = data;
    this.renderSeries();
  }
  renderSeries() {
    const occ = $('chart-hall-occupancy');
    const wait = $('chart-hall-waiting');
    if (!occ) return;
    if (this.series?.unavailable) { occ.innerHTML = naHtml('series'); wait.innerHTML = naHtml('series'); return; }
    const pts = Array.isArray(this.series) ? this.series : (this.series?.series || this.series?.points || []);
    chart(occ, lineOption(pts, [['occupancy', t('occupancy')]]));
    chart(wait, lineOption(pts, [['waiting', t('waiting')]]));
  }

  // ── city KPIs
  async loadKpi() {
    const from = this.kpiFrom || localDay();
    const to = this.kpiTo || localDay();
    const q = `from=${enc(from)}&to=${enc(to)}`;
    const [kpi, charts] = await Promise.all([
      api(`/api/v1/kpi?${q}`).catch((e) => ({ error: e })),
      api(`/api/v1/kpi/charts?${q}`).catch((e) => ({ error: e })),
    ]);
    this.kpi = kpi;
    this.kpiCharts = charts;
    this.renderKpi();
  }
  renderKpi() {
    const k = this.kpi;
    const rows = k?.rows || [];
    const cols = [['hall', t('hall')], ['day', t('day')], ['service', t('service')], ['issued', t('issued'), num], ['served', t('served'), num],
      ['no_show_rate', t('no_show_rate'), fmtRate], ['wait_mean_s', t('wait_mean'), fmtDur], ['wait_p90_s', t('wait_p90'), fmtDur],
      ['service_mean_s', t('service_mean'), fmtDur], ['satisfaction', t('satisfaction'), fmtRate]];
    const cell = (r, [key, , f]) => `<td class="${f ? 'num' : ''}">${f ? f(r[key]) : esc(r[key] ?? '')}</td>`;
    if (!$('kpi-table')) return;
    $('kpi-table').innerHTML = k?.error ? `<div class="error">${esc(k.error.message)}</div>` : `<table>
      <thead><tr>${cols.map(([, l, f]) => `<th class="${f ? 'num' : ''}">${esc(l)}</th>`).join('')}</tr></thead>
      <tbody>${rows.map((r) => `<tr data-testid="kpi-row">${cols.map((c) => cell(r, c)).join('')}</tr>`).join('')}
      ${k?.total ? `<tr data-testid="kpi-total"><td colspan="3"><b>${esc(t('total'))}</b></td>${cols.slice(3).map((c) => cell(k.total, c)).join('')}</tr>` : ''}</tbody></table>`;

    const c = this.kpiCharts;
    const hist = $('chart-wait-hist'); const hour = $('chart-served-hour'); const sat = $('chart-satisfaction');
    const bar = (labels, values, name, extra = {}) => ({
      tooltip: { trigger: 'axis' }, grid, xAxis: { type: 'category', data: labels },
      yAxis: { type: 'value', ...extra }, series: [{ name, type: 'bar', data: values }],
    });
    const wh = c && !c.error ? (c.wait_histogram || c.wait_hist || []) : null;
    if (wh) {
      chart(hist, bar(wh.map((b) => (b.label ?? `${Math.round((b.from_s ?? b.lo_s ?? 0) / 60)}–${b.to_s != null ? Math.round(b.to_s / 60) : '∞'}${t('min')}`)),
        wh.map((b) => b.count ?? b.tickets ?? 0), t('count'), { minInterval: 1 }));
    } else hist.innerHTML = naHtml('wait-hist');
    const sh = c && !c.error ? (c.served_per_hour || []) : null;
    if (sh) chart(hour, bar(sh.map((b) => `${b.hour}`), sh.map((b) => b.served ?? 0), t('served'), { minInterval: 1 }));
    else hour.innerHTML = naHtml('served-hour');
    // Satisfaction per hall: from the charts endpoint, else derived from the KPI rows.
    let sp = c && !c.error ? c.satisfaction_per_hall : null;
    if (!sp && rows.length) {
      const by = new Map();
      for (const r of rows) {
        const e = by.get(r.hall) || { hall: r.hall, good: 0, ratings: 0 };
        if (r.ratings) { e.ratings += r.ratings; e.good += (r.satisfaction || 0) * r.ratings; }
        by.set(r.hall, e);
      }
      sp = [...by.values()].filter((e) => e.ratings).map((e) => ({ hall: e.hall, satisfaction: e.good / e.ratings }));
    }
    if (sp && sp.length) {
      chart(sat, bar(sp.map((s) => this.halls.get(s.hall)?.name || s.name || s.hall), sp.map((s) => (s.satisfaction == null ? null : Math.round(s.satisfaction * 1000) / 10)),
        `${t('satisfaction')} %`, { max: 100 }));
    } else sat.innerHTML = naHtml('satisfaction');
  }
}

// ───────────────────────────── hall view ─────────────────────────────
const TICKET_STATES = ['waiting', 'called', 'serving', 'completed', 'no_show', 'cancelled'];
/** Which panels an edge event type affects. */
function panelsFor(type = '') {
  const p = type.split('.')[0];
  switch (p) {
    case 'ticket': case 'appointment':
      // A call/finish also changes a counter's current ticket.
      return type === 'ticket.issued' || p === 'appointment' ? ['queues', 'tickets', 'hall', 'stats'] : ['queues', 'tickets', 'hall', 'stats', 'counters'];
    case 'counter': return ['counters', 'queues'];
    case 'alert': case 'help': return ['alerts', 'hall'];
    case 'device': return ['devices', 'hall'];
    case 'rating': return ['stats', 'hall'];
    case 'telemetry': return ['hall', 'stats'];
    case 'command': case 'config': return ['hall', 'queues', 'counters', 'tickets', 'alerts', 'devices', 'stats'];
    default: return ['hall'];
  }
}

class HallView {
  constructor(root, who) {
    this.root = root;
    this.who = who;
    this.data = {};
    this.ticketQuery = { number: '', state: '' };
    this.ticketLimit = 100;
    this.alertFilter = 'open';
    this.panels = new Panels();
    for (const name of ['hall', 'queues', 'counters', 'tickets', 'alerts', 'devices', 'stats']) {
      this.panels.add(name, () => this.load(name));
    }
    this.stream = new EventStream('/api/v1/stream', {
      onEvent: (ev, data) => {
        if (ev === 'change') for (const name of panelsFor(data?.type)) this.panels.invalidate(name);
      },
      onState: setLive,
      onOpen: (again) => { if (again) this.panels.all(); },
    });
  }
  async start() {
    $('title').textContent = t('title_hall');
    this.renderShell();
    this.panels.all();
    this.stream.start();
  }
  stop() { this.stream.stop(); this.panels.clear(); }

  renderShell() {
    disposeChartsIn(this.root);
    const stateOpts = TICKET_STATES.map((s) => `<option value="${s}" ${this.ticketQuery.state === s ? 'selected' : ''}>${esc(tState(s))}</option>`).join('');
    this.root.innerHTML = `
      <div class="kpis" id="p-hall" data-testid="hall-header"></div>
      <div class="hall-grid">
        <section class="panel" id="p-queues" data-testid="queues-panel"></section>
        <section class="panel" id="p-counters" data-testid="counters-panel"></section>
        <section class="panel" data-testid="alerts-panel"><h2>${esc(t('alerts'))}<span class="tools">
          <select id="alert-filter" data-testid="alerts-filter"><option value="open">${esc(t('alerts_open'))}</option><option value="all" ${this.alertFilter === 'all' ? 'selected' : ''}>${esc(t('alerts_all'))}</option></select></span></h2>
          <div id="p-alerts" class="scroll"></div></section>
        <section class="panel" data-testid="tickets-panel"><h2>${esc(t('tickets'))}<span class="tools">
          <input id="ticket-search" data-testid="tickets-search" placeholder="${esc(t('search_number'))}" value="${esc(this.ticketQuery.number)}">
          <select id="ticket-state" data-testid="tickets-state"><option value="">${esc(t('all_states'))}</option>${stateOpts}</select></span></h2>
          <div id="p-tickets" class="scroll"></div></section>
        <section class="panel" data-testid="stats-panel"><h2>${esc(t('stats'))}</h2><div id="p-stats-kpis"></div>
          <div class="chart" id="chart-per-hour" data-testid="chart-per-hour"></div>
          <div class="chart" id="chart-series" data-testid="chart-series"></div>
          <div class="chart" id="chart-per-service" data-testid="chart-per-service"></div></section>
        <section class="panel" id="p-devices" data-testid="devices-panel"></section>
      </div>`;
    this.root.querySelector('.hall-grid').addEventListener('click', (ev) => this.onClick(ev));
    let searchTimer = null;
    $('ticket-search').addEventListener('input', (ev) => {
      clearTimeout(searchTimer);
      searchTimer = setTimeout(() => { this.ticketQuery.number = ev.target.value.trim(); this.ticketLimit = 100; this.panels.invalidate('tickets'); }, 200);
    });
    $('ticket-state').addEventListener('change', (ev) => { this.ticketQuery.state = ev.target.value; this.ticketLimit = 100; this.panels.invalidate('tickets'); });
    $('alert-filter').addEventListener('change', (ev) => { this.alertFilter = ev.target.value; this.panels.invalidate('alerts'); });
    for (const name of Object.keys(this.data)) this.render(name);
  }

  async load(name) {
    let data;
    switch (name) {
      case 'hall': data = await api('/api/v1/hall'); break;
      case 'queues': data = await api('/api/v1/queues'); break;
      case 'counters': data = await api('/api/v1/counters'); break;
      case 'devices': data = await api('/api/v1/devices'); break;
      case 'stats': data = await api('/api/v1/stats'); break;
      case 'alerts': data = await api(`/api/v1/alerts?state=${enc(this.alertFilter)}`); break;
      case 'tickets': {
        const q = this.ticketQuery;
        const params = new URLSearchParams({ limit: String(Math.min(500, this.ticketLimit)) });
        if (q.number) params.set('number', q.number);
        if (q.state) params.set('state', q.state);
        data = await api(`/api/v1/tickets?${params}`);
        break;
      }
      default: return;
    }
    this.data[name] = data;
    this.render(name);
  }

  render(name) {
    const d = this.data[name];
    if (!d) return;
    switch (name) {
      case 'hall': {
        const h = d;
        $('subtitle').textContent = `${h.name || ''} · ${h.hall} · ${h.region || ''} · ${t('business_day')} ${h.business_day || ''}`;
        document.title = `yiban · ${h.name || h.hall}`;
        const id = tid(h.hall);
        const sync = h.sync || {};
        $('p-hall').innerHTML = `
          <div><b data-testid="hall-waiting-${id}">${num(h.waiting)}</b><span>${esc(t('waiting'))}</span></div>
          <div><b data-testid="hall-longest-${id}">${h.waiting ? fmtDur(h.longest_wait_s) : '—'}</b><span>${esc(t('longest_wait'))}</span></div>
          <div><b data-testid="hall-occupancy-${id}">${h.occupancy?.pct != null ? fmtPct(h.occupancy.pct) : num(h.occupancy?.value)}</b><span>${esc(t('occupancy'))}${h.occupancy?.value != null ? ` · ${num(h.occupancy.value)}/${num(h.occupancy.capacity)}` : ''}</span></div>
          <div><b data-testid="hall-served-${id}">${num(h.served_today)}</b><span>${esc(t('served_today'))}</span></div>
          <div><b data-testid="hall-alerts-${id}">${num(h.alerts_active)}</b><span>${esc(t('alerts_active'))}</span></div>
          <div><b data-testid="hall-devices-${id}">${num(h.devices_online)} / <span class="${h.devices_offline ? 'error' : ''}">${num(h.devices_offline)}</span></b><span>${esc(t('devices_online'))} / ${esc(t('offline'))}</span></div>
          <div><b data-testid="hall-sync-${id}" data-state="${esc(sync.state)}">${esc(sync.state ? tState(sync.state, 'sync_') : '—')}</b><span>${esc(t('sync'))} ${sync.acked != null ? `${num(sync.acked)}/${num(sync.last_seq)}` : ''}</span></div>`;
        break;
      }
      case 'queues':
        $('p-queues').innerHTML = `<h2>${esc(t('queues'))}</h2><table><thead><tr><th>${esc(t('service'))}</th><th class="num">${esc(t('waiting'))}</th><th class="num">${esc(t('est_wait'))}</th><th class="num">${esc(t('oldest_wait'))}</th><th class="num">${esc(t('open_counters'))}</th></tr></thead><tbody>
          ${(d.queues || []).map((q) => `<tr data-testid="queue-row-${tid(q.service)}" class="${q.enabled === false ? 'muted' : ''}"><td>${esc(q.service)} ${esc(q.name || '')}</td>
            <td class="num" data-testid="queue-waiting-${tid(q.service)}">${num(q.waiting)}</td><td class="num">${fmtDur(q.estimated_wait_s)}</td>
            <td class="num">${q.waiting ? fmtDur(q.oldest_wait_s) : '—'}</td><td class="num">${num(q.open_counters)}</td></tr>`).join('')}</tbody></table>`;
        break;
      case 'counters':
        $('p-counters').innerHTML = `<h2>${esc(t('counters'))}</h2><table><thead><tr><th>${esc(t('counter'))}</th><th>${esc(t('state'))}</th><th>${esc(t('service'))}</th><th>${esc(t('ticket'))}</th><th></th></tr></thead><tbody>
          ${(d.counters || []).map((c) => {
            const id = tid(c.counter);
            const btn = (op, label, disabled) => `<button data-counter="${esc(c.counter)}" data-op="${op}" data-testid="counter-${op}-${id}" ${disabled ? 'disabled' : ''}>${esc(t(label))}</button>`;
            return `<tr data-testid="counter-row-${id}"><td>${esc(c.name || c.counter)}</td><td data-testid="counter-state-${id}" data-state="${esc(c.state)}">${esc(tState(c.state))}</td>
              <td>${esc((c.services || []).join(' '))}${c.backup?.length ? ` <span class="muted">(${esc(c.backup.join(' '))})</span>` : ''}</td>
              <td data-testid="counter-ticket-${id}">${esc(c.ticket?.number || '—')}${c.ticket ? ` <span class="muted">${esc(tState(c.ticket.state))}</span>` : ''}</td>
              <td class="actions">${btn('open', 'open', c.state === 'open')}${btn('pause', 'pause', c.state !== 'open')}${btn('close', 'close_counter', c.state === 'closed')}</td></tr>`;
          }).join('')}</tbody></table>`;
        break;
      case 'tickets': {
        const list = d.tickets || [];
        $('p-tickets').innerHTML = `<table><thead><tr><th>${esc(t('number'))}</th><th>${esc(t('service'))}</th><th>${esc(t('state'))}</th><th>${esc(t('issued_at'))}</th><th>${esc(t('called_at'))}</th><th>${esc(t('counter'))}</th><th>${esc(t('finished_at'))}</th><th class="num">${esc(t('recalls'))}</th></tr></thead>
          <tbody data-testid="tickets-body">${list.map((k) => `<tr data-testid="ticket-row-${tid(k.number)}" data-state="${esc(k.state)}"><td>${esc(k.number)}</td><td>${esc(k.service)}${k.class ? ` <span class="muted">${esc(k.class)}</span>` : ''}</td>
            <td data-testid="ticket-state-${tid(k.number)}">${esc(tState(k.state))}</td><td>${fmtTime(k.issued_ts)}</td><td>${fmtTime(k.called_ts)}</td><td>${esc(k.counter || '—')}</td><td>${fmtTime(k.finished_ts)}</td><td class="num">${num(k.recalls)}</td></tr>`).join('')}</tbody></table>
          ${d.next_after != null && list.length >= this.ticketLimit ? `<button data-op="more-tickets" data-testid="tickets-more">${esc(t('more'))}</button>` : ''}`;
        break;
      }
      case 'alerts': {
        $('p-alerts').innerHTML = alertsTable(d.alerts || [], true);
        break;
      }
      case 'devices': {
        const list = [...(d.devices || [])].sort((a, b) => Number(a.online) - Number(b.online) || String(a.device).localeCompare(b.device));
        $('p-devices').innerHTML = `<h2>${esc(t('devices'))}</h2><table><thead><tr><th>${esc(t('device'))}</th><th>${esc(t('kind'))}</th><th>${esc(t('counter'))}</th><th>${esc(t('online'))}</th><th>${esc(t('last_seen'))}</th><th>${esc(t('version'))}</th></tr></thead><tbody>
          ${list.map((v) => `<tr class="${v.online ? '' : 'offline'}" data-testid="device-row-${tid(v.device)}"><td>${esc(v.device)}</td><td>${esc(v.kind)}</td><td>${esc(v.counter || '')}</td>
            <td data-testid="device-online-${tid(v.device)}">${esc(v.online ? t('online') : t('offline'))}</td><td>${fmtTime(v.last_seen)}</td><td>${esc(v.version || '')}</td></tr>`).join('')}</tbody></table>`;
        break;
      }
      case 'stats': {
        $('p-stats-kpis').innerHTML = `<div class="kpis">
          <div><b data-testid="stats-issued">${num(d.issued)}</b><span>${esc(t('issued'))}</span></div>
          <div><b data-testid="stats-served">${num(d.served)}</b><span>${esc(t('served'))}</span></div>
          <div><b>${num(d.no_shows)}</b><span>${esc(t('no_shows'))}</span></div>
          <div><b>${fmtDur(d.wait_mean_s)}</b><span>${esc(t('wait_mean'))}</span></div>
          <div><b>${fmtDur(d.wait_p90_s)}</b><span>${esc(t('wait_p90'))}</span></div>
          <div><b>${fmtRate(d.satisfaction)}</b><span>${esc(t('satisfaction'))} (${num(d.ratings)})</span></div></div>`;
        const ph = d.per_hour || [];
        chart($('chart-per-hour'), {
          title: { text: t('per_hour'), textStyle: { fontSize: 12 } }, tooltip: { trigger: 'axis' }, legend: { top: 0, right: 0 }, grid,
          xAxis: { type: 'category', data: ph.map((x) => `${String(x.hour).padStart(2, '0')}:00`) }, yAxis: { type: 'value', minInterval: 1 },
          series: [{ name: t('issued'), type: 'bar', data: ph.map((x) => x.issued) }, { name: t('served'), type: 'bar', data: ph.map((x) => x.served) }],
        });
        chart($('chart-series'), { ...lineOption(d.series || [], [['waiting', t('waiting')], ['occupancy', t('occupancy')]]), title: { text: t('series_today'), textStyle: { fontSize: 12 } } });
        const ps = d.per_service || [];
        chart($('chart-per-service'), {
          title: { text: t('per_service'), textStyle: { fontSize: 12 } }, tooltip: { trigger: 'axis' }, legend: { top: 0, right: 0 }, grid,
          xAxis: { type: 'category', data: ps.map((x) => `${x.service} ${x.name || ''}`) }, yAxis: { type: 'value', minInterval: 1 },
          series: [{ name: t('issued'), type: 'bar', data: ps.map((x) => x.issued) }, { name: t('served'), type: 'bar', data: ps.map((x) => x.served) },
            { name: t('no_shows'), type: 'bar', data: ps.map((x) => x.no_shows) }],
        });
        break;
      }
      default:
    }
  }

  async onClick(ev) {
    const b = ev.target.closest('button[data-op]');
    if (!b) return;
    const op = b.dataset.op;
    if (op === 'more-tickets') {
      this.ticketLimit = Math.min(500, this.ticketLimit + 100);
      // Past 500 rows the API pages with after=next_after: append those pages.
      if (this.ticketLimit >= 500 && this.data.tickets?.next_after != null && (this.data.tickets.tickets || []).length >= 500) {
        const params = new URLSearchParams({ limit: '500', after: String(this.data.tickets.next_after) });
        if (this.ticketQuery.number) params.set('number', this.ticketQuery.number);
        if (this.ticketQuery.state) params.set('state', this.ticketQuery.state);
        try {
          const more = await api(`/api/v1/tickets?${params}`);
          this.data.tickets = { tickets: [...this.data.tickets.tickets, ...(more.tickets || [])], next_after: more.next_after };
          this.ticketLimit = this.data.tickets.tickets.length;
          this.render('tickets');
        } catch (e) { if (e.status !== 401) toast(`${t('error')}: ${e.message}`, true); }
        return;
      }
      this.panels.invalidate('tickets');
      return;
    }
    b.disabled = true;
    try {
      if (b.dataset.counter) {
        await api(`/api/v1/counters/${enc(b.dataset.counter)}/${op}`, { method: 'POST', body: {} });
        this.panels.invalidate('counters');
      } else if (b.dataset.alert) {
        const comment = $(`alert-comment-${tid(b.dataset.alert)}`)?.value || '';
        await api(`/api/v1/alerts/${enc(b.dataset.alert)}/${op}`, { method: 'POST', body: comment ? { comment } : {} });
        this.panels.invalidate('alerts');
        this.panels.invalidate('hall');
      }
      toast(t('done'));
    } catch (e) {
      b.disabled = false;
      if (e.status !== 401) toast(`${t('error')}: ${e.message}`, true);
    }
  }
}

// ───────────────────────────── cases view (both modes) ─────────────────────────────
// Cross-region cases (跨域通办, protocol/CASES.md). Every detail read and every download is recorded
// as an audit event, so the detail is never polled: it is read when opened, after an action, on a
// live change: the list is re-read on the edge's "case.*" changes (not case.viewed, which a read itself
// causes) and on central's hall rows (its stream has no case events), and the open case is re-read when
// its row in that list has changed. A file arriving records no event: the drawer has a refresh button.
const CASE_STATES = ['submitted', 'received', 'more_needed', 'accepted', 'rejected', 'completed'];
const CASE_PAGE = 50;
const caseStateBadge = { received: 'amber', more_needed: 'amber', accepted: 'green', completed: 'green', rejected: 'red' };
/** The due time that applies in a state: pre-review while submitted/received, completion once accepted. */
function caseDue(c) {
  if (c.state === 'submitted' || c.state === 'received') return c.prereview_due;
  if (c.state === 'accepted') return c.complete_due;
  return null;
}
/** Bytes → "512 B", "47.1 KB", "3.2 MB". */
function fmtSize(n) {
  if (n == null || Number.isNaN(Number(n))) return '—';
  const b = Number(n);
  if (b < 1024) return `${b} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} KB`;
  return `${(b / 1024 / 1024).toFixed(1)} MB`;
}
/** Epoch ms → "YYYY-MM-DD HH:MM:SS". */
function fmtStamp(ms) {
  if (!ms) return '—';
  const d = new Date(Number(ms));
  const p = (v) => String(v).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
const caseKey = (c) => (c ? `${c.state}|${c.attempt}|${c.updated_ts}|${c.late}` : '');

class CasesView {
  constructor(root, who) {
    this.root = root;
    this.who = who;
    this.hallMode = who.mode === 'hall';
    this.query = { state: '', hall: '', late: false, role: '' };
    this.list = null; // {cases, total} as loaded (pages appended)
    this.listError = null;
    this.selected = null; // case id of the open detail
    this.detail = null;
    this.detailError = null;
    this.halls = []; // central: hall ids for the hall filter
    this.busy = false;
    this.panels = new Panels();
    this.panels.add('cases', () => this.loadList(), this.hallMode ? 300 : 1000);
    this.panels.add('detail', () => this.loadDetail(), 300);
    this.stream = new EventStream('/api/v1/stream', {
      onEvent: (ev, data) => this.onEvent(ev, data),
      onState: setLive,
      onOpen: (again) => { if (again) this.panels.invalidate('cases'); },
    });
  }
  async start(prefetchedHalls) {
    $('title').textContent = t(this.hallMode ? 'title_hall' : 'title_city');
    this.renderShell();
    if (!this.hallMode) {
      Promise.resolve(prefetchedHalls || api('/api/v1/halls')).then((d) => {
        this.halls = (d?.halls || []).map((h) => h.hall).sort();
        this.renderHallOptions();
      }).catch(() => {});
    }
    this.panels.invalidate('cases');
    this.stream.start();
  }
  stop() { this.stream.stop(); this.panels.clear(); }

  onEvent(ev, data) {
    if (ev === 'change') {
      const type = String(data?.type || '');
      if (!type.startsWith('case.') || type === 'case.viewed') return;
      // The list is re-read; the open case is re-read when its row changed (loadList), or at once when it is
      // not among the rows shown (filtered out): a change of another case then costs no audited read.
      this.panels.invalidate('cases');
      if (this.selected && !this.list?.cases?.some((c) => c.case === this.selected)) this.panels.invalidate('detail');
    } else if (ev === 'hall') {
      // Central: a hall's row changed (new events from it): the list is re-read; the detail only if its row changed.
      this.panels.invalidate('cases');
    }
  }

  renderShell() {
    const q = this.query;
    const stateOpts = CASE_STATES.map((s) => `<option value="${s}" ${q.state === s ? 'selected' : ''}>${esc(tState(s, 'cs_'))}</option>`).join('');
    const filters = this.hallMode
      ? `<select id="cases-role" data-testid="cases-role"><option value="">${esc(t('all_roles'))}</option>
          <option value="origin" ${q.role === 'origin' ? 'selected' : ''}>${esc(t('role_origin'))}</option>
          <option value="handler" ${q.role === 'handler' ? 'selected' : ''}>${esc(t('role_handler'))}</option></select>`
      : `<input id="cases-hall" data-testid="cases-hall" list="cases-hall-list" placeholder="${esc(t('all_halls'))}" value="${esc(q.hall)}">
          <datalist id="cases-hall-list"></datalist>
          <label><input type="checkbox" id="cases-late" data-testid="cases-late" ${q.late ? 'checked' : ''}> ${esc(t('late_only'))}</label>`;
    this.root.innerHTML = `
      <section class="panel cases" data-testid="cases-panel"><h2>${esc(t('cases'))} <span class="badge" data-testid="cases-total" id="cases-total"></span>
        <span class="tools">${filters}
          <select id="cases-state" data-testid="cases-state"><option value="">${esc(t('all_states'))}</option>${stateOpts}</select></span></h2>
        <div id="cases-list" data-testid="cases-list"></div></section>
      <aside class="drawer case-drawer" id="case-drawer" data-testid="case-detail" hidden></aside>`;
    const reload = () => { this.panels.p.get('cases').last = 0; this.panels.invalidate('cases'); };
    $('cases-state').addEventListener('change', (ev) => { q.state = ev.target.value; this.list = null; reload(); });
    if (this.hallMode) {
      $('cases-role').addEventListener('change', (ev) => { q.role = ev.target.value; this.list = null; reload(); });
    } else {
      let timer = null;
      $('cases-hall').addEventListener('input', (ev) => {
        clearTimeout(timer);
        timer = setTimeout(() => { q.hall = ev.target.value.trim(); this.list = null; reload(); }, 250);
      });
      $('cases-late').addEventListener('change', (ev) => { q.late = ev.target.checked; this.list = null; reload(); });
      this.renderHallOptions();
    }
    $('cases-list').addEventListener('click', (ev) => {
      if (ev.target.closest('button[data-op="more-cases"]')) { this.more(); return; }
      const row = ev.target.closest('tr[data-case]');
      if (row) this.open(row.dataset.case);
    });
    $('case-drawer').addEventListener('click', (ev) => this.onDetailClick(ev));
    this.renderList();
    if (this.selected) this.renderDetail();
  }
  renderHallOptions() {
    const dl = $('cases-hall-list');
    if (dl) dl.innerHTML = this.halls.map((h) => `<option value="${esc(h)}"></option>`).join('');
  }

  // ── list
  params(limit, offset = 0) {
    const q = this.query;
    const p = new URLSearchParams({ limit: String(limit) });
    if (offset) p.set('offset', String(offset));
    if (q.state) p.set('state', q.state);
    if (this.hallMode && q.role) p.set('role', q.role);
    if (!this.hallMode && q.hall) p.set('hall', q.hall);
    if (!this.hallMode && q.late) p.set('late', '1');
    return p;
  }
  async loadList() {
    // A re-read keeps the pages already shown (up to the API's 500 per request).
    const limit = Math.min(500, Math.max(CASE_PAGE, this.list?.cases?.length || 0));
    const params = this.params(limit);
    let data;
    try {
      data = await api(`/api/v1/cases?${params}`);
      this.listError = null;
    } catch (e) {
      if (e.status === 401) throw e;
      this.listError = e;
      this.renderList();
      return;
    }
    if (params.toString() !== this.params(limit).toString()) return; // the filters changed meanwhile
    this.list = { cases: data?.cases || [], total: data?.total ?? 0 };
    this.renderList();
    // The open case's row changed (central has no case events in its stream): re-read the detail once.
    const row = this.selected && this.list.cases.find((c) => c.case === this.selected);
    // (Not while a read of it is under way, nor while an action on it is: its answer brings the change.)
    if (row && this.detail && !this.busy && !this.panels.p.get('detail')?.running && caseKey(row) !== caseKey(this.detail)) {
      this.panels.invalidate('detail');
    }
  }
  async more() {
    if (!this.list) return;
    const offset = this.list.cases.length;
    try {
      const data = await api(`/api/v1/cases?${this.params(CASE_PAGE, offset)}`);
      const seen = new Set(this.list.cases.map((c) => c.case));
      this.list = { cases: [...this.list.cases, ...(data?.cases || []).filter((c) => !seen.has(c.case))], total: data?.total ?? this.list.total };
      this.renderList();
    } catch (e) { if (e.status !== 401) toast(`${t('error')}: ${e.message}`, true); }
  }
  renderList() {
    const el = $('cases-list');
    if (!el) return;
    if (this.listError) { el.innerHTML = `<div class="error" data-testid="cases-error">${esc(this.listError.message)}</div>`; return; }
    if (!this.list) return;
    const list = this.list.cases;
    $('cases-total').textContent = num(this.list.total);
    if (!list.length) { el.innerHTML = `<div class="na" data-testid="cases-empty">${esc(t('no_cases'))}</div>`; return; }
    el.innerHTML = `<table class="cases-table"><thead><tr><th>${esc(t('case_id'))}</th><th>${esc(t('service'))}</th><th>${esc(t('origin_handler'))}</th>
        <th>${esc(t('state'))}</th><th class="num">${esc(t('attempt'))}</th><th>${esc(t('applicant'))}</th><th>${esc(t('due'))}</th></tr></thead>
      <tbody data-testid="cases-body">${list.map((c) => {
        const id = tid(c.case);
        return `<tr data-case="${esc(c.case)}" data-testid="case-row-${id}" data-state="${esc(c.state)}" class="clickable${c.late ? ' late' : ''}${this.selected === c.case ? ' selected' : ''}">
          <td class="mono">${esc(c.case)}</td><td>${esc(c.service_name || '')} <span class="muted">${esc(c.service)}</span></td>
          <td title="${esc(c.origin_name || '')}">${esc(c.origin)} → ${esc(c.handler)}</td>
          <td data-testid="case-state-${id}" data-state="${esc(c.state)}"><span class="badge ${caseStateBadge[c.state] || ''}">${esc(tState(c.state, 'cs_'))}</span></td>
          <td class="num">${num(c.attempt)}</td><td>${esc(c.applicant?.name || '')}</td>
          <td>${fmtTime(caseDue(c))}${c.late ? ` <span class="badge red" data-testid="case-late-${id}">${esc(t('late'))}</span>` : ''}</td></tr>`;
      }).join('')}</tbody></table>
      <div class="pager"><span class="muted" data-testid="cases-shown">${esc(t('loaded_of'))} ${num(list.length)} / ${num(this.list.total)}</span>
      ${list.length < this.list.total ? `<button data-op="more-cases" data-testid="cases-more">${esc(t('more'))}</button>` : ''}</div>`;
  }

  // ── detail
  open(id) {
    this.selected = id;
    this.detail = null;
    this.detailError = null;
    this.root.querySelectorAll('tr[data-case].selected').forEach((r) => r.classList.remove('selected'));
    this.root.querySelector(`tr[data-testid="case-row-${tid(id)}"]`)?.classList.add('selected');
    this.renderDetail();
    this.panels.p.get('detail').last = 0;
    this.panels.invalidate('detail');
  }
  close() {
    this.selected = null;
    this.detail = null;
    const d = $('case-drawer');
    d.hidden = true; d.innerHTML = '';
    this.root.querySelectorAll('tr[data-case].selected').forEach((r) => r.classList.remove('selected'));
  }
  async loadDetail() {
    const id = this.selected;
    if (!id) return;
    let data;
    try {
      data = await api(`/api/v1/cases/${enc(id)}`);
    } catch (e) {
      if (e.status === 401) throw e;
      if (this.selected !== id) return;
      this.detailError = e;
      this.renderDetail();
      return;
    }
    if (this.selected !== id) return;
    this.detail = data;
    this.detailError = null;
    this.renderDetail();
  }
  materialRows(list, withAttempt = true) {
    return list.map((m) => {
      const sha = tid(m.sha256);
      const here = m.present !== false;
      return `<tr data-testid="case-material-${sha}" data-present="${here}"><td>${esc(m.name)}</td><td>${esc(m.type || '')}</td>
        <td class="num">${fmtSize(m.size)}</td>${withAttempt ? `<td class="num">${num(m.attempt)}</td>` : ''}
        <td>${here ? `<span class="badge green">${esc(t('present'))}</span>` : `<span class="badge amber" data-testid="case-material-transit-${sha}">${esc(t('in_transit'))}</span>`}</td>
        <td><button data-op="download" data-sha="${esc(m.sha256)}" data-name="${esc(m.name || '')}" data-testid="case-download-${sha}" ${here ? '' : 'disabled'}>${esc(t('download'))}</button></td></tr>`;
    }).join('');
  }
  actionsHtml(d) {
    if (!this.hallMode || d.role !== 'handler') return '';
    const decide = d.state === 'received';
    if (!decide && d.state !== 'accepted') return '';
    const buttons = decide
      ? ['accept', 'more_needed', 'reject'].map((x) => `<button data-op="review" data-decision="${x}" data-testid="case-action-${x}" class="${x === 'accept' ? 'primary' : ''}">${esc(t(x))}</button>`).join('')
      : `<button data-op="complete" data-testid="case-action-complete" class="primary">${esc(t('complete'))}</button>`;
    return `<section class="panel wide case-actions" data-testid="case-actions"><h2>${esc(t(decide ? 'review' : 'complete'))}</h2>
      <textarea id="case-note" data-testid="case-action-note" rows="2" placeholder="${esc(t(decide ? 'note' : 'complete_note'))}"></textarea>
      <div class="actions">${buttons}</div><div class="error" id="case-action-error" data-testid="case-action-error"></div></section>`;
  }
  renderDetail() {
    const el = $('case-drawer');
    if (!el || !this.selected) return;
    const keepNote = $('case-note')?.value || '';
    el.hidden = false;
    const d = this.detail;
    const head = `<div class="head"><h2 class="mono" data-testid="case-detail-id">${esc(this.selected)}</h2>
      ${d ? `<span class="badge ${caseStateBadge[d.state] || ''}" data-testid="case-detail-state" data-state="${esc(d.state)}">${esc(tState(d.state, 'cs_'))}</span>` : ''}
      ${d?.late ? `<span class="badge red" data-testid="case-detail-late">${esc(t('late'))}</span>` : ''}
      <span class="spacer"></span><button data-op="refresh-case" data-testid="case-refresh">${esc(t('refresh'))}</button>
      <button data-op="close-case" data-testid="case-close">${esc(t('close'))}</button></div>`;
    if (!d) {
      el.innerHTML = head + (this.detailError ? `<div class="panel error" data-testid="case-detail-error">${esc(this.detailError.message)}</div>` : '');
      return;
    }
    const field = (label, value, id = '') => `<div><span>${esc(label)}</span><b ${id ? `data-testid="${id}"` : ''}>${value}</b></div>`;
    const due = caseDue(d);
    const contact = d.contact || {};
    const timeline = d.timeline || [];
    const materials = d.materials || [];
    el.innerHTML = `${head}
      <div class="fields" data-testid="case-fields">
        ${field(t('service'), `${esc(d.service_name || '')} <span class="muted">${esc(d.service)}</span>`)}
        ${field(t('origin'), `${esc(d.origin_name || d.origin)} <span class="muted">${esc(d.origin)}</span>`)}
        ${field(t('handler'), esc(d.handler))}
        ${d.role ? field(t('role'), esc(t(`role_${d.role}`))) : ''}
        ${field(t('attempt'), num(d.attempt))}
        ${field(t('applicant'), `${esc(d.applicant?.name || '')} <span class="muted">${esc(d.applicant?.id || '')}</span>`, 'case-applicant')}
        ${field(t('submitted_at'), fmtStamp(d.submitted_ts))}
        ${field(t('updated_at'), fmtStamp(d.updated_ts))}
        ${field(t('due'), `${due ? fmtStamp(due) : '—'}${d.late ? ` <span class="badge red">${esc(t('late'))}</span>` : ''}`, 'case-due')}
        ${d.complete_days ? field(t('complete_days'), `${num(d.complete_days)} ${esc(t('days'))}`) : ''}
        ${field(t('contact'), `${esc(contact.name || '—')}${contact.phone ? ` · ${esc(contact.phone)}` : ''}`, 'case-contact')}
      </div>
      ${d.note ? `<div class="panel case-note" data-testid="case-note"><span class="muted">${esc(t('note'))}</span> ${esc(d.note)}</div>` : ''}
      <div class="grid2">
        ${this.actionsHtml(d)}
        <section class="panel wide"><h2>${esc(t('timeline'))}</h2><table class="wrap" data-testid="case-timeline"><thead><tr><th>${esc(t('time'))}</th><th>${esc(t('step'))}</th>
          <th>${esc(t('hall'))}</th><th>${esc(t('by'))}</th><th>${esc(t('note'))}</th><th class="num">${esc(t('attempt'))}</th></tr></thead><tbody>
          ${timeline.map((s) => `<tr data-step="${esc(s.step)}"><td>${fmtStamp(s.ts)}</td><td>${esc(tState(s.step, 'cs_'))}</td><td>${esc(s.hall)}</td>
            <td>${esc(s.by || '')}</td><td class="msg">${esc(s.note || '')}</td><td class="num">${num(s.attempt)}</td></tr>`).join('')}</tbody></table></section>
        <section class="panel wide"><h2>${esc(t('materials'))} <span class="badge">${materials.length}</span></h2>
          ${materials.length ? `<table data-testid="case-materials"><thead><tr><th>${esc(t('file_name'))}</th><th>${esc(t('type'))}</th><th class="num">${esc(t('size'))}</th>
            <th class="num">${esc(t('attempt'))}</th><th></th><th></th></tr></thead><tbody>${this.materialRows(materials)}</tbody></table>` : `<div class="na">${esc(t('none'))}</div>`}</section>
        <section class="panel wide" data-testid="case-result"><h2>${esc(t('result'))}</h2>
          ${d.result ? `<table><tbody>${this.materialRows([d.result], false)}</tbody></table>` : `<div class="na">${esc(t('none'))}</div>`}</section>
        ${Array.isArray(d.access) ? `<section class="panel wide"><h2>${esc(t('access'))} <span class="badge">${d.access.length}</span></h2>
          <div class="scroll"><table class="wrap" data-testid="case-access"><thead><tr><th>${esc(t('time'))}</th><th>${esc(t('hall'))}</th><th>${esc(t('by'))}</th><th>${esc(t('what'))}</th></tr></thead><tbody>
          ${d.access.map((a) => `<tr><td>${fmtStamp(a.ts)}</td><td>${esc(a.hall || '')}</td><td>${esc(a.by || '')}</td>
            <td>${esc(tState(a.what, 'what_'))}${a.sha256 ? ` <span class="muted mono" title="${esc(a.sha256)}">${esc(String(a.sha256).slice(0, 12))}…</span>` : ''}</td></tr>`).join('')}</tbody></table></div></section>` : ''}
      </div>`;
    if (keepNote && $('case-note')) $('case-note').value = keepNote;
  }
  async onDetailClick(ev) {
    const b = ev.target.closest('button[data-op]');
    if (!b) return;
    const op = b.dataset.op;
    if (op === 'close-case') { this.close(); return; }
    if (op === 'refresh-case') { this.panels.p.get('detail').last = 0; this.panels.invalidate('detail'); this.panels.invalidate('cases'); return; }
    if (op === 'download') { this.download(b.dataset.sha, b.dataset.name, b); return; }
    if (op !== 'review' && op !== 'complete') return;
    const id = this.selected;
    const note = ($('case-note')?.value || '').trim();
    const err = $('case-action-error');
    err.textContent = '';
    const decision = b.dataset.decision;
    if (op === 'review' && decision !== 'accept' && !note) {
      err.textContent = t('note_required');
      $('case-note')?.focus();
      return;
    }
    if (this.busy) return;
    this.busy = true;
    this.root.querySelectorAll('.case-actions button').forEach((x) => { x.disabled = true; });
    try {
      // The answer is the case as it now is: shown as it is, without another (audited) read.
      const changed = op === 'review'
        ? await api(`/api/v1/cases/${enc(id)}/review`, { method: 'POST', body: { decision, note } })
        : await api(`/api/v1/cases/${enc(id)}/complete`, { method: 'POST', body: note ? { note } : {} });
      toast(t('done'));
      if ($('case-note')) $('case-note').value = '';
      if (this.selected === id && changed?.case === id) {
        this.detail = changed;
        this.detailError = null;
        this.renderDetail();
      } else {
        this.panels.invalidate('detail');
      }
      this.panels.invalidate('cases');
    } catch (e) {
      this.root.querySelectorAll('.case-actions button').forEach((x) => { x.disabled = false; });
      this.panels.invalidate('cases'); // a change by someone else, skipped while the action ran, is read now
      if (e.status !== 401) { if ($('case-action-error')) $('case-action-error').textContent = e.message; toast(`${t('error')}: ${e.message}`, true); }
    } finally {
      this.busy = false;
    }
  }
  /** The API needs the Authorization header: fetch the file, then save it through a blob URL. */
  async download(sha, name, button) {
    const id = this.selected;
    button.disabled = true;
    try {
      const blob = await apiBlob(`/api/v1/cases/${enc(id)}/materials/${enc(sha)}`);
      const url = URL.createObjectURL(blob);
      const a = document.createElement('a');
      a.href = url;
      a.download = name || sha;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 30000);
    } catch (e) {
      if (e.status !== 401) toast(`${t('error')}: ${e.code === 'not_here_yet' ? `${t('in_transit')} · ` : ''}${e.message}`, true);
    } finally {
      button.disabled = false;
    }
  }
}

// ───────────────────────────── bookings view (city mode) ─────────────────────────────
// Appointments (青易约, protocol/BOOKINGS.md): a heat map of one day's slots, rows hall · service,
// columns the slots' local start times, each cell booked/capacity coloured by how full it is.
// Re-read on the hall rows of central's stream (a hall's walk-up bookings arrive with its events),
// every 30 s (bookings through central's API announce nothing on the stream), and on demand.
const BOOKING_DAYS = 7; // today and the 6 days after
const BOOKING_POLL_MS = 30000;
const hm = (ms) => { const d = new Date(Number(ms)); return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`; };
/** The days the picker offers: today … today + 6 (local). */
function bookingDays() {
  const out = [];
  const d = new Date();
  d.setHours(12, 0, 0, 0);
  for (let i = 0; i < BOOKING_DAYS; i += 1) { out.push(localDay(d)); d.setDate(d.getDate() + 1); }
  return out;
}
/** Fill ratio 0..1 → a colour from green (free) through amber to red (full); grey when there is no capacity. */
function heatColour(ratio) {
  if (ratio == null || !Number.isFinite(ratio)) return 'var(--panel2)';
  const r = Math.max(0, Math.min(1, ratio));
  const hue = Math.round(140 - 140 * r); // 140 green → 0 red
  return `hsl(${hue} 62% ${r === 0 ? 22 : 34}%)`;
}

class BookingsView {
  constructor(root) {
    this.root = root;
    this.days = bookingDays();
    this.day = this.days[0];
    this.data = null; // the heat map of this.day as read
    this.error = null;
    this.poll = null;
    this.panels = new Panels();
    this.panels.add('heatmap', () => this.load(), 5000);
    this.stream = new EventStream('/api/v1/stream', {
      onEvent: (ev) => { if (ev === 'hall' || ev === 'halls') this.panels.invalidate('heatmap'); },
      onState: setLive,
      onOpen: (again) => { if (again) this.panels.invalidate('heatmap'); },
    });
  }
  async start() {
    $('title').textContent = t('title_city');
    this.renderShell();
    await this.load();
    this.panels.p.get('heatmap').last = Date.now();
    this.poll = setInterval(() => this.panels.invalidate('heatmap'), BOOKING_POLL_MS);
    this.stream.start();
  }
  stop() { clearInterval(this.poll); this.stream.stop(); this.panels.clear(); }

  renderShell() {
    const dayLabel = (d, i) => `${d}${i === 0 ? ` (${t('today')})` : i === 1 ? ` (${t('tomorrow')})` : ''}`;
    this.root.innerHTML = `
      <section class="panel bookings" data-testid="bookings-panel">
        <h2>${esc(t('bookings_heatmap'))}
          <span class="tools"><label>${esc(t('day'))}
            <select id="bookings-day" data-testid="bookings-day">${this.days.map((d, i) => `<option value="${d}" ${d === this.day ? 'selected' : ''}>${esc(dayLabel(d, i))}</option>`).join('')}</select></label>
            <button type="button" id="bookings-refresh" data-testid="bookings-refresh">${esc(t('refresh'))}</button></span></h2>
        <div id="bookings-heatmap" data-testid="bookings-heatmap"></div>
      </section>`;
    $('bookings-day').addEventListener('change', (ev) => {
      this.day = ev.target.value;
      this.data = null;
      this.error = null;
      this.renderHeatmap();
      this.reloadNow();
    });
    $('bookings-refresh').addEventListener('click', () => this.reloadNow());
    this.renderHeatmap();
  }

  /** Re-reads now (or right after a read in flight), not after the panel's gap. */
  reloadNow() {
    const s = this.panels.p.get('heatmap');
    if (!s) return;
    clearTimeout(s.timer);
    s.timer = null;
    s.last = 0;
    this.panels.invalidate('heatmap');
  }

  async load() {
    const day = this.day;
    try {
      const data = await api(`/api/v1/booking/heatmap?day=${enc(day)}`);
      if (day !== this.day) return; // the picker moved on meanwhile
      this.data = data; this.error = null;
    } catch (e) {
      if (day !== this.day) return;
      if (e.status === 401) return;
      this.data = null; this.error = e;
    }
    this.renderHeatmap();
  }

  renderHeatmap() {
    const el = $('bookings-heatmap');
    if (!el) return;
    if (this.error) {
      el.innerHTML = this.error.status === 404
        ? `<div class="na" data-testid="bookings-disabled">${esc(t('bookings_disabled'))}</div>`
        : `<div class="error" data-testid="bookings-error">${esc(this.error.message)}</div>`;
      return;
    }
    if (!this.data) { el.innerHTML = `<div class="na">…</div>`; return; }
    el.dataset.day = this.data.day || this.day;
    const rows = (this.data.rows || []).filter((r) => r && Array.isArray(r.slots));
    // Columns: every slot start (local HH:MM) of any row, in time order.
    const cols = new Map();
    for (const r of rows) for (const s of r.slots) { const k = hm(s.start); if (!cols.has(k)) cols.set(k, Number(s.start)); }
    const keys = [...cols.keys()].sort((a, b) => cols.get(a) - cols.get(b) || a.localeCompare(b));
    if (!rows.length || !keys.length) {
      el.innerHTML = `<div class="na" data-testid="bookings-empty">${esc(t(rows.length ? 'no_slots_day' : 'no_bookable'))}</div>`;
      return;
    }
    const now = Date.now();
    const body = rows.map((r) => {
      const byKey = new Map(r.slots.map((s) => [hm(s.start), s]));
      const id = `${tid(r.hall)}-${tid(r.service)}`;
      let booked = 0; let capacity = 0;
      const cells = keys.map((k) => {
        const s = byKey.get(k);
        if (!s) return '<td class="heat none"></td>';
        const b = Number(s.booked) || 0; const c = Number(s.capacity) || 0;
        booked += b; capacity += c;
        const ratio = c > 0 ? b / c : null;
        const tip = `${r.hall} · ${r.service} ${k}: ${b}/${c}${ratio == null ? '' : ` (${Math.round(ratio * 100)}%)`}`;
        return `<td class="heat${Number(s.start) <= now ? ' past' : ''}" style="background:${heatColour(ratio)}" title="${esc(tip)}"
          data-testid="booking-cell-${id}-${k.replace(':', '')}" data-booked="${b}" data-capacity="${c}" data-start="${esc(s.start)}">${b}/${c}</td>`;
      }).join('');
      return `<tr data-testid="booking-row-${id}"><th class="heat-row">${esc(r.hall)} · ${esc(r.service)}</th>${cells}
        <td class="num" data-testid="booking-total-${id}">${booked}/${capacity}</td></tr>`;
    }).join('');
    el.innerHTML = `<div class="heat-scroll"><table class="heatmap" data-testid="bookings-table">
      <thead><tr><th>${esc(t('hall'))} · ${esc(t('service'))}</th>${keys.map((k) => `<th class="heat-col">${k}</th>`).join('')}<th class="num">${esc(t('total'))}</th></tr></thead>
      <tbody>${body}</tbody></table></div>
      <div class="heat-legend muted">${esc(t('heat_legend'))}
        ${[0, 0.25, 0.5, 0.75, 1].map((r) => `<i style="background:${heatColour(r)}"></i>${Math.round(r * 100)}%`).join(' ')}</div>`;
  }
}

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
  wireLogin();
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
