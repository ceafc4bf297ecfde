// Browser tests of the yiban dashboard against REAL daemons: mosquitto, yiban-central, yiban-edge.
// Run: tests/browser/run   (or: node --test tests/browser/)
// Env: YIBAN_BUILD_DIR (default /work/main/build-dev next to this repo), YIBAN_ARTIFACTS_DIR (screenshots),
//      CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, copyFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, startProcess, stopProcess, sleep, until as untilDone, httpRequest, repo, buildDir, artifacts, webDir, centralBin, edgeBin, launchBrowser, tearDown } from './daemons.mjs';

const HALL = 'test-hall';
const ADMIN = 'admin-token-0123456789abcdef';
const MANAGER = 'manager-token-0123456789abcdef';
const EXTRA_HALLS = 199; // + test-hall = 200 tiles

// The hall of tests/support/test_support.cpp (kTestHallJson), with alerts that fire fast.
const hallConfig = {
  hall: HALL, name: '测试大厅', region: '370202', timezone: 'Asia/Shanghai', capacity: 50,
  priority_classes: ['elderly', 'disabled'], recall_limit: 2,
  services: [{ code: 'A', name: '社保医保', max_wait_min: 30 }, { code: 'B', name: '不动产登记', max_wait_min: 45 }, { code: 'C', name: '综合受理' }],
  counters: [{ id: '1', name: '1号窗口', services: ['A'], backup: ['C'] }, { id: '2', name: '2号窗口', services: ['B', 'C'] },
    { id: '3', name: '3号窗口', services: ['A', 'B'] }],
  devices: [{ id: 'kiosk-1', kind: 'kiosk' }, { id: 'kiosk-2', kind: 'kiosk' }, { id: 'counter-1', kind: 'counter', counter: '1' },
    { id: 'counter-2', kind: 'counter', counter: '2' }, { id: 'counter-3', kind: 'counter', counter: '3' },
    { id: 'rating-1', kind: 'rating', counter: '1' }, { id: 'display-1', kind: 'display' }],
  alerts: { hold_s: 1, long_queue: 1 },
};

const procs = [];
let tmp; let ports; let browser; let edgeHasWeb = false; let edgeHasHttp = false; let knownHalls = 1;
let consolePort; // where the hall console is loaded from: the edge itself (--web)

