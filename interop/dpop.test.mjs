// DPoP (RFC 9449) interop: proofs made by libraries nobody on this project wrote,
// panva's dpop (the RFC 9449 client library) and jose, against the real binary.
//
// Each library's proofs bind a session at POST /sessions, reach /sessions/current
// (whose dpop_jkt must equal the library's own RFC 7638 thumbprint), the chat
// routes and refresh; the same proofs tampered with are refused, and so is the
// token with another key's proof. With dpop.require_nonce the library meets
// use_dpop_nonce (400 at POST /sessions, 401 on a protected route) and retries
// with the DPoP-Nonce it was handed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as DPoP from 'dpop';
import * as jose from 'jose';
import { assertLogsClean, newAPIKey, start } from './lib/jwtgate.mjs';

const API_KEY = newAPIKey();
const CHAT = JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'bound by a proof' }] });

let gate; // no nonces
let nonced; // dpop.require_nonce: true
const secrets = [API_KEY];

before(async () => {
  gate = await start({ env: { JWTGATE_LOG_LEVEL: 'debug', JWTGATE_CHAT_ECHO_DELAY: '1ms' } });
  nonced = await start({ env: { JWTGATE_LOG_LEVEL: 'debug', JWTGATE_DPOP_REQUIRE_NONCE: 'true', JWTGATE_CHAT_ECHO_DELAY: '1ms' } });
});

after(async () => {
  for (const s of [gate, nonced]) {
    if (!s) continue;
    await s.stop();
    assertLogsClean(s, secrets);
  }
});

// Proof makers, one per library: (method, url, token?, nonce?) => compact JWS.

/** panva's dpop: a non-extractable key made by the library itself. */
async function dpopLibrary(alg) {
  const keypair = await DPoP.generateKeyPair(alg);
  return {
    jkt: await DPoP.calculateThumbprint(keypair.publicKey),
    proof: (method, url, token, nonce) => DPoP.generateProof(keypair, url, method, nonce, token),
  };
}

/** jose: the proof assembled by hand from RFC 9449 section 4.2 and signed by jose. */
async function joseLibrary(alg, opts = {}) {
  const { privateKey, publicKey } = await jose.generateKeyPair(alg, opts);
  const jwk = await jose.exportJWK(publicKey);
  const ath = async (token) => jose.base64url.encode(new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(token))));
  return {
    jkt: await jose.calculateJwkThumbprint(jwk, 'sha256'),
    async proof(method, url, token, nonce) {
      const claims = { htm: method, htu: url, jti: randomUUID() };
      if (token) claims.ath = await ath(token);
      if (nonce) claims.nonce = nonce;
      return new jose.SignJWT(claims).setProtectedHeader({ alg, typ: 'dpop+jwt', jwk }).setIssuedAt().sign(privateKey);
    },
  };
}

const makers = [
  ['dpop ES256', () => dpopLibrary('ES256')],
  ['dpop Ed25519', () => dpopLibrary('Ed25519')],
  ['dpop RS256', () => dpopLibrary('RS256')],
  ['jose ES256', () => joseLibrary('ES256')],
  ['jose EdDSA', () => joseLibrary('EdDSA', { crv: 'Ed25519' })],
  ['jose RS256', () => joseLibrary('RS256', { modulusLength: 2048 })],
];

/**
 * call sends one request with a fresh proof by client (the DPoP scheme when token
 * is given), and when the server answers use_dpop_nonce retries once with the
 * DPoP-Nonce it sent, as RFC 9449 section 8 has clients do. It returns the
 * response and the body text; client.nonce keeps the last nonce seen.
 */
async function call(server, client, method, path, { token, headers = {}, body } = {}) {
  for (let attempt = 0; ; attempt++) {
    const proof = await client.proof(method, server.url + path, token, client.nonce);
    const h = { ...headers, DPoP: proof };
    if (token) h.Authorization = `DPoP ${token}`;
    if (body !== undefined) h['Content-Type'] = 'application/json';
    const res = await fetch(server.url + path, { method, headers: h, body });
    const text = await res.text();
    if (res.headers.get('dpop-nonce')) client.nonce = res.headers.get('dpop-nonce');
    const askedForNonce = (res.headers.get('www-authenticate') ?? '').includes('error="use_dpop_nonce"') || text.includes('"use_dpop_nonce"');
    if (attempt === 0 && askedForNonce) continue;
    return { res, text, proof };
  }
}

/** bind opens a session bound to client's key and returns its token. */
async function bind(server, client) {
  const { res, text } = await call(server, client, 'POST', '/sessions', { headers: { 'X-API-Key': API_KEY } });
  assert.equal(res.status, 201, text);
  const body = JSON.parse(text);
  assert.equal(body.token_type, 'DPoP');
  secrets.push(body.access_token);
  return body.access_token;
}

// tamperings turn a valid proof into one that must be refused.
const b64 = (s) => Buffer.from(s, 'base64url').toString();
const enc = (s) => Buffer.from(s).toString('base64url');
const tamperings = {
  'signature flipped': (p) => { const i = p.length - 5; return p.slice(0, i) + (p[i] === 'A' ? 'B' : 'A') + p.slice(i + 1); },
  'signature stripped': (p) => p.slice(0, p.lastIndexOf('.') + 1),
  'htu changed, not re-signed': (p) => {
    const [h, c, s] = p.split('.');
    const claims = JSON.parse(b64(c));
    claims.htu = claims.htu.replace('/chat/', '/chat/x/');
    return [h, enc(JSON.stringify(claims)), s].join('.');
  },
  'alg none': (p) => {
    const [h, c] = p.split('.');
    const header = JSON.parse(b64(h));
    header.alg = 'none';
    return [enc(JSON.stringify(header)), c, ''].join('.');
  },
  'typ JWT': (p) => {
    const [h, c, s] = p.split('.');
    const header = JSON.parse(b64(h));
    header.typ = 'JWT';
    return [enc(JSON.stringify(header)), c, s].join('.');
  },
};

