// Interoperability of jwtgate with jose, a JWT library nobody on this project wrote.
//
// 1. jose verifies jwtgate's EdDSA, ES256 and RS256 tokens through the published JWKS.
// 2. jwtgate accepts a token that jose signed with the configured HMAC secret in plain mode,
//    and refuses one signed with another secret.
//
// The keys are made here by jose (PKCS#8) and loaded by jwtgate, so key formats are
// checked in that direction too. JWTGATE_BIN names the binary (make test builds it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as jose from 'jose';

const BIN = resolve(process.env.JWTGATE_BIN ?? '../bin/jwtgate');
const API_KEY = 'sk-interop-' + randomBytes(12).toString('hex');
const HMAC_SECRET = randomBytes(32).toString('base64url'); // 43 bytes of text
const ISSUER = 'jwtgate-interop';
const AUDIENCE = 'interop-aud';

let dir;
const servers = [];

// unkeyedDigest is what jwtgate's API-key fingerprint must NOT be: the first 8 bytes of
// the key's plain SHA-256, which anyone holding a token could test guesses of the key
// against. jwtgate's fingerprint has that shape but is an HMAC under a key derived from
// the deployment's seal secret, so this test cannot compute it: it takes it from jwtgate.
const unkeyedDigest = (s) => createHash('sha256').update(s).digest('hex').slice(0, 16);
const FINGERPRINT = /^[0-9a-f]{16}$/;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'jwtgate-interop-'));
  const keys = [`  - kid: hs\n    alg: HS256\n    secret_file: ${join(dir, 'hs.secret')}`];
  writeFileSync(join(dir, 'hs.secret'), HMAC_SECRET, { mode: 0o600 });
  for (const [kid, alg, opts] of [
    ['ed', 'EdDSA', { crv: 'Ed25519', extractable: true }],
    ['es', 'ES256', { extractable: true }],
    ['rs', 'RS256', { modulusLength: 2048, extractable: true }],
  ]) {
    const { privateKey } = await jose.generateKeyPair(alg, opts);
    writeFileSync(join(dir, `${kid}.pem`), await jose.exportPKCS8(privateKey), { mode: 0o600 });
    keys.push(`  - kid: ${kid}\n    alg: ${alg}\n    private_key_file: ${join(dir, `${kid}.pem`)}`);
  }
  writeFileSync(join(dir, 'jwtgate.yaml'), [
    'jwt:',
    `  issuer: ${ISSUER}`,
    `  audience: ${AUDIENCE}`,
    '  api_key_claim: plain',
    '  signing_key: hs',
    '  keys:',
    ...keys,
    'log:',
    '  level: warn',
    '',
  ].join('\n'));
});

after(() => {
  for (const s of servers) s.kill('SIGTERM');
  if (dir) rmSync(dir, { recursive: true, force: true });
});

// start runs jwtgate on a free loopback port, signing with kid, and resolves to its base URL.
function start(kid) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(BIN, ['serve', '--config', join(dir, 'jwtgate.yaml'), '--addr', '127.0.0.1:0', '--log-level', 'info'], {
      env: { ...process.env, JWTGATE_JWT_SIGNING_KEY: kid },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    servers.push(child);
    let buf = '';
    const timer = setTimeout(() => reject(new Error(`jwtgate did not start: ${buf}`)), 30000);
    child.on('exit', (code) => reject(new Error(`jwtgate exited with ${code}: ${buf}`)));
    child.stderr.on('data', (chunk) => {
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

async function issue(base) {
  const res = await fetch(`${base}/sessions`, { method: 'POST', headers: { 'X-API-Key': API_KEY } });
  assert.equal(res.status, 201);
  return (await res.json()).access_token;
}

for (const [kid, alg, kty] of [['ed', 'EdDSA', 'OKP'], ['es', 'ES256', 'EC'], ['rs', 'RS256', 'RSA']]) {
  test(`jose verifies a jwtgate ${alg} token through the JWKS`, async () => {
    const base = await start(kid);
    const token = await issue(base);

    const res = await fetch(`${base}/.well-known/jwks.json`);
    assert.equal(res.status, 200);
    const jwks = await res.json();
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), ['ed', 'es', 'rs'], 'HMAC keys must not be published');
    for (const k of jwks.keys) {
      assert.equal(k.use, 'sig');
      for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal(k[priv], undefined, `private member ${priv}`);
    }
    assert.equal(jwks.keys.find((k) => k.kid === kid).kty, kty);

    const { payload, protectedHeader } = await jose.jwtVerify(token, jose.createLocalJWKSet(jwks), {
      issuer: ISSUER, audience: AUDIENCE, algorithms: [alg],
    });
    assert.equal(protectedHeader.kid, kid);
    assert.equal(protectedHeader.typ, 'JWT');
    assert.equal(payload.ak, API_KEY);
    assert.match(payload.akf, FINGERPRINT);
    assert.notEqual(payload.akf, unkeyedDigest(API_KEY), 'the fingerprint must be keyed');
    // Stable within the deployment: a second session of the key has the same one.
    assert.equal(jose.decodeJwt(await issue(base)).akf, payload.akf);

    // A changed payload under the same signature fails in jose too.
    const [h, , s] = token.split('.');
    const forged = [h, jose.base64url.encode(JSON.stringify({ ...payload, sub: 'admin' })), s].join('.');
    await assert.rejects(jose.jwtVerify(forged, jose.createLocalJWKSet(jwks), { algorithms: [alg] }));
  });
}

// sign makes a jwtgate-shaped plain-mode token with jose, carrying the fingerprint akf.
async function sign(secret, akf, now = Math.floor(Date.now() / 1000)) {
  return new jose.SignJWT({ sid: randomBytes(16).toString('hex'), sst: now, akf, ak: API_KEY })
    .setProtectedHeader({ alg: 'HS256', kid: 'hs', typ: 'JWT' })
    .setIssuer(ISSUER).setAudience(AUDIENCE).setSubject('jose-user')
    .setIssuedAt(now).setNotBefore(now).setExpirationTime(now + 300)
    .setJti(randomBytes(16).toString('hex'))
    .sign(new TextEncoder().encode(secret));
}

test('jwtgate accepts a token jose signed with the configured HMAC secret', async () => {
  const base = await start('hs');
  // The key's fingerprint under this deployment's keys, from a session jwtgate issued.
  const akf = jose.decodeJwt(await issue(base)).akf;
  assert.match(akf, FINGERPRINT);
  const res = await fetch(`${base}/sessions/current`, { headers: { Authorization: `Bearer ${await sign(HMAC_SECRET, akf)}` } });
  assert.equal(res.status, 200);
  const body = await res.json();
  assert.equal(body.subject, 'jose-user');
  assert.equal(body.api_key_fingerprint, akf);
  assert.ok(!JSON.stringify(body).includes(API_KEY), 'response must not carry the key');

  // The unkeyed digest is no fingerprint jwtgate accepts, even under the right secret.
  const unkeyed = await fetch(`${base}/sessions/current`, { headers: { Authorization: `Bearer ${await sign(HMAC_SECRET, unkeyedDigest(API_KEY))}` } });
  assert.equal(unkeyed.status, 401);
  assert.equal((await unkeyed.json()).error_description, 'token has an invalid API key claim');

  const bad = await fetch(`${base}/sessions/current`, { headers: { Authorization: `Bearer ${await sign('another-secret-of-at-least-32-bytes!!', akf)}` } });
  assert.equal(bad.status, 401);
  assert.match(bad.headers.get('www-authenticate'), /error="invalid_token"/);
  assert.equal((await bad.json()).error_description, 'token signature is invalid');
});
