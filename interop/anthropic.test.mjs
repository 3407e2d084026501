// The official Anthropic SDK, unchanged, with the session token where it takes its
// credential, base URL http://<jwtgate>/chat:
// - @anthropic-ai/sdk 1.x sends both apiKey and authToken as Authorization: Bearer;
// - @anthropic-ai/sdk 0.x (locked as anthropic-sdk-v0) sends apiKey as X-Api-Key, which
//   jwtgate takes as the session token on /chat/*.
// Against a loopback upstream standing in for https://api.anthropic.com, configured as
// DESIGN.md says (chat.upstream_auth_header x-api-key, an empty scheme): the upstream
// refuses unless x-api-key is the real API key and anthropic-version is present, and
// answers in the Messages shapes, streamed and not. And against the echo backend's
// /chat/v1/messages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import Anthropic from '@anthropic-ai/sdk';
import AnthropicV0 from 'anthropic-sdk-v0';
import { assertLogsClean, newAPIKey, session, start } from './lib/jwtgate.mjs';

const API_KEY = newAPIKey('sk-ant-interop-');
const PROMPT = 'sphinx of black quartz judge my vow';
const MODEL = 'claude-sonnet-4-5';

let upstream; // { url, requests, close }
let proxied; // jwtgate in front of the upstream
let echo; // jwtgate with the echo backend
const tokens = [];

before(async () => {
  upstream = await startUpstream();
  proxied = await start({
    args: ['--log-level', 'debug'],
    // A file, not the environment: the empty scheme must be an empty value, not an unset one.
    config: [
      'chat:',
      `  upstream_url: ${upstream.url}`,
      '  upstream_auth_header: x-api-key',
      '  upstream_auth_scheme: ""',
      '',
    ].join('\n'),
  });
  echo = await start({ args: ['--log-level', 'debug'] });
});

after(async () => {
  await proxied?.stop();
  await echo?.stop();
  await upstream?.close();
});

// The ways a client holds the session token, and the header the SDK sends it in.
const clients = [
  {
    name: '@anthropic-ai/sdk 1.x, token as apiKey',
    sent: 'authorization',
    make: (baseURL, token, fetch) => new Anthropic({ baseURL, apiKey: token, authToken: null, maxRetries: 0, fetch }),
  },
  {
    name: '@anthropic-ai/sdk 1.x, token as authToken',
    sent: 'authorization',
    make: (baseURL, token, fetch) => new Anthropic({ baseURL, authToken: token, apiKey: null, maxRetries: 0, fetch }),
  },
  {
    name: '@anthropic-ai/sdk 0.x, token as apiKey (X-Api-Key)',
    sent: 'x-api-key',
    make: (baseURL, token, fetch) => new AnthropicV0({ baseURL, apiKey: token, authToken: null, maxRetries: 0, fetch }),
  },
];

// newClient returns a client of kind c for the jwtgate at url with a fresh session,
// and the headers of each request the SDK made (recorded, then sent unchanged).
async function newClient(c, url) {
  const token = await session(url, API_KEY);
  tokens.push(token);
  const sent = [];
  const client = c.make(`${url}/chat`, token, (input, init) => {
    sent.push(new Headers(init?.headers));
    return fetch(input, init);
  });
  return { client, token, sent };
}

// assertSentAs checks that the SDK put the token in the header c names, and only there.
function assertSentAs(c, sent, token) {
  assert.ok(sent.length > 0);
  for (const h of sent) {
    const want = c.sent === 'authorization' ? `Bearer ${token}` : token;
    assert.equal(h.get(c.sent), want, `the SDK sends the token in ${c.sent}`);
    const other = c.sent === 'authorization' ? 'x-api-key' : 'authorization';
    assert.equal(h.get(other), null, `the SDK sends no ${other}`);
    assert.ok(h.get('anthropic-version'), 'the SDK sends anthropic-version');
  }
}

// collect reads a streamed Messages answer: its event types and its text.
async function collect(stream) {
  const types = [];
  let text = '';
  let usage = {};
  for await (const e of stream) {
    types.push(e.type);
    if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
    if (e.type === 'message_start') usage = { ...e.message.usage };
    if (e.type === 'message_delta') usage = { ...usage, ...e.usage };
  }
  return { types, text, usage };
}

// assertStreamShape checks the Messages event sequence.
function assertStreamShape({ types, usage }) {
  assert.equal(types[0], 'message_start');
  assert.equal(types.at(-1), 'message_stop');
  assert.equal(types.at(-2), 'message_delta');
  const first = types.indexOf('content_block_start');
  const stop = types.indexOf('content_block_stop');
  assert.ok(first > 0 && stop > first, types.join(' '));
  assert.ok(types.filter((t) => t === 'content_block_delta').length > 1, `more than one text delta: ${types.join(' ')}`);
  assert.ok(usage.input_tokens > 0 && usage.output_tokens > 0, JSON.stringify(usage));
}

for (const c of clients) {
  test(`anthropic upstream: ${c.name}: messages.create, not streamed`, async () => {
    const { client, token, sent } = await newClient(c, proxied.url);
    const from = upstream.requests.length;
    const msg = await client.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: PROMPT }] });
    assertSentAs(c, sent, token);
    assert.equal(msg.type, 'message');
    assert.equal(msg.role, 'assistant');
    assert.equal(msg.model, MODEL);
    assert.equal(msg.content[0].type, 'text');
    assert.equal(msg.content[0].text, `upstream heard: ${PROMPT}`);
    assert.equal(msg.stop_reason, 'end_turn');
    assertUpstreamSaw(upstream.requests.slice(from), token, false);
  });

  test(`anthropic upstream: ${c.name}: messages.create streamed`, async () => {
    const { client, token, sent } = await newClient(c, proxied.url);
    const from = upstream.requests.length;
    const stream = await client.messages.create({
      model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: PROMPT }], stream: true,
    });
    const got = await collect(stream);
    assertSentAs(c, sent, token);
    assertStreamShape(got);
    assert.equal(got.text, `upstream heard: ${PROMPT}`);
    assertUpstreamSaw(upstream.requests.slice(from), token, true);
  });
}

