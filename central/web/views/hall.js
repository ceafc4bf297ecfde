// Hall mode (yiban-edge's console): this hall's queues, counters, tickets, alerts, devices, stats.
import { t, tState } from '../i18n.js';
import { api, enc } from '../lib/api.js';
import { chart, disposeChartsIn, grid, lineOption } from '../lib/charts.js';
import { $, toast } from '../lib/dom.js';
import { esc, fmtDur, fmtPct, fmtRate, fmtTime, num, tid } from '../lib/format.js';
import { Panels } from '../lib/panels.js';
import { EventStream, setLive } from '../lib/stream.js';
import { alertsTable } from './alerts.js';

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

export class HallView {
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
