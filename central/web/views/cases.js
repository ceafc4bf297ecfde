// The cases tab (both modes): the list of cases with its filters, and the open case's drawer.
import { t, tState } from '../i18n.js';
import { api, apiBlob, enc } from '../lib/api.js';
import { $, toast } from '../lib/dom.js';
import { esc, fmtTime, num, tid } from '../lib/format.js';
import { Panels } from '../lib/panels.js';
import { EventStream, setLive } from '../lib/stream.js';
import { caseDetailHtml, caseDue, caseStateBadge } from './case-detail.js';

// Cross-region cases (跨域通办, protocol/CASES.md). Every detail read and every download is recorded
// as an audit event, so the detail is never polled: it is read when opened, after an action, on a
// live change: the list is re-read on the edge's "case.*" changes (not case.viewed, which a read itself
// causes) and on central's hall rows (its stream has no case events), and the open case is re-read when
// its row in that list has changed. A file arriving records no event: the drawer has a refresh button.
const CASE_STATES = ['submitted', 'received', 'more_needed', 'accepted', 'rejected', 'completed'];
const CASE_PAGE = 50;
const caseKey = (c) => (c ? `${c.state}|${c.attempt}|${c.updated_ts}|${c.late}` : '');

export class CasesView {
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
  renderDetail() {
    const el = $('case-drawer');
    if (!el || !this.selected) return;
    const keepNote = $('case-note')?.value || '';
    el.hidden = false;
    el.innerHTML = caseDetailHtml(this.selected, this.detail, this.detailError, this.hallMode);
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