const start = (name, cmd, args) => startProcess(procs, tmp, name, cmd, args);
const stop = stopProcess;
const until = (what, fn, timeoutMs = 10000) => untilDone(what, fn, timeoutMs, 50);
const http = (port, p, opts = {}) => httpRequest(port, p, { token: ADMIN, ...opts });
/** Does the server route this path? (our APIs answer JSON errors; an unrouted path gets an empty 404) */
async function routed(port, p, opts) {
  const r = await http(port, p, opts);
  return !(r.status === 404 && (!r.json?.error || r.json.error.message === 'no such path'));
}
async function streamAvailable(port) {
  const ctrl = new AbortController();
  try {
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/stream`, { headers: { Authorization: `Bearer ${ADMIN}` }, signal: ctrl.signal });
    return res.ok && (res.headers.get('content-type') || '').includes('text/event-stream');
  } catch { return false; } finally { ctrl.abort(); }
}
function takeTicket(service = 'A') {
  return new Promise((resolve, reject) => {
    execFile('mosquitto_rr', ['-V', '5', '-h', '127.0.0.1', '-p', String(ports.mqtt), '-W', '5',
      '-t', `yiban/v1/${HALL}/devices/kiosk-1/req/ticket.take`, '-e', `yiban/v1/${HALL}/devices/kiosk-1/res`,
      '-m', JSON.stringify({ service })], (err, stdout) => {
      if (err) return reject(err);
      try { resolve(JSON.parse(stdout)); } catch { reject(new Error(`bad reply: ${stdout}`)); }
    });
  });
}
async function shot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, `dashboard-${name}.png`), fullPage: false });
}
const testid = (id) => `[data-testid="${id}"]`;
async function textOf(page, id) { return (await page.locator(testid(id)).textContent())?.trim(); }

before(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'yiban-browser-'));
  ports = { mqtt: await freePort(), sync: await freePort(), central: await freePort(), edge: await freePort() };
  const edgeHelp = execFileSync(edgeBin, ['--help'], { encoding: 'utf8' });
  edgeHasHttp = edgeHelp.includes('--http');
  edgeHasWeb = edgeHelp.includes('--web');

  writeFileSync(path.join(tmp, 'mosquitto.conf'), `listener ${ports.mqtt} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  start('mosquitto', 'mosquitto', ['-c', path.join(tmp, 'mosquitto.conf')]);

  const keys = path.join(tmp, 'keys'); const hallsDir = path.join(tmp, 'halls');
  mkdirSync(keys); mkdirSync(hallsDir);
  execFileSync(centralBin, ['keygen', '--out', keys, '--name', 'central']);
  execFileSync(centralBin, ['keygen', '--out', keys, '--name', HALL, '--hall', HALL]);
  copyFileSync(path.join(keys, `${HALL}.pub`), path.join(hallsDir, `${HALL}.pub`));
  writeFileSync(path.join(tmp, 'tokens.txt'), `${ADMIN} admin\n${MANAGER} hall-manager ${HALL}\n`);
  writeFileSync(path.join(tmp, 'hall.json'), JSON.stringify(hallConfig));

  start('central', centralBin, ['--db', path.join(tmp, 'central.db'), '--bind', `tcp://127.0.0.1:${ports.sync}`,
    '--cert', path.join(keys, 'central.key'), '--halls-dir', hallsDir, '--http', `127.0.0.1:${ports.central}`,
    '--tokens', path.join(tmp, 'tokens.txt'), '--web', webDir]);
  const edgeArgs = ['--hall-config', path.join(tmp, 'hall.json'), '--db', path.join(tmp, 'edge.db'),
    '--mqtt', `tcp://127.0.0.1:${ports.mqtt}`, '--central', `tcp://127.0.0.1:${ports.sync}`,
    '--central-cert', path.join(keys, 'central.pub'), '--hall-cert', path.join(keys, `${HALL}.key`)];
  if (edgeHasHttp) edgeArgs.push('--http', `127.0.0.1:${ports.edge}`, '--tokens', path.join(tmp, 'tokens.txt'));
  if (edgeHasWeb) edgeArgs.push('--web', webDir);
  await until('central /healthz', async () => (await fetch(`http://127.0.0.1:${ports.central}/healthz`)).ok);
  start('edge', edgeBin, edgeArgs);
  await until('test-hall connected at central', async () => {
    const r = await http(ports.central, '/api/v1/halls');
    return r.json?.halls?.some((h) => h.hall === HALL && h.connected);
  }, 15000);

  // 199 more halls, written straight into central's halls projection (a raw way to make central
  // know them without 199 edges): a mix of healthy, disconnected and integrity-broken rows.
  if (existsSync('/usr/bin/sqlite3')) {
    const now = Date.now();
    const rows = [];
    for (let i = 1; i <= EXTRA_HALLS; i++) {
      const id = `hall-${String(i).padStart(3, '0')}`;
      rows.push(`('${id}','第${i}政务大厅','3702${String(i % 100).padStart(2, '0')}',${i},${i + (i % 7 === 0 ? 150 : 0)},${now},${i % 13 === 0 ? 0 : 1},${i % 29 === 0 ? 0 : 1},${i % 50})`);
    }
    execFileSync('sqlite3', [path.join(tmp, 'central.db'),
      `PRAGMA busy_timeout=5000; INSERT INTO halls(hall,name,region,acked_seq,edge_last_seq,last_contact_ts,connected,integrity_ok,occupancy) VALUES ${rows.join(',')};`]);
    knownHalls = 1 + EXTRA_HALLS;
  }

  consolePort = ports.edge;
  // An edge build may take --http before its console API is built in: then the hall tests skip.
  if (edgeHasHttp) {
    edgeHasHttp = await until('edge console API', async () => (await fetch(`http://127.0.0.1:${ports.edge}/healthz`)).ok, 3000)
      .catch(() => false);
  }

  browser = await launchBrowser();
});

