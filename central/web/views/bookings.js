// The bookings tab (city mode): one day's appointment slots as a heat map.
import { t } from '../i18n.js';
import { api, enc } from '../lib/api.js';
import { $ } from '../lib/dom.js';
import { esc, localDay, tid } from '../lib/format.js';
import { Panels } from '../lib/panels.js';
import { EventStream, setLive } from '../lib/stream.js';

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

export class BookingsView {
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
