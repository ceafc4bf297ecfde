// The alerts table, shared by the city's hall drawer and the hall console.
import { t, tState } from '../i18n.js';
import { esc, fmtTime, tid } from '../lib/format.js';

/** Alerts with a comment box and Acknowledge (and, on the edge, Resolve) buttons; id is `alert` (central) or `id` (edge). */
export function alertsTable(alerts, withResolve) {
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
