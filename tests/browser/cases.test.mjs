// Browser test of the cross-region cases view (跨域通办, protocol/CASES.md) against REAL daemons:
// one mosquitto, yiban-central with a catalog (X01 handled by hall-b), two yiban-edge (hall-a, hall-b).
// A case is submitted at hall-a over the API; hall-b's manager accepts it in the hall console;
// an operator sees it, its timeline and its access list in central's dashboard.
// Run: node --test tests/browser/cases.test.mjs   (env as in dashboard.test.mjs)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { freePort, startProcess, stopProcess, until as untilDone, httpRequest, repo, buildDir, artifacts, webDir, centralBin, edgeBin, launchBrowser, tearDown } from './daemons.mjs';

const HALL_A = 'hall-a';
const HALL_B = 'hall-b';
const ADMIN = 'admin-token-0123456789abcdef';
const OPERATOR = 'operator-token-0123456789abcdef';
const MANAGER_A = 'manager-a-token-0123456789abcdef';
const MANAGER_B = 'manager-b-token-0123456789abcdef';

const procs = [];
let tmp; let ports; let browser;
let caseId; let material; // the case submitted at hall-a, and its one material
const timings = {};

const start = (name, cmd, args) => startProcess(procs, tmp, name, cmd, args);
const stop = stopProcess;
const until = (what, fn, timeoutMs = 10000) => untilDone(what, fn, timeoutMs, 100);
const http = (port, p, opts = {}) => httpRequest(port, p, { token: ADMIN, ...opts });
async function shot(page, name) {
  mkdirSync(artifacts, { recursive: true });
  await page.screenshot({ path: path.join(artifacts, `cases-${name}.png`), fullPage: false });
}
const testid = (id) => `[data-testid="${id}"]`;
/** The app's test-id form of a value (app.js tid()). */
const tid = (s) => String(s).replace(/[^A-Za-z0-9_.:-]/g, '_');
/** A small valid-looking PDF: the edge checks the type from the first bytes ("%PDF-"). */
const PDF = Buffer.from('%PDF-1.4\n1 0 obj <</Type /Catalog /Pages 2 0 R>> endobj\n2 0 obj <</Type /Pages /Kids [] /Count 0>> endobj\n'
  + 'trailer <</Root 1 0 R>>\n%%EOF\n');

