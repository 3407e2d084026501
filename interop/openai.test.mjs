// The official openai SDK, unchanged, against jwtgate's built-in echo backend: the
// base URL is http://<jwtgate>/chat and the "API key" the SDK holds is the session
// token. Chat completions (streamed, with and without the usage chunk), models,
// Responses (streamed and not), and the errors an app acts on: an expired token
// (code token_expired, so the app refreshes) apart from a bad one (invalid_token).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { assertLogsClean, newAPIKey, session, start } from './lib/jwtgate.mjs';

const API_KEY = newAPIKey();
const PROMPT = 'the quick brown fox jumps over the lazy dog';
const MODEL = 'gpt-4o-mini';

let gate; // make run's defaults, logging at debug so every line a request makes is checked
let token;
let client;
const tokens = [];

before(async () => {
  gate = await start({ args: ['--log-level', 'debug'] });
  token = await session(gate.url, API_KEY);
  tokens.push(token);
  // maxRetries 0: a retried 5xx or 429 would hide a failure.
  client = new OpenAI({ baseURL: `${gate.url}/chat`, apiKey: token, maxRetries: 0 });
});

after(async () => {
  await gate?.stop();
});

test('openai: chat.completions.create, not streamed, answers with usage', async () => {
  const res = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: PROMPT }] });
  assert.equal(res.object, 'chat.completion');
  assert.equal(res.choices.length, 1);
  assert.equal(res.choices[0].message.role, 'assistant');
  assert.equal(res.choices[0].message.content, PROMPT);
  assert.equal(res.choices[0].finish_reason, 'stop');
  assert.ok(res.usage.prompt_tokens > 0 && res.usage.completion_tokens > 0, JSON.stringify(res.usage));
  assert.equal(res.usage.total_tokens, res.usage.prompt_tokens + res.usage.completion_tokens);
});

// streamChat collects the chunks of a streamed chat completion.
async function streamChat(extra = {}) {
  const stream = await client.chat.completions.create({
    model: MODEL, messages: [{ role: 'user', content: PROMPT }], stream: true, ...extra,
  });
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

test('openai: chat.completions.create streamed arrives in chunks, without a usage chunk unless asked', async () => {
  const chunks = await streamChat();
  assert.ok(chunks.length > 2, `chunks: ${chunks.length}`);
  for (const c of chunks) {
    assert.equal(c.object, 'chat.completion.chunk');
    assert.ok(!c.usage, `no usage without stream_options.include_usage: ${JSON.stringify(c)}`);
  }
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.equal(text, PROMPT);
  assert.equal(chunks.filter((c) => c.choices[0]?.delta?.content).length > 1, true, 'the text comes in more than one chunk');
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'stop');
});

test('openai: chat.completions.create streamed with stream_options.include_usage ends with the usage chunk', async () => {
  const chunks = await streamChat({ stream_options: { include_usage: true } });
  const withUsage = chunks.filter((c) => c.usage);
  assert.equal(withUsage.length, 1, 'exactly one chunk carries usage');
  const last = chunks.at(-1);
  assert.equal(withUsage[0], last, 'the usage chunk is the last one');
  assert.deepEqual(last.choices, [], 'the usage chunk has no choices');
  assert.ok(last.usage.prompt_tokens > 0 && last.usage.completion_tokens > 0, JSON.stringify(last.usage));
  assert.equal(last.usage.total_tokens, last.usage.prompt_tokens + last.usage.completion_tokens);
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
  assert.equal(text, PROMPT);
});

test('openai: models.list', async () => {
  const models = [];
  for await (const m of client.models.list()) models.push(m);
  assert.ok(models.length > 0, 'at least one model');
  for (const m of models) {
    assert.equal(typeof m.id, 'string');
    assert.ok(m.id.length > 0);
    assert.equal(m.object, 'model');
  }
});