after(() => tearDown({ browser, procs, tmp }));

async function newPage(port, token = ADMIN, viewport = { width: 1920, height: 1080 }) {
  const ctx = await browser.newContext({ viewport });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.log(`# page error: ${e.message}`));
  const url = `http://127.0.0.1:${port}/${token ? `#token=${token}` : ''}`;
  return { ctx, page, url };
}

test('city: first paint of every hall, token taken from the fragment', async () => {
  // Three fresh pages (new browser contexts: nothing cached); the budget applies to the best.
  const budget = Number(process.env.YIBAN_FIRST_PAINT_MS || 1000);
  const runs = [];
  let ctx; let page;
  for (let i = 0; i < 3; i++) {
    if (ctx) await ctx.close();
    ({ ctx, page } = await newPage(ports.central));
    const t0 = Date.now();
    await page.goto(`http://127.0.0.1:${ports.central}/#token=${ADMIN}`, { waitUntil: 'commit' });
    await page.locator(testid(`hall-tile-${HALL}`)).waitFor();
    const wall = Date.now() - t0;
    const perf = await page.evaluate(() => ({
      tiles: performance.getEntriesByName('yiban-first-tiles')[0]?.startTime,
      fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime,
      res: performance.getEntriesByType('resource').map((e) => `${e.name.replace(/^.*\/(?=[^/]+$)/, '')} ${Math.round(e.startTime)}→${Math.round(e.responseStart)}→${Math.round(e.responseEnd)}`),
    }));
    runs.push(perf.tiles);
    console.log(`# first paint #${i + 1}: ${await page.locator('.tile').count()} hall tiles in the DOM ${Math.round(perf.tiles)} ms after navigation start `
      + `(first contentful paint ${Math.round(perf.fcp)} ms, goto→tile visible ${wall} ms); requests start→first byte→end: ${perf.res.join(', ')}`);
  }
  const tiles = await page.locator('.tile').count();
  assert.equal(tiles, knownHalls);
  assert.ok(Math.min(...runs) <= budget, `first paint ${runs.map(Math.round).join('/')} ms, budget ${budget} ms`);
  assert.ok(!page.url().includes('token'), 'token removed from the address bar');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('yiban.token')), ADMIN);
  // Health colours: test-hall is connected and healthy or amber; a disconnected one is red.
  assert.match(await page.locator(testid(`hall-tile-${HALL}`)).getAttribute('data-health'), /green|amber/);
  if (knownHalls > 1) assert.equal(await page.locator(testid('hall-tile-hall-013')).getAttribute('data-health'), 'red');
  await page.waitForFunction(() => document.querySelector('[data-testid="chart-satisfaction"] canvas, [data-testid="satisfaction-na"]'));
  await shot(page, 'city-wall-1920');
  await page.setViewportSize({ width: 1366, height: 768 });
  await shot(page, 'city-laptop-1366');
  await ctx.close();
});

test('city: a new ticket shows in the hall tile (live, SSE)', async (t) => {
  if (!(await streamAvailable(ports.central))) { t.skip('central has no /api/v1/stream yet'); return; }
  const { ctx, page, url } = await newPage(ports.central);
  await page.goto(url);
  await page.locator(testid('live-indicator') + '[data-state="live"]').waitFor({ timeout: 5000 });
  const before = Number(await textOf(page, `hall-waiting-${HALL}`));
  const t0 = Date.now();
  await takeTicket('A');
  const tTaken = Date.now();
  await page.waitForFunction(([id, n]) => Number(document.querySelector(`[data-testid="${id}"]`)?.textContent) > n,
    [`hall-waiting-${HALL}`, before], { timeout: 2000, polling: 'raf' });
  const t1 = Date.now();
  const tEvent = Number(await page.locator(testid('live-indicator')).getAttribute('data-last-event'));
  console.log(`# city change latency: ${t1 - t0} ms from the take to the tile (mosquitto_rr reply ${tTaken - t0} ms, SSE event in the page ${tEvent - t0} ms)`);
  assert.ok(t1 - t0 <= 2000);
  await ctx.close();
});

