// The live stream (SSE over fetch) and the live indicator in the top bar.
import { t } from '../i18n.js';
import { getToken, showLogin } from './auth.js';
import { $ } from './dom.js';

/**
 * Server-Sent Events over fetch() (EventSource cannot send the Authorization header).
 * Reconnects with exponential back-off; a silent connection (no bytes for 40 s, the
 * servers send keepalives every 15 s) is dropped and reopened.
 */
export class EventStream {
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

export function setLive(state, detail = '') {
  const el = $('live');
  el.dataset.state = state;
  el.className = `live ${state === 'live' ? 'live-on' : state}`;
  $('live-text').textContent = t(state === 'live' ? 'live' : state);
  el.title = detail;
}
