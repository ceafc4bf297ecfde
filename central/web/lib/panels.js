// The panel scheduler every view re-reads through.

/**
 * Each panel re-reads through here: at most one read per panel per `gap` ms (leading edge
 * plus one trailing read), never two reads of one panel at once.
 */
export class Panels {
  constructor() { this.p = new Map(); }
  add(name, load, gap = 200) { this.p.set(name, { load, gap, last: 0, timer: null, running: false, dirty: false }); }
  clear() { for (const s of this.p.values()) clearTimeout(s.timer); this.p.clear(); }
  invalidate(name) {
    const s = this.p.get(name);
    if (!s) return;
    if (s.running) { s.dirty = true; return; }
    if (s.timer) return;
    const wait = Math.max(0, s.last + s.gap - Date.now());
    if (wait === 0) this.run(name, s);
    else s.timer = setTimeout(() => this.run(name, s), wait);
  }
  all() { for (const name of this.p.keys()) this.invalidate(name); }
  async run(name, s) {
    s.timer = null;
    s.running = true;
    s.last = Date.now();
    try {
      await s.load();
    } catch (e) {
      if (e?.status !== 401) console.warn(`panel ${name}:`, e);
    } finally {
      s.running = false;
      if (s.dirty && this.p.get(name) === s) { s.dirty = false; this.invalidate(name); }
    }
  }
}