test('city: drill-down, charts and acknowledging an alert by clicking', async (t) => {
  const { ctx, page, url } = await newPage(ports.central);
  await page.goto(url);
  // Two waiting tickets with long_queue 1 and hold_s 1 raise a long_queue alert.
  await takeTicket('A'); await takeTicket('A');
  await until('alert at central', async () => (await http(ports.central, `/api/v1/alerts?hall=${HALL}`)).json?.alerts?.length > 0, 10000);
  await page.locator(testid(`hall-tile-${HALL}`)).click();
  await page.locator(testid('drawer-queues') + ' table').waitFor();
  const alert = (await http(ports.central, `/api/v1/alerts?hall=${HALL}`)).json.alerts[0];
  await until('alert row in the drill-down', async () => {
    if (await page.locator(testid(`alert-row-${alert.alert}`)).count()) return true;
    await page.locator(testid(`hall-tile-${HALL}`)).click(); // re-open re-reads (also without a stream)
    await sleep(300);
    return false;
  }, 10000);
  assert.ok(Number(await textOf(page, 'queue-waiting-A')) >= 2);
  await shot(page, 'city-drilldown');
  if (!(await routed(ports.central, `/api/v1/halls/${HALL}/alerts/no-such-alert/ack`, { method: 'POST', body: { comment: 'probe' } }))) {
    t.skip('central has no POST /api/v1/halls/{id}/alerts/{alert}/ack yet');
    await ctx.close();
    return;
  }
  await page.locator(testid(`alert-comment-${alert.alert}`)).fill('已处理 browser test');
  await page.locator(testid(`alert-ack-${alert.alert}`)).click();
  await until('alert acknowledged at central', async () => {
    const a = (await http(ports.central, `/api/v1/alerts?hall=${HALL}`)).json.alerts.find((x) => x.alert === alert.alert);
    return !a || a.state === 'acknowledged';
  }, 10000);
  await ctx.close();
});

test('language switch is remembered; 401 shows the login form with the server message', async () => {
  const { ctx, page, url } = await newPage(ports.central, 'wrong-token-0123456789');
  await page.goto(url);
  await page.locator(testid('login-dialog')).waitFor({ state: 'visible' });
  assert.match(await textOf(page, 'login-message'), /unknown token/);
  await page.locator(testid('login-token')).fill(ADMIN);
  await page.locator(testid('login-submit')).click();
  await page.locator(testid(`hall-tile-${HALL}`)).waitFor();
  const zh = await textOf(page, 'lang-switch');
  assert.equal(zh, 'English');
  await page.locator(testid('lang-switch')).click();
  assert.equal(await textOf(page, 'lang-switch'), '中文');
  await page.reload();
  await page.locator(testid(`hall-tile-${HALL}`)).waitFor();
  assert.equal(await textOf(page, 'lang-switch'), '中文', 'English remembered across a reload (token kept in sessionStorage)');
  assert.match(await textOf(page, 'city-summary'), /Halls/);
  assert.match(await page.locator(testid(`hall-tile-${HALL}`)).textContent(), /lag/);
  await shot(page, 'city-english');
  await ctx.close();
});

// ───────────── hall mode (the edge's console) ─────────────
async function hallPage(t) {
  if (!edgeHasHttp) { t.skip('yiban-edge serves no console API (--http) in this build yet'); return null; }
  const r = await http(ports.edge, '/api/v1/whoami');
  if (r.json?.mode !== 'hall') { t.skip(`edge /api/v1/whoami answers ${r.status}`); return null; }
  if (!edgeHasWeb) { t.skip('yiban-edge has no --web option in this build'); return null; }
  const p = await newPage(consolePort, MANAGER, { width: 1600, height: 1000 });
  await p.page.goto(p.url);
  await p.page.locator(testid(`hall-waiting-${HALL}`)).waitFor();
  return p;
}