before(async () => {
  const t0 = Date.now();
  tmp = mkdtempSync(path.join(tmpdir(), 'yiban-cases-'));
  ports = { mqtt: await freePort(), sync: await freePort(), central: await freePort(), a: await freePort(), b: await freePort() };

  writeFileSync(path.join(tmp, 'mosquitto.conf'), `listener ${ports.mqtt} 127.0.0.1\nallow_anonymous true\npersistence false\n`);
  start('mosquitto', 'mosquitto', ['-c', path.join(tmp, 'mosquitto.conf')]);

  const keys = path.join(tmp, 'keys'); const hallsDir = path.join(tmp, 'halls');
  mkdirSync(keys); mkdirSync(hallsDir);
  execFileSync(centralBin, ['keygen', '--out', keys, '--name', 'central']);
  for (const h of [HALL_A, HALL_B]) {
    execFileSync(centralBin, ['keygen', '--out', keys, '--name', h, '--hall', h]);
    copyFileSync(path.join(keys, `${h}.pub`), path.join(hallsDir, `${h}.pub`));
  }
  writeFileSync(path.join(tmp, 'tokens.txt'), [`${ADMIN} admin`, `${OPERATOR} central-operator`,
    `${MANAGER_A} hall-manager ${HALL_A}`, `${MANAGER_B} hall-manager ${HALL_B}`, ''].join('\n'));
  const catalog = { services: [
    { code: 'X01', name: '跨区户口迁移', region: '370213', hall: HALL_B, prereview_h: 24, complete_days: 5 },
    { code: 'X02', name: '异地医保备案', region: '370202', hall: HALL_A, prereview_h: 24, complete_days: 3 },
  ] };
  writeFileSync(path.join(tmp, 'catalog.json'), JSON.stringify(catalog));
  writeFileSync(path.join(tmp, 'case.key'), 'city-case-key-for-the-browser-test-0123456789abcdef\n');
  const example = JSON.parse(readFileSync(path.join(repo, 'deploy/examples/hall.json'), 'utf8'));
  writeFileSync(path.join(tmp, `${HALL_A}.json`), JSON.stringify({ ...example, hall: HALL_A, name: '甲区政务服务中心' }));
  writeFileSync(path.join(tmp, `${HALL_B}.json`), JSON.stringify({ ...example, hall: HALL_B, name: '乙区政务服务中心', region: '370213' }));

  start('central', centralBin, ['--db', path.join(tmp, 'central.db'), '--bind', `tcp://127.0.0.1:${ports.sync}`,
    '--cert', path.join(keys, 'central.key'), '--halls-dir', hallsDir, '--http', `127.0.0.1:${ports.central}`,
    '--tokens', path.join(tmp, 'tokens.txt'), '--web', webDir, '--catalog', path.join(tmp, 'catalog.json')]);
  await until('central /healthz', async () => (await fetch(`http://127.0.0.1:${ports.central}/healthz`)).ok);
  for (const [h, port] of [[HALL_A, ports.a], [HALL_B, ports.b]]) {
    start(h, edgeBin, ['--hall-config', path.join(tmp, `${h}.json`), '--db', path.join(tmp, `${h}.db`),
      '--mqtt', `tcp://127.0.0.1:${ports.mqtt}`, '--central', `tcp://127.0.0.1:${ports.sync}`,
      '--central-cert', path.join(keys, 'central.pub'), '--hall-cert', path.join(keys, `${h}.key`),
      '--http', `127.0.0.1:${port}`, '--tokens', path.join(tmp, 'tokens.txt'), '--web', webDir,
      '--case-key-file', path.join(tmp, 'case.key')]);
  }
  await until('both halls connected at central', async () => {
    const r = await http(ports.central, '/api/v1/halls');
    return [HALL_A, HALL_B].every((h) => r.json?.halls?.some((x) => x.hall === h && x.connected));
  }, 15000);
  timings.daemons = Date.now() - t0;

  // A material at hall-a, then the case (retried until hall-a has the city catalog from central).
  const up = await http(ports.a, '/api/v1/blobs', { token: MANAGER_A, method: 'POST', body: PDF, type: 'application/pdf' });
  assert.equal(up.status, 201, `POST /api/v1/blobs → ${up.status} ${up.text}`);
  assert.equal(up.json.type, 'application/pdf');
  material = up.json.sha256;
  const t1 = Date.now();
  let created;
  await until('POST /api/v1/cases at hall-a', async () => {
    created = await http(ports.a, '/api/v1/cases', { token: MANAGER_A, method: 'POST', body: {
      service: 'X01', applicant_name: '张小三', applicant_id: '11010519491231002X', contact_name: '王芳',
      materials: [{ sha256: material, name: '申请表.pdf' }] } });
    if (created.status !== 201) console.log(`# POST /api/v1/cases → ${created.status} ${created.text}`);
    return created.status === 201;
  }, 10000);
  caseId = created.json.case;
  assert.match(caseId, /^hall-a:\d{8}:C\d{4}$/);
  assert.equal(created.json.handler, HALL_B);
  assert.equal(created.json.applicant.name, '张*三');
  // hall-b lists it as received once central has the material (the list, never the audited detail).
  await until('hall-b lists the case as received', async () => {
    const r = await http(ports.b, '/api/v1/cases?role=handler', { token: MANAGER_B });
    return r.json?.cases?.some((c) => c.case === caseId && c.state === 'received');
  }, 15000);
  timings.routed = Date.now() - t1;
  console.log(`# daemons up and connected in ${timings.daemons} ms; case ${caseId} received at hall-b ${timings.routed} ms after the submission`);

  browser = await launchBrowser();
});

after(() => tearDown({ browser, procs, tmp }));

