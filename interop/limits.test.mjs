// Session limits as the official openai SDK meets them: a session made for one model
// with capped answers, used through jwtgate as the SDK's base URL.
//
// 1. A model the session may not use is refused before anything is forwarded: the SDK
//    throws a PermissionDeniedError (403) whose .code is model_not_allowed.
// 2. The allowed model goes through, and the upstream receives the cap jwtgate added.
//
// The upstream is a loopback server here that records what it receives. JWTGATE_BIN
// names the binary (make test builds it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import OpenAI from 'openai';

const BIN = resolve(process.env.JWTGATE_BIN ?? '../bin/jwtgate');
const API_KEY = 'sk-interop-' + randomBytes(12).toString('hex');

let upstream;
let jwtgate;
let base;
const received = [];

before(async () => {
  upstream = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (chunk) => { body += chunk; });
    req.on('end', () => {
      received.push({ method: req.method, path: req.url, authorization: req.headers.authorization, body });
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({
        id: 'chatcmpl-up', object: 'chat.completion', created: 1, model: 'gpt-4o-mini',
        choices: [{ index: 0, message: { role: 'assistant', content: 'hello' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 },
      }));
    });
  });
  await new Promise((ok) => upstream.listen(0, '127.0.0.1', ok));
  base = await start({
    JWTGATE_JWT_SECRET: randomBytes(32).toString('base64url'),
    JWTGATE_CHAT_UPSTREAM_URL: `http://127.0.0.1:${upstream.address().port}/v1`,
  });
});

after(() => {
  jwtgate?.kill('SIGTERM');
  upstream?.close();
});

// start runs jwtgate on a free loopback port with env and resolves to its base URL.
function start(env) {
  return new Promise((resolvePromise, reject) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('JWTGATE_')));
    jwtgate = spawn(BIN, ['serve', '--addr', '127.0.0.1:0', '--log-level', 'info'], {
      env: { ...clean, ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`jwtgate did not start: ${buf}`)), 30000);
    jwtgate.on('exit', (code) => reject(new Error(`jwtgate exited with ${code}: ${buf}`)));
    jwtgate.stderr.on('data', (chunk) => {
      buf += chunk;
      for (const line of buf.split('\n')) {
        try {
          const rec = JSON.parse(line);
          if (rec.msg === 'listening' && rec.addr) {
            clearTimeout(timer);
            resolvePromise(`http://${rec.addr}`);
          }
        } catch { /* not a whole JSON line yet */ }
      }
    });
  });
}

// session is what an extension does: trade the key for a token limited to one
// model, chat completions only, answers of at most 256 tokens.
async function session() {
  const res = await fetch(`${base}/sessions`, {
    method: 'POST',
    headers: { 'X-API-Key': API_KEY, 'Content-Type': 'application/json' },
    body: JSON.stringify({ limits: { models: ['gpt-4o-mini'], paths: ['/chat/completions'], max_output_tokens: 256 } }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return (await res.json()).access_token;
}

test('the openai SDK gets a 403 model_not_allowed for a model the session may not use', async () => {
  const client = new OpenAI({ apiKey: await session(), baseURL: `${base}/chat`, maxRetries: 0 });
  received.length = 0;
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hi' }] }),
    (err) => {
      assert.ok(err instanceof OpenAI.PermissionDeniedError, `got ${err?.constructor?.name}: ${err}`);
      assert.equal(err.status, 403);
      assert.equal(err.code, 'model_not_allowed');
      assert.equal(err.type, 'permission_error');
      assert.match(err.message, /gpt-4o-mini/);
      return true;
    },
  );
  assert.equal(received.length, 0, 'nothing may reach the upstream');
});

test('the openai SDK gets a 400 max_output_tokens_exceeded past the cap, and 403 path_not_allowed elsewhere', async () => {
  const client = new OpenAI({ apiKey: await session(), baseURL: `${base}/chat`, maxRetries: 0 });
  received.length = 0;
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o-mini', max_completion_tokens: 4096, messages: [{ role: 'user', content: 'hi' }] }),
    (err) => err instanceof OpenAI.BadRequestError && err.code === 'max_output_tokens_exceeded',
  );
  await assert.rejects(
    client.embeddings.create({ model: 'gpt-4o-mini', input: 'hi' }),
    (err) => err instanceof OpenAI.PermissionDeniedError && err.code === 'path_not_allowed',
  );
  assert.equal(received.length, 0, 'nothing may reach the upstream');
});

test('the allowed model goes through with the cap added', async () => {
  const client = new OpenAI({ apiKey: await session(), baseURL: `${base}/chat`, maxRetries: 0 });
  received.length = 0;
  const completion = await client.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  assert.equal(completion.choices[0].message.content, 'hello');
  assert.equal(received.length, 1);
  const [got] = received;
  assert.equal(got.path, '/v1/chat/completions');
  assert.equal(got.authorization, `Bearer ${API_KEY}`);
  const body = JSON.parse(got.body);
  assert.equal(body.model, 'gpt-4o-mini');
  assert.equal(body.max_completion_tokens, 256);
  assert.deepEqual(body.messages, [{ role: 'user', content: 'hi' }]);
});