test('hall: a new ticket shows in the header and the ticket list (live, SSE)', async (t) => {
  const p = await hallPage(t);
  if (!p) return;
  const { ctx, page } = p;
  await page.locator(testid('live-indicator') + '[data-state="live"]').waitFor({ timeout: 5000 });
  const before = Number(await textOf(page, `hall-waiting-${HALL}`));
  const t0 = Date.now();
  const reply = await takeTicket('A');
  const tReply = Date.now();
  const number = reply.ticket.number;
  await page.locator(testid(`ticket-row-${number}`)).waitFor({ timeout: 2000 });
  await page.waitForFunction(([id, n]) => Number(document.querySelector(`[data-testid="${id}"]`)?.textContent) > n,
    [`hall-waiting-${HALL}`, before], { timeout: 2000, polling: 'raf' });
  const tDom = Date.now();
  const tEvent = Number(await page.locator(testid('live-indicator')).getAttribute('data-last-event'));
  console.log(`# hall change latency: ${tDom - t0} ms from the take to the ticket row ${number} and the waiting count `
    + `(mosquitto_rr reply ${tReply - t0} ms, SSE event in the page ${tEvent - t0} ms)`);
  const reads = await page.evaluate((since) => performance.getEntriesByType('resource')
    .filter((e) => e.name.includes('/api/v1/') && performance.timeOrigin + e.startTime >= since)
    .map((e) => `${e.name.replace(/^.*\/api\/v1\//, '')} ${Math.round(performance.timeOrigin + e.startTime - since)}→${Math.round(performance.timeOrigin + e.responseEnd - since)}`), t0);
  console.log(`# hall re-reads after the take (ms from the take, start→end): ${reads.join(', ')}`);
  assert.ok(tDom - t0 <= 2000);
  // Number search and state filter.
  await page.locator(testid('tickets-search')).fill(number);
  await until('search narrows the list', async () => (await page.locator('[data-testid^="ticket-row-"]').count()) === 1, 3000);
  await page.locator(testid('tickets-search')).fill('');
  await page.locator(testid('tickets-state')).selectOption('completed');
  await until('state filter', async () => (await page.locator(testid(`ticket-row-${number}`)).count()) === 0, 3000);
  await page.locator(testid('tickets-state')).selectOption('');
  await page.locator(testid(`ticket-row-${number}`)).waitFor({ timeout: 3000 });
  await page.waitForFunction(() => document.querySelector('[data-testid="chart-per-hour"] canvas'), null, { timeout: 10000 });
  await shot(page, 'hall-console');
  await ctx.close();
});

test('hall: counter buttons and acknowledging/resolving an alert', async (t) => {
  const p = await hallPage(t);
  if (!p) return;
  const { ctx, page } = p;
  const state = () => page.locator(testid('counter-state-1')).getAttribute('data-state');
  if ((await state()) !== 'open') {
    await page.locator(testid('counter-open-1')).click();
    await until('counter 1 open', async () => (await state()) === 'open', 3000);
  }
  await page.locator(testid('counter-pause-1')).click();
  await until('counter 1 paused', async () => (await state()) === 'paused', 3000);
  await page.locator(testid('counter-close-1')).click();
  await until('counter 1 closed', async () => (await state()) === 'closed', 3000);

  await takeTicket('B'); await takeTicket('B');
  const alert = await until('an open alert', async () => (await http(ports.edge, '/api/v1/alerts?state=open', { token: MANAGER })).json?.alerts?.find((a) => a.state === 'raised'), 10000);
  await page.locator(testid(`alert-ack-${alert.id}`)).waitFor({ timeout: 3000 });
  await page.locator(testid(`alert-comment-${alert.id}`)).fill('on it');
  await page.locator(testid(`alert-ack-${alert.id}`)).click();
  await page.locator(`${testid(`alert-state-${alert.id}`)}[data-state="acknowledged"]`).waitFor({ timeout: 3000 });
  await page.locator(testid(`alert-resolve-${alert.id}`)).click();
  await until('alert resolved', async () => {
    const a = (await http(ports.edge, '/api/v1/alerts?state=all', { token: MANAGER })).json.alerts.find((x) => x.id === alert.id);
    return a?.state === 'resolved';
  }, 3000);
  await page.waitForFunction(() => document.querySelector('[data-testid="chart-per-hour"] canvas'));
  await shot(page, 'hall-actions');
  await ctx.close();
});