async function newPage(port, token, viewport = { width: 1600, height: 1000 }) {
  const ctx = await browser.newContext({ viewport, acceptDownloads: true });
  const page = await ctx.newPage();
  page.on('pageerror', (e) => console.log(`# page error: ${e.message}`));
  await page.goto(`http://127.0.0.1:${port}/#token=${token}`);
  return { ctx, page };
}
/** Opens the Cases tab and waits for the row of the case. */
async function openCases(page) {
  await page.locator(testid('nav-cases')).click();
  await page.locator(testid('cases-panel')).waitFor({ timeout: 5000 });
}

test('hall-b console: the case arrives as 已接收, the material is there, accepting it shows 已受理', async () => {
  const t0 = Date.now();
  const { ctx, page } = await newPage(ports.b, MANAGER_B);
  try {
    await openCases(page);
    const row = page.locator(testid(`case-row-${tid(caseId)}`));
    await row.waitFor({ timeout: 5000 });
    assert.equal((await page.locator(testid(`case-state-${tid(caseId)}`)).textContent()).trim(), '已接收');
    const rowText = await row.textContent();
    assert.match(rowText, /跨区户口迁移/);
    assert.match(rowText, /张\*三/);
    assert.match(rowText, /hall-a/);
    assert.doesNotMatch(rowText, /张小三/, 'the applicant is masked');
    // The detail: header, contact, the material present with a working download.
    await row.click();
    const detail = page.locator(testid('case-detail'));
    await detail.locator(testid('case-detail-state')).waitFor({ timeout: 5000 });
    assert.equal((await detail.locator(testid('case-detail-state')).textContent()).trim(), '已接收');
    assert.match(await detail.locator(testid('case-contact')).textContent(), /王芳/);
    const m = detail.locator(testid(`case-material-${material}`));
    await m.waitFor({ timeout: 5000 });
    assert.equal(await m.getAttribute('data-present'), 'true');
    assert.match(await m.textContent(), /申请表\.pdf/);
    assert.match(await m.textContent(), /application\/pdf/);
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 5000 }),
      m.locator(testid(`case-download-${material}`)).click(),
    ]);
    assert.equal(download.suggestedFilename(), '申请表.pdf');
    const file = path.join(tmp, 'downloaded.pdf');
    await download.saveAs(file);
    assert.deepEqual(readFileSync(file), PDF, 'the downloaded bytes are the uploaded PDF');
    await shot(page, 'hall-b-received');
    // "more needed" without a note is refused in the page, before any request.
    await detail.locator(testid('case-action-more_needed')).click();
    await page.locator(testid('case-action-error')).filter({ hasText: /./ }).waitFor({ timeout: 3000 });
    // Accept with a note.
    await detail.locator(testid('case-action-note')).fill('材料齐全，同意受理');
    await detail.locator(testid('case-action-accept')).click();
    await page.locator(`${testid('case-detail-state')}[data-state="accepted"]`).waitFor({ timeout: 5000 });
    assert.equal((await detail.locator(testid('case-detail-state')).textContent()).trim(), '已受理');
    await page.locator(testid('case-timeline')).filter({ hasText: '材料齐全，同意受理' }).waitFor({ timeout: 5000 });
    // The list follows (live stream), and the complete action is offered now.
    await page.locator(`${testid(`case-state-${tid(caseId)}`)}[data-state="accepted"]`).waitFor({ timeout: 5000 });
    await detail.locator(testid('case-action-complete')).waitFor({ timeout: 3000 });
    await shot(page, 'hall-b-accepted');
    const r = await http(ports.b, `/api/v1/cases?state=accepted`, { token: MANAGER_B });
    assert.ok(r.json.cases.some((c) => c.case === caseId), 'accepted at hall-b (API)');
  } finally {
    await ctx.close();
  }
  timings.hall = Date.now() - t0;
});

