// The city KPI panel's table and charts (city view).
import { t } from '../i18n.js';
import { chart, grid, naHtml } from '../lib/charts.js';
import { $ } from '../lib/dom.js';
import { esc, fmtDur, fmtRate, num } from '../lib/format.js';

/** Renders the KPI rows (/api/v1/kpi) and charts (/api/v1/kpi/charts); halls names the halls on the axis. */
export function renderKpi(kpi, kpiCharts, halls) {
  const k = kpi;
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

  const c = kpiCharts;
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
    chart(sat, bar(sp.map((s) => halls.get(s.hall)?.name || s.name || s.hall), sp.map((s) => (s.satisfaction == null ? null : Math.round(s.satisfaction * 1000) / 10)),
      `${t('satisfaction')} %`, { max: 100 }));
  } else sat.innerHTML = naHtml('satisfaction');
}
