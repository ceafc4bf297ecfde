// A case's detail (the cases tab's drawer), rendered from GET /api/v1/cases/{id}.
import { t, tState } from '../i18n.js';
import { esc, fmtSize, fmtStamp, num, tid } from '../lib/format.js';

export const caseStateBadge = { received: 'amber', more_needed: 'amber', accepted: 'green', completed: 'green', rejected: 'red' };
/** The due time that applies in a state: pre-review while submitted/received, completion once accepted. */
export function caseDue(c) {
  if (c.state === 'submitted' || c.state === 'received') return c.prereview_due;
  if (c.state === 'accepted') return c.complete_due;
  return null;
}
function materialRows(list, withAttempt = true) {
  return list.map((m) => {
    const sha = tid(m.sha256);
    const here = m.present !== false;
    return `<tr data-testid="case-material-${sha}" data-present="${here}"><td>${esc(m.name)}</td><td>${esc(m.type || '')}</td>
      <td class="num">${fmtSize(m.size)}</td>${withAttempt ? `<td class="num">${num(m.attempt)}</td>` : ''}
      <td>${here ? `<span class="badge green">${esc(t('present'))}</span>` : `<span class="badge amber" data-testid="case-material-transit-${sha}">${esc(t('in_transit'))}</span>`}</td>
      <td><button data-op="download" data-sha="${esc(m.sha256)}" data-name="${esc(m.name || '')}" data-testid="case-download-${sha}" ${here ? '' : 'disabled'}>${esc(t('download'))}</button></td></tr>`;
  }).join('');
}
function actionsHtml(d, hallMode) {
  if (!hallMode || d.role !== 'handler') return '';
  const decide = d.state === 'received';
  if (!decide && d.state !== 'accepted') return '';
  const buttons = decide
    ? ['accept', 'more_needed', 'reject'].map((x) => `<button data-op="review" data-decision="${x}" data-testid="case-action-${x}" class="${x === 'accept' ? 'primary' : ''}">${esc(t(x))}</button>`).join('')
    : `<button data-op="complete" data-testid="case-action-complete" class="primary">${esc(t('complete'))}</button>`;
  return `<section class="panel wide case-actions" data-testid="case-actions"><h2>${esc(t(decide ? 'review' : 'complete'))}</h2>
    <textarea id="case-note" data-testid="case-action-note" rows="2" placeholder="${esc(t(decide ? 'note' : 'complete_note'))}"></textarea>
    <div class="actions">${buttons}</div><div class="error" id="case-action-error" data-testid="case-action-error"></div></section>`;
}

/** The open case's drawer: its head (id, state, refresh, close), and once read its fields, actions
 * (the handling hall's console only), timeline, materials, result and access log; error: the failed read. */
export function caseDetailHtml(caseId, d, error, hallMode) {
  const head = `<div class="head"><h2 class="mono" data-testid="case-detail-id">${esc(caseId)}</h2>
    ${d ? `<span class="badge ${caseStateBadge[d.state] || ''}" data-testid="case-detail-state" data-state="${esc(d.state)}">${esc(tState(d.state, 'cs_'))}</span>` : ''}
    ${d?.late ? `<span class="badge red" data-testid="case-detail-late">${esc(t('late'))}</span>` : ''}
    <span class="spacer"></span><button data-op="refresh-case" data-testid="case-refresh">${esc(t('refresh'))}</button>
    <button data-op="close-case" data-testid="case-close">${esc(t('close'))}</button></div>`;
  if (!d) return head + (error ? `<div class="panel error" data-testid="case-detail-error">${esc(error.message)}</div>` : '');
  const field = (label, value, id = '') => `<div><span>${esc(label)}</span><b ${id ? `data-testid="${id}"` : ''}>${value}</b></div>`;
  const due = caseDue(d);
  const contact = d.contact || {};
  const timeline = d.timeline || [];
  const materials = d.materials || [];
  return `${head}
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
      ${actionsHtml(d, hallMode)}
      <section class="panel wide"><h2>${esc(t('timeline'))}</h2><table class="wrap" data-testid="case-timeline"><thead><tr><th>${esc(t('time'))}</th><th>${esc(t('step'))}</th>
        <th>${esc(t('hall'))}</th><th>${esc(t('by'))}</th><th>${esc(t('note'))}</th><th class="num">${esc(t('attempt'))}</th></tr></thead><tbody>
        ${timeline.map((s) => `<tr data-step="${esc(s.step)}"><td>${fmtStamp(s.ts)}</td><td>${esc(tState(s.step, 'cs_'))}</td><td>${esc(s.hall)}</td>
          <td>${esc(s.by || '')}</td><td class="msg">${esc(s.note || '')}</td><td class="num">${num(s.attempt)}</td></tr>`).join('')}</tbody></table></section>
      <section class="panel wide"><h2>${esc(t('materials'))} <span class="badge">${materials.length}</span></h2>
        ${materials.length ? `<table data-testid="case-materials"><thead><tr><th>${esc(t('file_name'))}</th><th>${esc(t('type'))}</th><th class="num">${esc(t('size'))}</th>
          <th class="num">${esc(t('attempt'))}</th><th></th><th></th></tr></thead><tbody>${materialRows(materials)}</tbody></table>` : `<div class="na">${esc(t('none'))}</div>`}</section>
      <section class="panel wide" data-testid="case-result"><h2>${esc(t('result'))}</h2>
        ${d.result ? `<table><tbody>${materialRows([d.result], false)}</tbody></table>` : `<div class="na">${esc(t('none'))}</div>`}</section>
      ${Array.isArray(d.access) ? `<section class="panel wide"><h2>${esc(t('access'))} <span class="badge">${d.access.length}</span></h2>
        <div class="scroll"><table class="wrap" data-testid="case-access"><thead><tr><th>${esc(t('time'))}</th><th>${esc(t('hall'))}</th><th>${esc(t('by'))}</th><th>${esc(t('what'))}</th></tr></thead><tbody>
        ${d.access.map((a) => `<tr><td>${fmtStamp(a.ts)}</td><td>${esc(a.hall || '')}</td><td>${esc(a.by || '')}</td>
          <td>${esc(tState(a.what, 'what_'))}${a.sha256 ? ` <span class="muted mono" title="${esc(a.sha256)}">${esc(String(a.sha256).slice(0, 12))}…</span>` : ''}</td></tr>`).join('')}</tbody></table></div></section>` : ''}
    </div>`;
}
