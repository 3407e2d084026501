// jwtgate from a real browser: headless Chromium (Debian's chromium; `make test`
// installs it) driven by puppeteer-core, which never downloads a browser. A page on an
// origin of its own (page/client.js, served here on a loopback port) talks to jwtgate
// cross-origin as a browser UI does: trades a key at POST /sessions, streams a chat
// completion with fetch and getReader(), reads WWW-Authenticate and X-Request-Id of a
// refused call, and opens a WebSocket with the token as a subprotocol entry to a
// jwtgate in front of a loopback WebSocket upstream. A page on an origin not allowed
// is blocked. CHROMIUM names the browser (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import puppeteer from 'puppeteer-core';
import { WebSocketServer } from 'ws';
import { assertLogsClean, newAPIKey, start } from './lib/jwtgate.mjs';

const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const API_KEY = newAPIKey();
const PROMPT = 'one two three four five six seven eight';
// Bounds a broken run only; nothing is timed.
const TIMEOUT = 60000;

let allowed; // page server on the origin jwtgate allows
let other; // the same page on an origin jwtgate does not allow
let upstream; // WebSocket upstream
let echo; // jwtgate with the echo backend
let proxy; // jwtgate in front of the WebSocket upstream
let browser;
let userDataDir;
let page; // on the allowed origin
let token; // traded by the page
const pageErrors = [];

before(async () => {
  allowed = await servePage();
  other = await servePage();
  upstream = await startWSUpstream();
  // Both jwtgates share a signing secret, as replicas do: the token traded at the
  // echo one opens the WebSocket at the other.
  const secret = randomBytes(32).toString('base64url');
  const common = [
    'jwt:',
    `  secret: ${secret}`,
    'cors:',
    '  allowed_origins:',
    `    - ${allowed.origin}`,
  ];
  // A long echo delay makes each event of a stream its own write.
  echo = await start({ args: ['--log-level', 'debug'], config: [...common, 'chat:', '  echo_delay: 50ms', ''].join('\n') });
  proxy = await start({ args: ['--log-level', 'debug'], config: [...common, 'chat:', `  upstream_url: ${upstream.url}`, ''].join('\n') });

  userDataDir = mkdtempSync(join(tmpdir(), 'jwtgate-chromium-'));
  browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir,
    // The machine has no network: without the background-networking flags Chromium
    // keeps dialling out and logs the refusals.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = await openPage(allowed.origin);
});

after(async () => {
  await browser?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  await echo?.stop();
  await proxy?.stop();
  await upstream?.close();
  await allowed?.close();
  await other?.close();
});

// openPage loads the client page from origin and waits for its script.
async function openPage(origin) {
  const p = await browser.newPage();
  p.on('pageerror', (e) => pageErrors.push(`${origin}: ${e}`));
  const res = await p.goto(`${origin}/index.html`);
  assert.equal(res.status(), 200);
  await p.waitForFunction(() => window.jwtgateClient !== undefined, { timeout: TIMEOUT });
  return p;
}

// call runs window.jwtgateClient[fn](...args) in p and returns its result.
const call = (p, fn, ...args) => p.evaluate((f, a) => window.jwtgateClient[f](...a), fn, args);

test('browser: a page on an allowed origin trades a key at POST /sessions', { timeout: TIMEOUT }, async () => {
  const got = await call(page, 'trade', echo.url, API_KEY);
  assert.equal(got.status, 201);
  assert.equal(got.tokenType, 'Bearer');
  assert.equal(typeof got.token, 'string');
  token = got.token;
});

test('browser: a streamed chat completion arrives event by event through getReader()', { timeout: TIMEOUT }, async () => {
  assert.ok(token, 'a token from the first test');
  const got = await call(page, 'stream', echo.url, token, PROMPT);
  assert.equal(got.status, 200, got.body);
  assert.match(got.contentType, /^text\/event-stream/);
  assert.match(got.requestId ?? '', /\S/, 'X-Request-Id is exposed to the script');
  assert.equal(got.text, PROMPT);
  const words = PROMPT.split(' ').length;
  assert.ok(got.events >= words, `events before [DONE]: ${got.events}`);
  assert.ok(got.doneRead > 0, '[DONE] was read');
  // Streamed, not buffered: the first event was read before the stream's end was, and
  // events came in more than one read. (How many per read depends on the machine.)
  const detail = `events per read: ${JSON.stringify(got.eventsPerRead)}`;
  assert.ok(got.firstEventRead < got.doneRead, detail);
  assert.ok(got.eventsPerRead.filter((n) => n > 0).length > 1, detail);
});

