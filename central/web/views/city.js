// City mode (yiban-central): every hall as a tile, the hall drawer (drill-down), city KPIs.
import { t, tState } from '../i18n.js';
import { api, enc } from '../lib/api.js';
import { chart, disposeChartsIn, lineOption, naHtml } from '../lib/charts.js';
import { $, toast } from '../lib/dom.js';
import { esc, fmtDur, fmtPct, fmtTime, localDay, num, tid } from '../lib/format.js';
import { Panels } from '../lib/panels.js';
import { EventStream, setLive } from '../lib/stream.js';
import { alertsTable } from './alerts.js';
import { renderKpi } from './city-kpi.js';

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

export class CityView {
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
  renderKpi() { renderKpi(this.kpi, this.kpiCharts, this.halls); }
}
