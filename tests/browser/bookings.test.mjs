// Browser test of the bookings heat map (青易约, protocol/BOOKINGS.md) against a REAL yiban-central
// (no mosquitto, no edge: central alone serves the dashboard and the booking API). Two bookings are
// made over the API for one slot; the operator's Bookings tab shows that slot of hall-b · A as 2/4.
// The `yiban booking` client is checked against the same central; a second central without --booking
// shows the "not enabled" message.
// Run: YIBAN_BUILD_DIR=build-dir node --test tests/browser/bookings.test.mjs   (env as in dashboard.test.mjs)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, startProcess, stopProcess, until as untilDone, httpRequest, repo, buildDir, artifacts, webDir, centralBin, cliBin, launchBrowser, tearDown } from './daemons.mjs';

const HALL = 'hall-b';
const ADMIN = 'admin-token-0123456789abcdef';
const OPERATOR = 'operator-token-0123456789abcdef';
// The city's time zone is this machine's, so the dashboard's local day and times are the city's.
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const procs = [];
let tmp; let ports; let browser;
let day; let slot; // the day (YYYY-MM-DD) and the slot {start,end,…} booked twice
const codes = [];

const start = (name, cmd, args) => startProcess(procs, tmp, name, cmd, args);
const until = (what, fn, timeoutMs = 10000) => untilDone(what, fn, timeoutMs, 100);
const http = (port, p, opts = {}) => httpRequest(port, p, { token: OPERATOR, ...opts });
const testid = (id) => `[data-testid="${id}"]`;
const pad = (n) => String(n).padStart(2, '0');
const localDay = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
const hhmm = (ms) => { const d = new Date(ms); return `${pad(d.getHours())}:${pad(d.getMinutes())}`; };
async function shot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, `bookings-${name}.png`), fullPage: true });
}
function yiban(args) {
  const r = spawnSync(cliBin, ['--server', `http://127.0.0.1:${ports.central}`, '--token', OPERATOR, ...args],
    { encoding: 'utf8', timeout: 15000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function startCentral(name, port, extra) {
  return start(name, centralBin, ['--db', path.join(tmp, `${name}.db`), '--bind', `tcp://127.0.0.1:${extra.sync}`,
    '--cert', path.join(tmp, 'keys', 'central.key'), '--halls-dir', path.join(tmp, 'halls'), '--http', `127.0.0.1:${port}`,
    '--tokens', path.join(tmp, 'tokens.txt'), '--web', webDir, ...extra.args]);
}

before(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'yiban-bookings-'));
  ports = { central: await freePort(), sync: await freePort(), bare: await freePort(), bareSync: await freePort() };
  const keys = path.join(tmp, 'keys'); const hallsDir = path.join(tmp, 'halls');
  mkdirSync(keys); mkdirSync(hallsDir);
  execFileSync(centralBin, ['keygen', '--out', keys, '--name', 'central']);
  writeFileSync(path.join(tmp, 'tokens.txt'), [`${ADMIN} admin`, `${OPERATOR} central-operator`, ''].join('\n'));
  writeFileSync(path.join(tmp, 'case.key'), 'city-case-key-for-the-browser-test-0123456789abcdef\n');
  const allDay = ['00:00-24:00'];
  const booking = {
    timezone: ZONE, horizon_days: 7, rebalance_before_min: 0, // no seat moves to the hall during the test
    halls: [{ hall: HALL, holidays: [], services: [{ code: 'A', slot_min: 60, capacity: 4, hall_share: 0.5,
      hours: Object.fromEntries(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'].map((d) => [d, allDay])) }] }],
  };
  writeFileSync(path.join(tmp, 'booking.json'), JSON.stringify(booking));
  startCentral('central', ports.central, { sync: ports.sync,
    args: ['--booking', path.join(tmp, 'booking.json'), '--case-key-file', path.join(tmp, 'case.key')] });
  startCentral('central-bare', ports.bare, { sync: ports.bareSync, args: [] });
  for (const port of [ports.central, ports.bare])
    await until(`central :${port} /healthz`, async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok);

  // A slot later today with two seats left for central (central's quota is 4 − round(4 × 0.5) = 2),
  // else the first of tomorrow.
  const now = new Date();
  const tomorrow = new Date(now); tomorrow.setDate(now.getDate() + 1);
  for (const d of [localDay(now), localDay(tomorrow)]) {
    const r = await http(ports.central, `/api/v1/booking/slots?hall=${HALL}&service=A&day=${d}`);
    assert.equal(r.status, 200, `GET slots ${d} → ${r.status} ${r.text}`);
    assert.equal(r.json.slots.length > 0, true, `slots on ${d}`);
    // Not one that starts within the next few minutes (it would close while the test runs).
    const s = r.json.slots.find((x) => x.available >= 2 && x.start > Date.now() + 5 * 60000);
    if (s) { day = d; slot = s; break; }
  }
  assert.ok(slot, 'a bookable slot today or tomorrow');
  assert.equal(slot.capacity, 4);
  assert.equal(slot.central_quota, 2);
  assert.equal(slot.hall_quota, 2);
  for (const [id, name] of [['E12345678', '张小三'], ['E87654321', '李四']]) {
    const r = await http(ports.central, '/api/v1/bookings', { method: 'POST', body: {
      hall: HALL, service: 'A', slot_start: slot.start, applicant_id: id, applicant_name: name, phone: '13800000000' } });
    assert.equal(r.status, 201, `POST /api/v1/bookings → ${r.status} ${r.text}`);
    assert.equal(r.json.state, 'booked');
    assert.equal(r.json.slot_start, slot.start);
    codes.push(r.json.code);
  }
  console.log(`# booked ${codes.join(', ')} for ${HALL}·A ${day} ${hhmm(slot.start)} (zone ${ZONE})`);
  browser = await launchBrowser();
});

after(() => tearDown({ browser, procs, tmp }));

async function newPage(port, token) {
  const ctx = await browser.newContext({ viewport: { width: 1600, height: 900 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => { errors.push(e.message); console.log(`# page error: ${e.message}`); });
  await page.goto(`http://127.0.0.1:${port}/#token=${token}`);
  return { ctx, page, errors };
}

test('central dashboard: the Bookings tab shows the booked slot of hall-b · A as 2/4', async () => {
  const { ctx, page, errors } = await newPage(ports.central, OPERATOR);
  try {
    const nav = page.locator(testid('nav-bookings'));
    await nav.waitFor({ timeout: 5000 });
    assert.equal((await nav.textContent()).trim(), '预约');
    await nav.click();
    await page.locator(testid('bookings-panel')).waitFor({ timeout: 5000 });
    // The picker offers today and the six days after; choose the booked day.
    const options = await page.locator(`${testid('bookings-day')} option`).evaluateAll((os) => os.map((o) => o.value));
    assert.equal(options.length, 7);
    assert.equal(options[0], localDay(new Date()));
    await page.locator(testid('bookings-day')).selectOption(day);
    await page.locator(`${testid('bookings-heatmap')}[data-day="${day}"]`).waitFor({ timeout: 5000 });
    const row = page.locator(testid(`booking-row-${HALL}-A`));
    await row.waitFor({ timeout: 5000 });
    assert.match(await row.locator('th').textContent(), /hall-b · A/);
    const cell = row.locator(testid(`booking-cell-${HALL}-A-${hhmm(slot.start).replace(':', '')}`));
    assert.equal((await cell.textContent()).trim(), '2/4');
    assert.equal(await cell.getAttribute('data-booked'), '2');
    assert.equal(await cell.getAttribute('data-capacity'), '4');
    assert.equal(await cell.getAttribute('data-start'), String(slot.start));
    assert.match(await cell.getAttribute('title'), /hall-b · A \d\d:\d\d: 2\/4 \(50%\)/);
    // 24 one-hour slots a day; the others are empty.
    assert.equal(await row.locator('td.heat').count(), 24);
    assert.equal(await row.locator('td.heat', { hasText: '0/4' }).count(), 23);
    assert.equal((await page.locator(testid(`booking-total-${HALL}-A`)).textContent()).trim(), '2/96');
    await shot(page, 'heatmap');
    // A cancellation shows on refresh: 1/4.
    const del = await http(ports.central, `/api/v1/bookings/${codes[1]}`, { method: 'DELETE' });
    assert.equal(del.status, 200, `DELETE → ${del.status} ${del.text}`);
    assert.equal(del.json.state, 'cancelled');
    await page.locator(testid('bookings-refresh')).click();
    await page.locator(`${testid(`booking-cell-${HALL}-A-${hhmm(slot.start).replace(':', '')}`)}[data-booked="1"]`).waitFor({ timeout: 5000 });
    // Rebook it so the CLI test below sees two again.
    const again = await http(ports.central, '/api/v1/bookings', { method: 'POST', body: {
      hall: HALL, service: 'A', slot_start: slot.start, applicant_id: 'E87654321', applicant_name: '李四', phone: '13800000000' } });
    assert.equal(again.status, 201, `POST again → ${again.status} ${again.text}`);
    codes[1] = again.json.code;
    await page.locator(testid('bookings-refresh')).click();
    await page.locator(`${testid(`booking-cell-${HALL}-A-${hhmm(slot.start).replace(':', '')}`)}[data-booked="2"]`).waitFor({ timeout: 5000 });
    // English labels.
    await page.locator(testid('lang-switch')).click();
    assert.equal((await page.locator(testid('nav-bookings')).textContent()).trim(), 'Bookings');
    await page.locator(testid('bookings-panel')).filter({ hasText: 'Booking heat map' }).waitFor({ timeout: 3000 });
    await page.locator(`${testid(`booking-cell-${HALL}-A-${hhmm(slot.start).replace(':', '')}`)}:text("2/4")`).waitFor({ timeout: 3000 });
    await shot(page, 'heatmap-en');
    assert.deepEqual(errors, []);
  } finally {
    await ctx.close();
  }
});

test('central without --booking: the Bookings tab says bookings are not enabled', async () => {
  const { ctx, page } = await newPage(ports.bare, OPERATOR);
  try {
    await page.locator(testid('nav-bookings')).click();
    const na = page.locator(testid('bookings-disabled'));
    await na.waitFor({ timeout: 5000 });
    assert.match(await na.textContent(), /预约功能未启用/);
    await shot(page, 'disabled');
  } finally {
    await ctx.close();
  }
});

test('yiban booking against the same central: slots, list, a full slot, cancel', () => {
  const at = hhmm(slot.start);
  const slots = yiban(['booking', 'slots', '--hall', HALL, '--service', 'A', '--day', day]);
  assert.equal(slots.code, 0, slots.err);
  const line = slots.out.split('\n').find((l) => l.startsWith(`${at} `));
  assert.ok(line, `a line for ${at} in\n${slots.out}`);
  // START END CAPACITY CENTRAL HALL BOOKED AVAILABLE
  assert.deepEqual(line.trim().split(/\s+/).slice(2), ['4', '2', '2', '2', '0']);

  const list = yiban(['booking', 'list', '--hall', HALL, '--day', day, '--state', 'booked']);
  assert.equal(list.code, 0, list.err);
  for (const c of codes) assert.match(list.out, new RegExp(`^${c}\\s+hall-b\\s+A\\s+${day} ${at}-`, 'm'));
  assert.match(list.out, /张\*三/);
  assert.match(list.out, /2 of 2 bookings/);

  // Central's two seats of the slot are taken: 409 full, exit 1.
  const full = yiban(['booking', 'book', '--hall', HALL, '--service', 'A', '--day', day, '--slot', at,
    '--applicant-id', 'E55555555', '--applicant-name', '王五', '--phone', '13900000000']);
  assert.equal(full.code, 1, `${full.out}${full.err}`);
  assert.match(full.err, /\(full, HTTP 409\)/);

  const cancel = yiban(['booking', 'cancel', codes[0]]);
  assert.equal(cancel.code, 0, cancel.err);
  assert.match(cancel.out, new RegExp(`booking ${codes[0]} cancelled: .* state cancelled`));
  const twice = yiban(['booking', 'cancel', codes[0]]);
  assert.notEqual(twice.code, 0);

  // The seat is free again: booking it through the CLI resolves HH:MM and answers the code.
  const booked = yiban(['booking', 'book', '--hall', HALL, '--service', 'A', '--day', day, '--slot', at,
    '--applicant-id', 'E55555555', '--applicant-name', '王五', '--phone', '13900000000', '--special-need', '轮椅']);
  assert.equal(booked.code, 0, booked.err);
  assert.match(booked.out, new RegExp(`^booking [2-9A-HJ-NP-Z]{8} booked: hall hall-b, service A, slot ${day} ${at}-`));
});
