// Formatting of values for display (durations, times, sizes, percentages) and HTML escaping.
import { t } from '../i18n.js';

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = (v) => (v == null ? '' : String(v).replace(/[&<>"']/g, (c) => ESC[c]));
export const num = (v) => (v == null || Number.isNaN(Number(v)) ? '—' : Number(v).toLocaleString());

/** Seconds → "42秒", "12分", "1:05" (h:mm). */
export function fmtDur(sec) {
  if (sec == null || Number.isNaN(Number(sec))) return '—';
  const s = Math.max(0, Math.round(Number(sec)));
  if (s < 60) return `${s}${t('s')}`;
  if (s < 3600) return `${Math.floor(s / 60)}${t('min')}`;
  const h = Math.floor(s / 3600);
  return `${h}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}`;
}
/** Epoch ms → "HH:MM" (today) or "MM-DD HH:MM". */
export function fmtTime(ms) {
  if (!ms) return '—';
  const d = new Date(Number(ms));
  const hm = `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
  const today = new Date();
  if (d.toDateString() === today.toDateString()) return hm;
  return `${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')} ${hm}`;
}
export const fmtPct = (v) => (v == null ? '—' : `${Math.round(Number(v))}%`);
export const fmtRate = (v) => (v == null ? '—' : `${(Number(v) * 100).toFixed(1)}%`);
export function localDay(d = new Date()) {
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}
/** Test ids must be stable and selector-safe. */
export const tid = (s) => String(s).replace(/[^A-Za-z0-9_.:-]/g, '_');
/** Bytes → "512 B", "47.1 KB", "3.2 MB". */
export function fmtSize(n) {
  if (n == null || Number.isNaN(Number(n))) return '—';
  const b = Number(n);
  if (b < 1024) return `${b} B`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(1)} KB`;
  return `${(b / 1024 / 1024).toFixed(1)} MB`;
}
/** Epoch ms → "YYYY-MM-DD HH:MM:SS". */
export function fmtStamp(ms) {
  if (!ms) return '—';
  const d = new Date(Number(ms));
  const p = (v) => String(v).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
