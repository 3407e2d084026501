// What a browser UI on an origin of its own does with jwtgate, in the browser's own
// APIs (fetch, ReadableStream, WebSocket, WebCrypto), with no proxy in between.
// browser.test.mjs serves this page and calls these functions through the DevTools
// protocol; each returns plain data for the test to check, and catches nothing it
// should not.
import { DPoPClient } from './dpop.js';

// trade exchanges an API key for a session token at POST /sessions. X-API-Key makes
// this a non-simple request: the browser sends a preflight first.
async function trade(gate, apiKey) {
  const res = await fetch(`${gate}/sessions`, { method: 'POST', headers: { 'X-API-Key': apiKey } });
  const body = await res.json();
  return { status: res.status, token: body.access_token, tokenType: body.token_type };
}

// stream asks for a streamed chat completion and reads the server-sent events with
// getReader(), noting for each read() how many events it completed, so the test can
// tell events that arrived one by one from a body that came whole.
async function stream(gate, token, prompt) {
  const res = await fetch(`${gate}/chat/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: prompt }] }),
  });
  return readStream(res);
}

// readStream reads a streamed chat completion's events, as stream describes.
async function readStream(res) {
  const out = {
    status: res.status,
    contentType: res.headers.get('content-type'),
    requestId: res.headers.get('x-request-id'),
    eventsPerRead: [], // events completed by each read()
    firstEventRead: 0, // the read() (counted from 1) that completed the first event
    doneRead: 0, // the read() that completed "[DONE]"
    events: 0, // events before [DONE]
    text: '',
  };
  if (!res.ok) {
    out.body = await res.text();
    return out;
  }
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buf = '';
  for (let reads = 1; ; reads++) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let n = 0;
    for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
      const event = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trimStart()).join('\n');
      n++;
      if (data === '[DONE]') {
        out.doneRead = reads;
        continue;
      }
      out.events++;
      if (!out.firstEventRead) out.firstEventRead = reads;
      const chunk = JSON.parse(data);
      out.text += chunk.choices?.[0]?.delta?.content ?? '';
    }
    out.eventsPerRead.push(n);
  }
  return out;
}

// refused makes a call jwtgate refuses and reads what a cross-origin script may read
// of it only when jwtgate exposes it: WWW-Authenticate and X-Request-Id.
async function refused(gate, token) {
  const res = await fetch(`${gate}/chat/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
  });
  return {
    status: res.status,
    wwwAuthenticate: res.headers.get('www-authenticate'),
    requestId: res.headers.get('x-request-id'),
    body: await res.json(),
  };
}

// websocket opens a WebSocket with the token as a subprotocol entry (prefix + token)
// beside "realtime", sends each of messages after the previous answer, and closes.
function websocket(url, prefix, token, messages) {
  return websocketWith(url, [prefix + token], messages);
}

// websocketWith is websocket with the given credential entries beside "realtime".
function websocketWith(url, entries, messages) {
  return new Promise((resolve) => {
    const out = { opened: false, protocol: null, received: [], errors: 0, closeCode: 0 };
    const ws = new WebSocket(url, ['realtime', ...entries]);
    const next = () => {
      if (out.received.length < messages.length) ws.send(messages[out.received.length]);
      else ws.close(1000, 'done');
    };
    ws.onopen = () => {
      out.opened = true;
      out.protocol = ws.protocol;
      next();
    };
    ws.onmessage = (e) => {
      out.received.push(String(e.data));
      next();
    };
    ws.onerror = () => { out.errors++; };
    ws.onclose = (e) => {
      out.closeCode = e.code;
      resolve(out);
    };
  });
}

// blocked tries what a page on an origin jwtgate does not allow would: trading a key
// (preflighted), a simple GET, and a chat call with a token. Each should reject.
async function blocked(gate, apiKey, token) {
  const attempt = async (input, init) => {
    try {
      const res = await fetch(input, init);
      return { resolved: true, status: res.status };
    } catch (e) {
      return { resolved: false, name: e.name, message: e.message, isTypeError: e instanceof TypeError };
    }
  };
  return {
    sessions: await attempt(`${gate}/sessions`, { method: 'POST', headers: { 'X-API-Key': apiKey } }),
    simple: await attempt(`${gate}/healthz`),
    chat: await attempt(`${gate}/chat/chat/completions`, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] }),
    }),
  };
}

// The DPoP-bound session of the page (dpop.js): the key is made here, with
// WebCrypto, and never leaves the page.
let dpop;

// dpopKey makes the page's key pair and reports what a script can learn of it: the
// public JWK, and whether the private key can be exported (it must not be).
async function dpopKey() {
  dpop = await DPoPClient.create();
  let exported = true;
  try {
    await crypto.subtle.exportKey('jwk', dpop.keys.privateKey);
  } catch {
    exported = false;
  }
  return { jwk: dpop.jwk, extractable: dpop.keys.privateKey.extractable, exported };
}

// dpopBind trades apiKey for a session bound to the page's key: POST /sessions
// with a proof, retried once with the server's nonce.
async function dpopBind(gate, apiKey) {
  const res = await dpop.fetch(`${gate}/sessions`, { method: 'POST', headers: { 'X-API-Key': apiKey } });
  const body = await res.json();
  return { status: res.status, token: body.access_token, tokenType: body.token_type, nonce: dpop.nonce };
}

// dpopCall makes one call with the bound token and a proof.
async function dpopCall(gate, method, path, token) {
  const res = await dpop.fetch(`${gate}${path}`, { method }, token);
  return { status: res.status, body: await res.json(), wwwAuthenticate: res.headers.get('www-authenticate') };
}

// dpopStream is stream with the bound token and a proof.
async function dpopStream(gate, token, prompt) {
  const res = await dpop.fetch(`${gate}/chat/chat/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-4o-mini', stream: true, messages: [{ role: 'user', content: prompt }] }),
  }, token);
  return readStream(res);
}

// dpopRefresh renews the bound session with a proof.
async function dpopRefresh(gate, token) {
  const res = await dpop.fetch(`${gate}/sessions/refresh`, { method: 'POST' }, token);
  const body = await res.json();
  return { status: res.status, token: body.access_token, tokenType: body.token_type };
}

// dpopWebSocket is websocket with the bound token and its proof as subprotocol
// entries.
async function dpopWebSocket(url, token, messages) {
  const entries = await dpop.protocols(url, token);
  return websocketWith(url, entries, messages);
}

window.jwtgateClient = { trade, stream, refused, websocket, blocked, dpopKey, dpopBind, dpopCall, dpopStream, dpopRefresh, dpopWebSocket };
