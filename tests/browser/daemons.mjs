// What the browser tests share: free ports, real daemons started with their
// logs in a temp directory and stopped by pid (SIGTERM, then SIGKILL), waiting
// for a condition, and JSON/binary HTTP calls with a bearer token.
import { spawn } from 'node:child_process';
import { openSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { fileURLToPath } from 'node:url';

// Where things are: the repository, the build (YIBAN_BUILD_DIR), screenshots
// (YIBAN_ARTIFACTS_DIR), the web app and the daemons.
export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const buildDir = process.env.YIBAN_BUILD_DIR || path.join(repo, 'build-dev');
export const artifacts = process.env.YIBAN_ARTIFACTS_DIR || path.join(buildDir, 'test-artifacts');
export const webDir = path.join(repo, 'central/web');
export const centralBin = path.join(buildDir, 'central/yiban-central');
export const edgeBin = path.join(buildDir, 'edge/yiban-edge');
export const cliBin = path.join(buildDir, 'central/yiban');

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

/** Starts cmd with its output in dir/name.log; the process is added to procs. */
export function startProcess(procs, dir, name, cmd, args) {
  const log = openSync(path.join(dir, `${name}.log`), 'a');
  const p = spawn(cmd, args, { cwd: dir, stdio: ['ignore', log, log] });
  p.name = name;
  p.exited = new Promise((r) => p.once('exit', (code, sig) => { p.dead = true; r({ code, sig }); }));
  procs.push(p);
  return p;
}

export async function stopProcess(p) {
  if (!p || p.dead) return;
  try { process.kill(p.pid, 'SIGTERM'); } catch { return; }
  const t = setTimeout(() => { try { process.kill(p.pid, 'SIGKILL'); } catch { /* gone */ } }, 3000);
  await p.exited;
  clearTimeout(t);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns something truthy (state another process changes and announces nowhere else). */
export async function until(what, fn, timeoutMs = 10000, intervalMs = 50) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try { const v = await fn(); if (v) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await sleep(intervalMs);
  }
}

/** One call; body is sent as JSON unless a type is given (then as is). */
export async function httpRequest(port, p, { token, method = 'GET', body, type } = {}) {
  const headers = { Authorization: `Bearer ${token}` };
  if (body !== undefined) headers['Content-Type'] = type || 'application/json';
  const res = await fetch(`http://127.0.0.1:${port}${p}`, {
    method, headers, body: body === undefined ? undefined : (type ? body : JSON.stringify(body)),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

/** Debian's Chromium, headless (CHROMIUM overrides the path). */
export function launchBrowser() {
  return chromium.launch({ executablePath: process.env.CHROMIUM || '/usr/bin/chromium', args: ['--no-sandbox', '--headless'] });
}

/** The last lines of each daemon's log, as TAP comments. */
function dumpLogs(procs, tmp) {
  for (const p of procs) {
    try {
      const log = readFileSync(path.join(tmp, `${p.name}.log`), 'utf8').split('\n').slice(-15).join('\n');
      console.log(`# ---- ${p.name}.log (tail)\n${log.replace(/^/gm, '# ')}`);
    } catch { /* no log */ }
  }
}

/**
 * After a test file: the browser closed, the daemons' log tails printed (with YIBAN_DUMP_LOGS), the daemons
 * stopped newest first, the temp dir removed (kept with YIBAN_KEEP_TMP).
 */
export async function tearDown({ browser, procs, tmp }) {
  try { await browser?.close(); } catch { /* ignore */ }
  if (tmp && process.env.YIBAN_DUMP_LOGS) dumpLogs(procs, tmp);
  for (const p of [...procs].reverse()) await stopProcess(p);
  if (tmp && !process.env.YIBAN_KEEP_TMP) rmSync(tmp, { recursive: true, force: true });
  else if (tmp) console.log(`# kept ${tmp}`);
}