for (const [name, make] of makers) {
  test(`${name}: binds a session, is accepted on every route, refused when tampered`, async () => {
    const client = await make();
    const token = await bind(gate, client);

    const cur = await call(gate, client, 'GET', '/sessions/current', { token });
    assert.equal(cur.res.status, 200, cur.text);
    assert.equal(JSON.parse(cur.text).dpop_jkt, client.jkt, "jwtgate's thumbprint is the library's");

    const chat = await call(gate, client, 'POST', '/chat/chat/completions', { token, body: CHAT });
    assert.equal(chat.res.status, 200, chat.text);
    assert.equal(JSON.parse(chat.text).choices[0].message.content, 'bound by a proof');

    for (const [how, tamper] of Object.entries(tamperings)) {
      const fresh = await client.proof('POST', `${gate.url}/chat/chat/completions`, token);
      const res = await fetch(`${gate.url}/chat/chat/completions`, {
        method: 'POST', body: CHAT,
        headers: { 'Content-Type': 'application/json', Authorization: `DPoP ${token}`, DPoP: tamper(fresh) },
      });
      const text = await res.text();
      assert.equal(res.status, 401, `${how}: ${text}`);
      assert.match(res.headers.get('www-authenticate'), /^DPoP realm="jwtgate", error="invalid_dpop_proof", .*algs="ES256 EdDSA RS256"$/, how);
      assert.equal(JSON.parse(text).error.code, 'invalid_token', how);
      // The untampered proof was never sent, so it still works: the refusal
      // was for the tampering alone.
      const ok = await fetch(`${gate.url}/chat/chat/completions`, {
        method: 'POST', body: CHAT,
        headers: { 'Content-Type': 'application/json', Authorization: `DPoP ${token}`, DPoP: fresh },
      });
      assert.equal(ok.status, 200, `${how}: the mended proof: ${await ok.text()}`);
    }

    // Replayed, by another key, and the token without its proof.
    const replay = await fetch(`${gate.url}/chat/chat/completions`, {
      method: 'POST', body: CHAT, headers: { 'Content-Type': 'application/json', Authorization: `DPoP ${token}`, DPoP: chat.proof },
    });
    assert.equal(replay.status, 401);
    assert.match(replay.headers.get('www-authenticate'), /DPoP proof has been used before/);
    const thief = await make();
    const stolen = await call(gate, thief, 'POST', '/chat/chat/completions', { token, body: CHAT });
    assert.equal(stolen.res.status, 401, stolen.text);
    assert.match(stolen.res.headers.get('www-authenticate'), /key does not match the token's binding/);
    const bearer = await fetch(`${gate.url}/chat/chat/completions`, {
      method: 'POST', body: CHAT, headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
    });
    assert.equal(bearer.status, 401);
    assert.match(bearer.headers.get('www-authenticate'), /^DPoP realm="jwtgate", error="invalid_token"/);

    const refreshed = await call(gate, client, 'POST', '/sessions/refresh', { token });
    assert.equal(refreshed.res.status, 200, refreshed.text);
    const next = JSON.parse(refreshed.text);
    secrets.push(next.access_token);
    assert.equal(next.token_type, 'DPoP');
    const after = await call(gate, client, 'GET', '/sessions/current', { token: next.access_token });
    assert.equal(JSON.parse(after.text).dpop_jkt, client.jkt, 'the refreshed token stays bound');
  });
}

for (const [name, make] of [makers[0], makers[3]]) {
  test(`${name}: meets use_dpop_nonce and retries with the server's nonce`, async () => {
    const client = await make();
    const first = await fetch(`${nonced.url}/sessions`, {
      method: 'POST', headers: { 'X-API-Key': API_KEY, DPoP: await client.proof('POST', `${nonced.url}/sessions`) },
    });
    const body = await first.json();
    assert.equal(first.status, 400);
    assert.equal(body.error, 'use_dpop_nonce');
    assert.ok(first.headers.get('dpop-nonce'), 'a DPoP-Nonce comes with use_dpop_nonce');

    const token = await bind(nonced, client); // retries with the nonce by itself
    assert.ok(client.nonce);
    const chat = await call(nonced, client, 'POST', '/chat/chat/completions', { token, body: CHAT });
    assert.equal(chat.res.status, 200, chat.text);

    // Without the nonce, a protected route answers 401 with the nonce to use.
    const bare = await fetch(`${nonced.url}/chat/models`, {
      headers: { Authorization: `DPoP ${token}`, DPoP: await client.proof('GET', `${nonced.url}/chat/models`, token) },
    });
    assert.equal(bare.status, 401);
    assert.match(bare.headers.get('www-authenticate'), /^DPoP realm="jwtgate", error="use_dpop_nonce"/);
    assert.equal(bare.headers.get('dpop-nonce'), client.nonce);
  });
}
