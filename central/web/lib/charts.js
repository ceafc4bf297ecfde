// Charts (ECharts, loaded after the first paint; charts drawn before it arrives are queued).
import { t } from '../i18n.js';
import { $ } from './dom.js';
import { esc, fmtTime } from './format.js';

const charts = new Set();
const pendingCharts = new Map();

/** Draw or update an ECharts chart in el (kept across updates). */
export function chart(el, option) {
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
export function loadECharts() {
  if (window.echarts || $('echarts-js')) return;
  const el = document.createElement('script');
  el.id = 'echarts-js';
  el.async = true;
  el.src = document.documentElement.dataset.echarts || 'node_modules/echarts/dist/echarts.min.js';
  el.addEventListener('load', flushPendingCharts);
  document.head.appendChild(el);
}
export function disposeChartsIn(root) {
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
export const grid = { left: 44, right: 16, top: 30, bottom: 28 };
const hhmm = (ms) => fmtTime(ms);
export function lineOption(points, series) {
  return {
    tooltip: { trigger: 'axis' },
    legend: { top: 0, textStyle: { fontSize: 11 } },
    grid,
    xAxis: { type: 'category', data: points.map((p) => hhmm(p.ts)), boundaryGap: false },
    yAxis: { type: 'value', minInterval: 1 },
    series: series.map(([key, name]) => ({ name, type: 'line', showSymbol: false, data: points.map((p) => p[key] ?? null) })),
  };
}
export function naHtml(id) { return `<div class="na" data-testid="${id}-na">${esc(t('not_available'))}</div>`; }
