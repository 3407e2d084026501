// The Vercel AI SDK (ai with @ai-sdk/openai), unchanged, against jwtgate's built-in echo
// backend: createOpenAI({ baseURL: http://<jwtgate>/chat, apiKey: <session token> }).
// Its default model speaks the Responses API; .chat() speaks chat completions.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateText, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { assertLogsClean, newAPIKey, session, start } from './lib/jwtgate.mjs';

const API_KEY = newAPIKey();
const PROMPT = 'pack my box with five dozen liquor jugs';

let gate;
let token;
let provider;
let urls; // what the SDK asked for; the requests themselves are the SDK's own

before(async () => {
  gate = await start({ args: ['--log-level', 'debug'] });
  token = await session(gate.url, API_KEY);
  provider = createOpenAI({
    baseURL: `${gate.url}/chat`,
    apiKey: token,
    fetch: (url, init) => { urls.push(new URL(String(url)).pathname); return fetch(url, init); },
  });
});

after(async () => {
  await gate?.stop();
});

test('ai: generateText with the default model (Responses API)', async () => {
  urls = [];
  const result = await generateText({ model: provider('gpt-4o-mini'), prompt: PROMPT, maxRetries: 0 });
  assert.deepEqual(urls, ['/chat/responses']);
  assert.ok(result.text.includes(PROMPT), `text: ${result.text}`);
  assert.equal(result.finishReason, 'stop');
  assert.ok(result.usage.inputTokens > 0 && result.usage.outputTokens > 0, JSON.stringify(result.usage));
});

test('ai: streamText with the default model (Responses API) streams the text in parts', async () => {
  urls = [];
  const errors = [];
  const result = streamText({ model: provider('gpt-4o-mini'), prompt: PROMPT, maxRetries: 0, onError: ({ error }) => errors.push(error) });
  const parts = [];
  for await (const part of result.textStream) parts.push(part);
  assert.deepEqual(errors, []);
  assert.deepEqual(urls, ['/chat/responses']);
  assert.ok(parts.length > 1, `parts: ${JSON.stringify(parts)}`);
  assert.ok(parts.join('').includes(PROMPT), `text: ${parts.join('')}`);
  assert.equal(await result.finishReason, 'stop');
  const usage = await result.usage;
  assert.ok(usage.inputTokens > 0 && usage.outputTokens > 0, JSON.stringify(usage));
});

test('ai: generateText and streamText with the chat-completions model', async () => {
  urls = [];
  const gen = await generateText({ model: provider.chat('gpt-4o-mini'), prompt: PROMPT, maxRetries: 0 });
  assert.equal(gen.text, PROMPT);
  assert.ok(gen.usage.totalTokens > 0, JSON.stringify(gen.usage));

  const errors = [];
  const streamed = streamText({ model: provider.chat('gpt-4o-mini'), prompt: PROMPT, maxRetries: 0, onError: ({ error }) => errors.push(error) });
  const parts = [];
  for await (const part of streamed.textStream) parts.push(part);
  assert.deepEqual(errors, []);
  assert.ok(parts.length > 1, `parts: ${JSON.stringify(parts)}`);
  assert.equal(parts.join(''), PROMPT);
  assert.deepEqual(urls, ['/chat/chat/completions', '/chat/chat/completions']);
});

test('ai: no token or API key in jwtgate\'s log', () => {
  assertLogsClean(gate, [API_KEY, token, token.split('.')[2]]);
});