test('browser: the script reads WWW-Authenticate and X-Request-Id of a refused call', { timeout: TIMEOUT }, async () => {
  assert.ok(token, 'a token from the first test');
  const forged = token.slice(0, -6) + (token.endsWith('AAAAAA') ? 'BBBBBB' : 'AAAAAA');
  const got = await call(page, 'refused', echo.url, forged);
  assert.equal(got.status, 401);
  assert.match(got.wwwAuthenticate ?? '', /^Bearer realm="jwtgate", error="invalid_token"/, 'WWW-Authenticate is exposed to the script');
  assert.match(got.requestId ?? '', /\S/, 'X-Request-Id is exposed to the script');
  assert.equal(got.body.error.code, 'invalid_token');
});

for (const prefix of ['jwtgate.bearer.', 'openai-insecure-api-key.']) {
  test(`browser: a WebSocket with the token as subprotocol ${prefix}<jwt> reaches the upstream with the real key`, { timeout: TIMEOUT }, async () => {
    assert.ok(token, 'a token from the first test');
    const from = upstream.handshakes.length;
    const url = `${proxy.url.replace(/^http/, 'ws')}/chat/realtime?model=gpt-realtime`;
    const got = await call(page, 'websocket', url, prefix, token, ['hello', 'second message']);
    const seen = upstream.handshakes.slice(from);
    assert.equal(seen.length, 1, `one handshake reached the upstream; the page saw ${JSON.stringify(got)}`);
    assert.deepEqual(seen[0].refused, [], 'the upstream accepted the handshake');
    assert.equal(seen[0].path, '/realtime?model=gpt-realtime');
    assert.ok(!JSON.stringify(seen[0].headers).includes(token), 'the token does not reach the upstream');
    assert.equal(got.opened, true, JSON.stringify(got));
    assert.equal(got.protocol, 'realtime', 'the 101 names only the upstream\'s subprotocol');
    assert.deepEqual(got.received, ['upstream: hello', 'upstream: second message']);
    assert.equal(got.closeCode, 1000);
    assert.equal(got.errors, 0);
  });
}

test('browser: a page on an origin not allowed is blocked', { timeout: TIMEOUT }, async () => {
  assert.ok(token, 'a token from the first test');
  const blockedPage = await openPage(other.origin);
  const got = await call(blockedPage, 'blocked', echo.url, API_KEY, token);
  for (const [name, r] of Object.entries(got)) {
    assert.equal(r.resolved, false, `${name}: fetch resolved with ${r.status}`);
    assert.equal(r.isTypeError, true, `${name}: ${r.name}: ${r.message}`);
  }
  // The same calls from the allowed origin work (shown above); only the origin differs.
  await blockedPage.close();
});

test('browser: no script errors, and no token or API key in jwtgate\'s logs', () => {
  assert.deepEqual(pageErrors, []);
  assert.ok(token, 'a token from the first test');
  for (const g of [echo, proxy]) assertLogsClean(g, [API_KEY, token, token.split('.')[2]]);
});

// servePage serves page/ on a loopback port of its own: an origin of its own.
function servePage() {
  const files = {
    '/index.html': ['text/html; charset=utf-8', readFileSync(new URL('./page/index.html', import.meta.url))],
    '/client.js': ['text/javascript; charset=utf-8', readFileSync(new URL('./page/client.js', import.meta.url))],
  };
  const server = createServer((req, res) => {
    const f = files[new URL(req.url, 'http://page').pathname];
    if (!f) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'Content-Type': f[0], 'Cache-Control': 'no-store' });
    res.end(f[1]);
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res({
    origin: `http://127.0.0.1:${server.address().port}`,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  })));
}

// startWSUpstream runs a WebSocket server standing in for a realtime API. It refuses
// a handshake unless Authorization carries the real API key and "realtime" is the only
// offered subprotocol, and answers each message with "upstream: " + the message.
function startWSUpstream() {
  const handshakes = [];
  const server = createServer((req, res) => res.writeHead(426).end());
  const wss = new WebSocketServer({
    server,
    verifyClient: ({ req }, done) => {
      const refused = [];
      if (req.headers.authorization !== `Bearer ${API_KEY}`) refused.push('Authorization is not the API key');
      if (req.headers['sec-websocket-protocol'] !== 'realtime') {
        refused.push(`offered subprotocols: ${req.headers['sec-websocket-protocol']}`);
      }
      handshakes.push({ path: req.url, headers: req.headers, refused });
      if (refused.length > 0) done(false, 401, refused.join('; '));
      else done(true);
    },
    handleProtocols: (protocols) => (protocols.has('realtime') ? 'realtime' : false),
  });
  wss.on('connection', (ws) => {
    ws.on('message', (data) => ws.send(`upstream: ${data}`));
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res({
    url: `http://127.0.0.1:${server.address().port}`,
    handshakes,
    close: () => new Promise((r) => {
      for (const c of wss.clients) c.terminate();
      wss.close();
      server.closeAllConnections();
      server.close(r);
    }),
  })));
}