// assertUpstreamSaw checks what reached the upstream: one Messages call with the real
// key in x-api-key, anthropic-version, the body as sent, and nowhere the token.
function assertUpstreamSaw(reqs, token, stream) {
  assert.equal(reqs.length, 1, 'one request reached the upstream');
  const [r] = reqs;
  assert.deepEqual(r.refused, [], 'the upstream accepted the request');
  assert.equal(r.method, 'POST');
  assert.equal(r.path, '/v1/messages');
  assert.equal(r.headers.authorization, undefined, 'no Authorization reaches the upstream');
  assert.ok(!JSON.stringify(r.headers).includes(token), 'the token does not reach the upstream');
  assert.equal(r.body.model, MODEL);
  assert.equal(r.body.stream ?? false, stream);
  assert.deepEqual(r.body.messages, [{ role: 'user', content: PROMPT }]);
}

test('anthropic echo: messages.create on /chat/v1/messages, not streamed (token as authToken)', async () => {
  const { client, token, sent } = await newClient(clients[1], echo.url);
  const msg = await client.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: PROMPT }] });
  assertSentAs(clients[1], sent, token);
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.equal(msg.content[0].type, 'text');
  assert.ok(msg.content[0].text.includes(PROMPT), `text: ${msg.content[0].text}`);
  assert.ok(msg.usage.input_tokens > 0 && msg.usage.output_tokens > 0, JSON.stringify(msg.usage));
});

test('anthropic echo: messages.create on /chat/v1/messages, streamed (token as authToken)', async () => {
  const { client } = await newClient(clients[1], echo.url);
  const got = await collect(await client.messages.create({
    model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: PROMPT }], stream: true,
  }));
  assertStreamShape(got);
  assert.ok(got.text.includes(PROMPT), `text: ${got.text}`);
});

test('anthropic echo: messages.stream on /chat/v1/messages (0.x, token as X-Api-Key)', async () => {
  const { client, token, sent } = await newClient(clients[2], echo.url);
  const msg = await client.messages.stream({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: PROMPT }] }).finalMessage();
  assertSentAs(clients[2], sent, token);
  assert.ok(msg.content[0].text.includes(PROMPT), `text: ${msg.content[0].text}`);
});

test('anthropic: a bad token gives AuthenticationError with code invalid_token in the OpenAI error shape', async () => {
  const client = new Anthropic({ baseURL: `${echo.url}/chat`, authToken: 'not-a-session-token', apiKey: null, maxRetries: 0 });
  await assert.rejects(client.messages.create({ model: MODEL, max_tokens: 64, messages: [{ role: 'user', content: PROMPT }] }), (err) => {
    assert.ok(err instanceof Anthropic.AuthenticationError, `${err?.constructor?.name}: ${err}`);
    assert.equal(err.status, 401);
    assert.equal(err.error.error.code, 'invalid_token');
    return true;
  });
});

test('anthropic: no token or API key in jwtgate\'s logs', () => {
  const secrets = [API_KEY, ...tokens, ...tokens.map((t) => t.split('.')[2])];
  assertLogsClean(proxied, secrets);
  assertLogsClean(echo, secrets);
});

// startUpstream runs the loopback stand-in for the Anthropic API.
function startUpstream() {
  const requests = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { raw += d; });
    req.on('end', () => {
      const refused = [];
      if (req.headers['x-api-key'] !== API_KEY) refused.push('x-api-key is not the API key');
      if (!req.headers['anthropic-version']) refused.push('anthropic-version is missing');
      let body = {};
      try { body = JSON.parse(raw); } catch { refused.push('the body is not JSON'); }
      const path = new URL(req.url, 'http://upstream').pathname;
      requests.push({ method: req.method, path, headers: req.headers, body, refused });
      if (refused.length > 0) {
        return answer(res, 401, { type: 'error', error: { type: 'authentication_error', message: `upstream refused: ${refused.join('; ')}` } });
      }
      if (req.method !== 'POST' || path !== '/v1/messages') {
        return answer(res, 404, { type: 'error', error: { type: 'not_found_error', message: `no ${req.method} ${path}` } });
      }
      const last = body.messages?.at(-1)?.content;
      const text = `upstream heard: ${typeof last === 'string' ? last : JSON.stringify(last)}`;
      const id = `msg_${randomBytes(8).toString('hex')}`;
      const words = text.split(/(?=\s)/);
      const usage = { input_tokens: 7, output_tokens: words.length };
      if (!body.stream) {
        return answer(res, 200, {
          id, type: 'message', role: 'assistant', model: body.model, content: [{ type: 'text', text }],
          stop_reason: 'end_turn', stop_sequence: null, usage,
        });
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache' });
      const send = (type, data) => res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
      send('message_start', { message: { id, type: 'message', role: 'assistant', model: body.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: usage.input_tokens, output_tokens: 1 } } });
      send('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
      send('ping', {});
      for (const w of words) send('content_block_delta', { index: 0, delta: { type: 'text_delta', text: w } });
      send('content_block_stop', { index: 0 });
      send('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: usage.output_tokens } });
      send('message_stop', {});
      res.end();
    });
  });
  return new Promise((res) => server.listen(0, '127.0.0.1', () => res({
    url: `http://127.0.0.1:${server.address().port}`,
    requests,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(r); }),
  })));
}

function answer(res, status, body) {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}