test('openai: responses.create, not streamed', async () => {
  const res = await client.responses.create({ model: MODEL, input: PROMPT });
  assert.equal(res.object, 'response');
  assert.equal(res.status, 'completed');
  assert.ok(res.output_text.includes(PROMPT), `output_text: ${res.output_text}`);
  assert.ok(res.usage.input_tokens > 0 && res.usage.output_tokens > 0, JSON.stringify(res.usage));
  assert.equal(res.usage.total_tokens, res.usage.input_tokens + res.usage.output_tokens);
});

test('openai: responses.create streamed follows the Responses event sequence', async () => {
  const stream = await client.responses.create({ model: MODEL, input: PROMPT, stream: true });
  const events = [];
  for await (const e of stream) events.push(e);
  const types = events.map((e) => e.type);
  assert.equal(types[0], 'response.created');
  assert.equal(types.at(-1), 'response.completed');
  const deltas = events.filter((e) => e.type === 'response.output_text.delta');
  assert.ok(deltas.length > 1, `text deltas: ${deltas.length} in ${types.join(' ')}`);
  assert.ok(deltas.map((e) => e.delta).join('').includes(PROMPT));
  const done = events.find((e) => e.type === 'response.output_text.done');
  assert.ok(done, `a response.output_text.done event in ${types.join(' ')}`);
  assert.equal(done.text, deltas.map((e) => e.delta).join(''));
  // Every text event comes between the output item's added and done events.
  const added = types.indexOf('response.output_item.added');
  const itemDone = types.lastIndexOf('response.output_item.done');
  assert.ok(added > 0 && added < types.indexOf('response.output_text.delta'), types.join(' '));
  assert.ok(itemDone > types.indexOf('response.output_text.done'), types.join(' '));
  const completed = events.at(-1).response;
  assert.equal(completed.status, 'completed');
  assert.ok(completed.usage.total_tokens > 0, JSON.stringify(completed.usage));
  const seq = events.map((e) => e.sequence_number);
  assert.deepEqual(seq, [...seq].sort((a, b) => a - b), 'sequence numbers ascend');
});

test('openai: a token that is not jwtgate\'s gives AuthenticationError with code invalid_token', async () => {
  const bad = new OpenAI({ baseURL: `${gate.url}/chat`, apiKey: 'not-a-session-token', maxRetries: 0 });
  await assert.rejects(bad.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: PROMPT }] }), (err) => {
    assert.ok(err instanceof OpenAI.AuthenticationError, `${err?.constructor?.name}: ${err}`);
    assert.equal(err.status, 401);
    assert.equal(err.code, 'invalid_token');
    assert.match(err.headers.get('www-authenticate'), /^Bearer realm="jwtgate", error="invalid_token"/);
    return true;
  });
});

test('openai: an expired token gives AuthenticationError with code token_expired', async () => {
  // A server without leeway, and a session of one second: the token is expired once the
  // clock has passed its exp (waited for, never measured).
  const strict = await start({ env: { JWTGATE_JWT_LEEWAY: '0s' } });
  try {
    const res = await fetch(`${strict.url}/sessions`, {
      method: 'POST', headers: { 'X-API-Key': API_KEY, 'Content-Type': 'application/json' }, body: JSON.stringify({ ttl: 1 }),
    });
    assert.equal(res.status, 201);
    const { access_token: short, expires_at: expiresAt } = await res.json();
    tokens.push(short);
    const expired = Date.parse(expiresAt) + 1000; // exp is in whole seconds
    while (Date.now() <= expired) await new Promise((r) => setTimeout(r, expired - Date.now() + 50));

    const c = new OpenAI({ baseURL: `${strict.url}/chat`, apiKey: short, maxRetries: 0 });
    await assert.rejects(c.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: PROMPT }] }), (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, `${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 401);
      assert.equal(err.code, 'token_expired');
      assert.equal(err.type, 'authentication_error');
      assert.match(err.headers.get('www-authenticate'), /error="invalid_token"/);
      return true;
    });
    assertLogsClean(strict, [API_KEY, short, short.split('.')[2]]);
  } finally {
    await strict.stop();
  }
});

test('openai: no token or API key in jwtgate\'s log', () => {
  assertLogsClean(gate, [API_KEY, ...tokens, ...tokens.map((t) => t.split('.')[2])]);
});
