// DPoP (RFC 9449) for a browser UI talking to jwtgate, with nothing but WebCrypto:
// a key pair whose private half cannot be exported, a proof per request, and one
// retry when the server asks for its nonce. README.md ("### DPoP") shows this code.

const b64url = (bytes) => btoa(String.fromCharCode(...new Uint8Array(bytes)))
  .replaceAll('+', '-').replaceAll('/', '_').replaceAll('=', '');
const utf8 = (s) => new TextEncoder().encode(s);

export class DPoPClient {
  // create makes the key pair. extractable false: the private key never leaves
  // the browser (keep the CryptoKeyPair in IndexedDB to survive a reload).
  static async create() {
    const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
    const { kty, crv, x, y } = await crypto.subtle.exportKey('jwk', keys.publicKey);
    return new DPoPClient(keys, { kty, crv, x, y });
  }

  constructor(keys, jwk) {
    this.keys = keys;
    this.jwk = jwk; // the public key, as the proof's header carries it
    this.nonce = undefined; // the server's last DPoP-Nonce
  }

  // proof signs a proof for one request: htm the method, htu the URL without
  // query and fragment, ath the SHA-256 of the token it comes with.
  async proof(method, url, token) {
    const u = new URL(url);
    const claims = { jti: crypto.randomUUID(), htm: method, htu: u.origin + u.pathname, iat: Math.floor(Date.now() / 1000) };
    if (token) claims.ath = b64url(await crypto.subtle.digest('SHA-256', utf8(token)));
    if (this.nonce) claims.nonce = this.nonce;
    const header = { typ: 'dpop+jwt', alg: 'ES256', jwk: this.jwk };
    const input = `${b64url(utf8(JSON.stringify(header)))}.${b64url(utf8(JSON.stringify(claims)))}`;
    // WebCrypto's ECDSA signature is r||s, the form JWS wants.
    const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, this.keys.privateKey, utf8(input));
    return `${input}.${b64url(sig)}`;
  }

  // fetch is window.fetch with a fresh proof (and "Authorization: DPoP <token>"
  // when token is given). When jwtgate answers use_dpop_nonce (400 at POST
  // /sessions, 401 elsewhere) it retries once with the DPoP-Nonce it was sent;
  // a nonce on any answer is kept for the next proof. init.body must be
  // replayable (a string) for the retry.
  async fetch(url, init = {}, token) {
    for (let attempt = 0; ; attempt++) {
      const headers = new Headers(init.headers);
      headers.set('DPoP', await this.proof(init.method ?? 'GET', url, token));
      if (token) headers.set('Authorization', `DPoP ${token}`);
      const res = await fetch(url, { ...init, headers });
      const nonce = res.headers.get('DPoP-Nonce');
      if (nonce) this.nonce = nonce;
      if (attempt > 0 || !nonce || (res.status !== 400 && res.status !== 401)) return res;
      const challenge = res.headers.get('WWW-Authenticate') ?? '';
      const body = res.status === 400 ? await res.clone().json().catch(() => ({})) : {};
      if (!challenge.includes('error="use_dpop_nonce"') && body.error !== 'use_dpop_nonce') return res;
    }
  }

  // protocols returns the subprotocol entries that carry token and its proof on
  // a WebSocket, where a browser cannot set headers: new WebSocket(url,
  // ['realtime', ...await client.protocols(url, token)]). The proof names the
  // ws:// or wss:// URL, with htm GET.
  async protocols(url, token) {
    return [`jwtgate.bearer.${token}`, `jwtgate.dpop.${await this.proof('GET', url, token)}`];
  }
}
