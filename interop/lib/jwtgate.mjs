// Running the real jwtgate binary for the interop tests: a free loopback port, the
// log captured for checks, a configuration file for values the environment cannot
// express (an empty string). JWTGATE_BIN names the binary (make test builds it).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const BIN = resolve(process.env.JWTGATE_BIN ?? '../bin/jwtgate');

// startTimeout only stops a broken run from hanging; no assertion depends on speed.
const startTimeout = 30000;

/** newAPIKey returns a fresh random API key, so that a leak is found by its value. */
export const newAPIKey = (prefix = 'sk-interop-') => prefix + randomBytes(16).toString('hex');

/**
 * start runs `jwtgate serve --addr 127.0.0.1:0` with env added to this process's
 * environment stripped of JWTGATE_* variables, and config (YAML text, optional)
 * written to a file passed as --config. It resolves when the "listening" log line
 * names the address. The returned object has url, logs() (everything the process
 * wrote to stderr and stdout) and stop() (SIGTERM, then waits for the exit).
 */
export function start({ env = {}, config, args = [] } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'jwtgate-interop-'));
  const argv = ['serve', '--addr', '127.0.0.1:0', ...args];
  if (config !== undefined) {
    writeFileSync(join(dir, 'jwtgate.yaml'), config, { mode: 0o600 });
    argv.push('--config', join(dir, 'jwtgate.yaml'));
  }
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('JWTGATE_')));
  const child = spawn(BIN, argv, { cwd: dir, env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let exited = false;
  const exit = new Promise((res) => child.on('exit', (code, signal) => { exited = true; res({ code, signal }); }));
  child.stdout.on('data', (chunk) => { out += chunk; });
  const server = {
    url: '',
    logs: () => out,
    async stop() {
      if (!exited) child.kill('SIGTERM');
      const r = await exit;
      rmSync(dir, { recursive: true, force: true });
      return r;
    },
  };
  return new Promise((res, rej) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); rej(new Error(`jwtgate did not start:\n${out}`)); }, startTimeout);
    exit.then(({ code }) => { clearTimeout(timer); rej(new Error(`jwtgate exited with ${code} before listening:\n${out}`)); });
    child.stderr.on('data', (chunk) => {
      const before = out.length;
      out += chunk;
      if (server.url) return;
      // Lines are whole once a newline follows; start from the line the chunk continues.
      const from = out.lastIndexOf('\n', before - 1) + 1;
      for (const line of out.slice(from).split('\n')) {
        let rec;
        try { rec = JSON.parse(line); } catch { continue; }
        if (rec.msg === 'listening' && rec.addr) {
          server.url = `http://${rec.addr}`;
          clearTimeout(timer);
          res(server);
          return;
        }
      }
    });
  });
}

/**
 * session trades apiKey for a session token at POST /sessions (body optional) and
 * returns the token.
 */
export async function session(url, apiKey, body) {
  const init = { method: 'POST', headers: { 'X-API-Key': apiKey } };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const res = await fetch(`${url}/sessions`, init);
  const text = await res.text();
  assert.equal(res.status, 201, `POST /sessions: ${text}`);
  const { access_token: token } = JSON.parse(text);
  assert.equal(typeof token, 'string');
  return token;
}

/**
 * assertLogsClean checks that the server's log holds none of secrets (whole tokens,
 * API keys), no panic and no 5xx status, and that it logged some requests at all
 * (so the check looked at something).
 */
export function assertLogsClean(server, secrets) {
  const logs = server.logs();
  assert.match(logs, /"status":\s*\d{3}/, 'the log records requests');
  for (const s of secrets) {
    assert.ok(s && s.length >= 16, 'a secret to look for');
    assert.ok(!logs.includes(s), `a secret (${s.slice(0, 6)}...) appears in jwtgate's log`);
  }
  assert.doesNotMatch(logs, /panic|DATA RACE/);
  assert.doesNotMatch(logs, /"status":\s*5\d\d/, 'no request was answered with a 5xx');
}
