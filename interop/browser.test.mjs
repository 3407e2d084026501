// jwtgate from a real browser: headless Chromium (Debian's chromium; `make test`
// installs it) driven by puppeteer-core, which never downloads a browser. A page on an
// origin of its own (page/client.js, served here on a loopback port) talks to jwtgate
// cross-origin as a browser UI does: trades a key at POST /sessions, streams a chat
// completion with fetch and getReader(), reads WWW-Authenticate and X-Request-Id of a
// refused call, and opens a WebSocket with the token as a subprotocol entry to a
// jwtgate in front of a loopback WebSocket upstream. A page on an origin not allowed
// is blocked. With DPoP (page/dpop.js), the page makes a non-extractable P-256 key
// with WebCrypto, binds a session with a proof (meeting use_dpop_nonce first),
// streams a chat completion and opens a WebSocket with proofs, and refreshes; the
// token copied out to a Node client without the key is refused. CHROMIUM names the
// browser (default /usr/bin/chromium).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as DPoP from 'dpop';
import * as jose from 'jose';
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
let bound; // the page's DPoP-bound session: { token, jwk, refreshed }
const pageErrors = [];

before(async () => {
  allowed = await servePage();
  other = await servePage();
  upstream = await startWSUpstream();
  // Both jwtgates share a signing secret, as replicas do: the token traded at the
  // echo one opens the WebSocket at the other, and a DPoP nonce one hands out is
  // accepted by the other (both derive it from the secret).
  const secret = randomBytes(32).toString('base64url');
  const common = [
    'jwt:',
    `  secret: ${secret}`,
    'cors:',
    '  allowed_origins:',
    `    - ${allowed.origin}`,
    'dpop:',
    '  require_nonce: true',
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

test('browser DPoP: a non-extractable WebCrypto key binds a session at POST /sessions', { timeout: TIMEOUT }, async () => {
  const key = await call(page, 'dpopKey');
  assert.equal(key.extractable, false, 'the private key is not extractable');
  assert.equal(key.exported, false, 'exporting the private key fails');
  assert.deepEqual(Object.keys(key.jwk).sort(), ['crv', 'kty', 'x', 'y'], 'only the public JWK leaves the page');
  const got = await call(page, 'dpopBind', echo.url, API_KEY);
  assert.equal(got.status, 201);
  assert.equal(got.tokenType, 'DPoP');
  assert.ok(got.nonce, 'the page met use_dpop_nonce and kept the DPoP-Nonce (exposed by CORS)');
  bound = { token: got.token, jwk: key.jwk };
  const cur = await call(page, 'dpopCall', echo.url, 'GET', '/sessions/current', bound.token);
  assert.equal(cur.status, 200, JSON.stringify(cur));
  assert.equal(cur.body.dpop_jkt, await jose.calculateJwkThumbprint(key.jwk, 'sha256'), 'bound to the page\'s key');
});

test('browser DPoP: a streamed chat completion with proofs arrives event by event', { timeout: TIMEOUT }, async () => {
  assert.ok(bound, 'a bound session from the test before');
  const got = await call(page, 'dpopStream', echo.url, bound.token, PROMPT);
  assert.equal(got.status, 200, got.body);
  assert.match(got.contentType, /^text\/event-stream/);
  assert.equal(got.text, PROMPT);
  assert.ok(got.firstEventRead < got.doneRead, `events per read: ${JSON.stringify(got.eventsPerRead)}`);
});

test('browser DPoP: a WebSocket with the proof as subprotocol jwtgate.dpop.<proof> reaches the upstream', { timeout: TIMEOUT }, async () => {
  assert.ok(bound, 'a bound session from the test before');
  const from = upstream.handshakes.length;
  const url = `${proxy.url.replace(/^http/, 'ws')}/chat/realtime`;
  // The bound token without its proof entry: refused before the upstream.
  const refused = await call(page, 'websocket', url, 'jwtgate.bearer.', bound.token, ['hello']);
  assert.equal(refused.opened, false, JSON.stringify(refused));
  // With it (the nonce the echo jwtgate handed out is good at this replica too).
  const got = await call(page, 'dpopWebSocket', url, bound.token, ['hello']);
  const seen = upstream.handshakes.slice(from);
  assert.equal(seen.length, 1, `one handshake reached the upstream; the page saw ${JSON.stringify(got)}`);
  assert.deepEqual(seen[0].refused, [], 'the upstream got only "realtime" and the real key');
  assert.ok(!JSON.stringify(seen[0].headers).includes(bound.token.split('.')[2]), 'the token does not reach the upstream');
  assert.ok(!JSON.stringify(seen[0].headers).includes('jwtgate.'), 'no jwtgate entry reaches the upstream');
  assert.equal(got.opened, true, JSON.stringify(got));
  assert.equal(got.protocol, 'realtime');
  assert.deepEqual(got.received, ['upstream: hello']);
});

test('browser DPoP: refresh with a proof keeps the binding', { timeout: TIMEOUT }, async () => {
  assert.ok(bound, 'a bound session from the test before');
  const got = await call(page, 'dpopRefresh', echo.url, bound.token);
  assert.equal(got.status, 200);
  assert.equal(got.tokenType, 'DPoP');
  bound.refreshed = got.token;
  const cur = await call(page, 'dpopCall', echo.url, 'GET', '/sessions/current', got.token);
  assert.equal(cur.body.dpop_jkt, await jose.calculateJwkThumbprint(bound.jwk, 'sha256'));
});

test('browser DPoP: the token copied out to a Node client without the key is refused', { timeout: TIMEOUT }, async () => {
  assert.ok(bound?.refreshed, 'a refreshed bound session from the tests before');
  const chat = `${echo.url}/chat/chat/completions`;
  const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'stolen' }] });
  const thief = await DPoP.generateKeyPair('ES256');
  for (const tok of [bound.token, bound.refreshed]) {
    // The thief knows the nonce too: jwtgate hands it to anyone who asks.
    const probe = await fetch(chat, { method: 'POST', body, headers: { 'Content-Type': 'application/json', Authorization: `DPoP ${tok}`,
      DPoP: await DPoP.generateProof(thief, chat, 'POST', undefined, tok) } });
    const nonce = probe.headers.get('dpop-nonce');
    assert.equal(probe.status, 401);
    assert.ok(nonce, 'use_dpop_nonce first');
    for (const [how, headers] of [
      ['as Bearer', { Authorization: `Bearer ${tok}` }],
      ['in X-API-Key', { 'X-API-Key': tok }],
      ['with the DPoP scheme and no proof', { Authorization: `DPoP ${tok}` }],
      ['with a proof by the thief\'s key', { Authorization: `DPoP ${tok}`, DPoP: await DPoP.generateProof(thief, chat, 'POST', nonce, tok) }],
    ]) {
      const res = await fetch(chat, { method: 'POST', body, headers: { 'Content-Type': 'application/json', ...headers } });
      const text = await res.text();
      assert.equal(res.status, 401, `${how}: ${text}`);
      assert.match(res.headers.get('www-authenticate'), /^DPoP realm="jwtgate", error="(invalid_token|invalid_dpop_proof)"/, how);
      assert.equal(JSON.parse(text).error.code, 'invalid_token', how);
    }
  }
});

test('browser: no script errors, and no token or API key in jwtgate\'s logs', () => {
  assert.deepEqual(pageErrors, []);
  assert.ok(token, 'a token from the first test');
  const secrets = [API_KEY, token, token.split('.')[2]];
  if (bound) secrets.push(bound.token, bound.token.split('.')[2]);
  if (bound?.refreshed) secrets.push(bound.refreshed);
  for (const g of [echo, proxy]) assertLogsClean(g, secrets);
});

// servePage serves page/ on a loopback port of its own: an origin of its own.
function servePage() {
  const files = {
    '/index.html': ['text/html; charset=utf-8', readFileSync(new URL('./page/index.html', import.meta.url))],
    '/client.js': ['text/javascript; charset=utf-8', readFileSync(new URL('./page/client.js', import.meta.url))],
    '/dpop.js': ['text/javascript; charset=utf-8', readFileSync(new URL('./page/dpop.js', import.meta.url))],
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