test('central dashboard: the operator sees the accepted case, its timeline and who looked at it', async () => {
  const t0 = Date.now();
  const { ctx, page } = await newPage(ports.central, OPERATOR);
  try {
    await openCases(page);
    const state = page.locator(`${testid(`case-state-${tid(caseId)}`)}[data-state="accepted"]`);
    // The acceptance reaches central within seconds; the list follows the live stream (a reload is the fallback).
    await state.waitFor({ timeout: 10000 }).catch(async () => {
      await page.reload();
      await openCases(page);
      await state.waitFor({ timeout: 5000 });
    });
    timings.centralAccepted = Date.now() - t0;
    assert.equal((await state.textContent()).trim(), '已受理');
    const row = page.locator(testid(`case-row-${tid(caseId)}`));
    assert.match(await row.textContent(), /hall-a\s*→\s*hall-b/);
    // The hall filter narrows the list; "late only" hides it (it is not late).
    await page.locator(testid('cases-late')).check();
    await row.waitFor({ state: 'detached', timeout: 5000 });
    await page.locator(testid('cases-late')).uncheck();
    await row.waitFor({ timeout: 5000 });
    await row.click();
    const detail = page.locator(testid('case-detail'));
    await detail.locator(testid('case-detail-state')).waitFor({ timeout: 5000 });
    assert.equal((await detail.locator(testid('case-detail-state')).textContent()).trim(), '已受理');
    const timeline = await detail.locator(testid('case-timeline')).textContent();
    for (const label of ['已提交', '已接收', '已受理']) assert.match(timeline, new RegExp(label), `timeline shows ${label}`);
    assert.match(timeline, /材料齐全，同意受理/);
    const access = detail.locator(testid('case-access'));
    await access.waitFor({ timeout: 5000 });
    assert.match(await access.textContent(), /hall-b/, 'hall-b\'s views are in the access list');
    // No actions at central.
    assert.equal(await detail.locator(testid('case-action-accept')).count(), 0);
    await shot(page, 'central-detail');
    // Completed at hall-b (API): the open detail at central follows without a reload (hall row → list → detail).
    const t1 = Date.now();
    const done = await http(ports.b, `/api/v1/cases/${encodeURIComponent(caseId)}/complete`, { token: MANAGER_B, method: 'POST', body: { note: '已办结，请到甲区领取' } });
    assert.ok(done.status === 200 || done.status === 201, `complete → ${done.status} ${done.text}`);
    await page.locator(`${testid('case-detail-state')}[data-state="completed"]`).waitFor({ timeout: 10000 });
    await page.locator(testid('case-timeline')).filter({ hasText: '已办结，请到甲区领取' }).waitFor({ timeout: 3000 });
    await page.locator(`${testid(`case-state-${tid(caseId)}`)}[data-state="completed"]`).waitFor({ timeout: 3000 });
    timings.centralLive = Date.now() - t1;
    assert.equal((await detail.locator(testid('case-detail-state')).textContent()).trim(), '已办结');
    // The re-read detail has every view hall-b recorded before the completion. Its console read the detail
    // once, when it was opened: the acceptance's answer is the new detail, and its own live change events
    // (case.accepted, case.viewed) caused no further audited reads; it downloaded the file once.
    const hallB = await access.locator('tr', { hasText: 'hall-b' }).allTextContents();
    const hallBViews = hallB.filter((x) => /查看详情/.test(x));
    assert.equal(hallBViews.length, 1, `hall-b detail reads in the access list: ${hallBViews.join(' | ')}`);
    assert.equal(hallB.filter((x) => /下载材料/.test(x)).length, 1, 'hall-b downloaded the file once');
    // English labels are available.
    await page.locator(testid('lang-switch')).click();
    await page.locator(`${testid('case-detail-state')}:text("completed")`).waitFor({ timeout: 3000 });
    assert.match(await page.locator(testid('nav-cases')).textContent(), /Cases/);
    await shot(page, 'central-detail-en');
  } finally {
    await ctx.close();
  }
  timings.central = Date.now() - t0;
  console.log(`# timings: daemons ${timings.daemons} ms, case routed to hall-b ${timings.routed} ms, hall-b console ${timings.hall} ms, `
    + `central dashboard ${timings.central} ms (accepted case listed after ${timings.centralAccepted} ms; completion at hall-b shown live in ${timings.centralLive} ms)`);
});
