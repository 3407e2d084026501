package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// DPoP load (RFC 9449). With -dpop es256 the generator makes a P-256 key at start,
// binds a session to it at POST /sessions with a proof of that key (-dpop-session,
// by default the -url's origin and /sessions, with -dpop-api-key as X-API-Key),
// and sends every request as a browser holding a bound token does:
// "Authorization: DPoP <token>" and a DPoP header with a proof of its own, whose
// jti is 16 fresh random bytes, iat the time it was signed, htm and htu the
// request's method and URL (no query), and ath the token's SHA-256.
//
// Signing happens ahead of the requests, not in them: signer goroutines (one per
// GOMAXPROCS) fill a buffered channel of -dpop-buffer proofs and a request takes the
// next one, which costs a channel receive. The load generator still pays for the
// signatures with its CPU, but while its workers wait for responses rather than
// between a response and the next request, so with the buffer full the signing
// neither adds to the measured latency nor holds back the next request; the cpu
// field tells whether the generator's core was the limit, and dpop.waits counts
// the requests that found the buffer empty and did wait for a signature.
//
// A proof is accepted only for dpop.max_age after its iat, so the buffer is
// bounded (it holds -dpop-buffer proofs, a fraction of a second at the rates
// jwtgate serves) and a proof older than half of -dpop-max-age when its turn
// comes (a slow route, a stall) is dropped unsent and counted in dpop.stale.
// Server nonces (dpop.require_nonce) are not supported: a proof signed ahead
// cannot carry a nonce the server has not sent yet.

// Bounds and defaults of the DPoP flags.
const (
	defaultProofBuffer = 1024
	maxProofBuffer     = 1 << 16
	defaultProofMaxAge = 60 * time.Second // jwtgate's default dpop.max_age
	minProofMaxAge     = 2 * time.Second
	maxSessionResponse = 64 << 10
)

// errNonceRequired means the server wants DPoP nonces, which loadgen does not send.
var errNonceRequired = errors.New("the server requires DPoP nonces (dpop.require_nonce), which loadgen does not send")

var b64 = base64.RawURLEncoding

// dpopFlags are the raw -dpop* flags.
type dpopFlags struct {
	alg, session, apiKey string
	maxAge               time.Duration
	buffer               int
}

// dpopConfig is the checked DPoP configuration of a run; nil: no DPoP.
type dpopConfig struct {
	session *url.URL // where POST /sessions binds the session
	apiKey  string
	maxAge  time.Duration // the server's dpop.max_age
	buffer  int           // proofs signed ahead
}

func registerDPoPFlags(fs *flag.FlagSet) *dpopFlags {
	f := &dpopFlags{}
	fs.StringVar(&f.alg, "dpop", "", `"es256": bind a session to a P-256 key made at start and send each request with a fresh DPoP proof (RFC 9449)`)
	fs.StringVar(&f.session, "dpop-session", "", "with -dpop: the POST /sessions URL that binds the session (default: the -url's origin and /sessions)")
	fs.StringVar(&f.apiKey, "dpop-api-key", "", "with -dpop: the API key sent as X-API-Key to -dpop-session (a benchmark-only key)")
	fs.DurationVar(&f.maxAge, "dpop-max-age", defaultProofMaxAge, "with -dpop: the server's dpop.max_age; a proof signed ahead and older than half of it is dropped unsent")
	fs.IntVar(&f.buffer, "dpop-buffer", defaultProofBuffer, fmt.Sprintf("with -dpop: proofs signed ahead of the requests (1 to %d)", maxProofBuffer))
	return f
}

// config checks the flags against the rest of o; nil without -dpop.
func (f *dpopFlags) config(o options) (*dpopConfig, error) {
	if f.alg == "" {
		if f.session != "" || f.apiKey != "" {
			return nil, errors.New("-dpop-session and -dpop-api-key need -dpop es256")
		}
		return nil, nil
	}
	if !strings.EqualFold(f.alg, "es256") {
		return nil, fmt.Errorf("-dpop %q: want es256", f.alg)
	}
	for _, h := range []string{"Authorization", "DPoP"} {
		if o.header.Get(h) != "" {
			return nil, fmt.Errorf("-dpop sets the %s header itself; do not pass it with -header", h)
		}
	}
	if f.apiKey == "" {
		return nil, errors.New("-dpop needs -dpop-api-key to bind a session")
	}
	raw := f.session
	if raw == "" {
		raw = (&url.URL{Scheme: o.target.Scheme, Host: o.target.Host, Path: "/sessions"}).String()
	}
	u, err := loopbackURL(raw)
	if err != nil {
		return nil, fmt.Errorf("-dpop-session: %w", err)
	}
	switch {
	case f.maxAge < minProofMaxAge || f.maxAge > maxDuration:
		return nil, fmt.Errorf("-dpop-max-age %v: want %v to %v", f.maxAge, minProofMaxAge, maxDuration)
	case f.buffer < 1 || f.buffer > maxProofBuffer:
		return nil, fmt.Errorf("-dpop-buffer %d: want 1 to %d", f.buffer, maxProofBuffer)
	}
	return &dpopConfig{session: u, apiKey: f.apiKey, maxAge: f.maxAge, buffer: f.buffer}, nil
}

// proofKey is a client's ES256 DPoP key with its JOSE header, encoded once.
type proofKey struct {
	priv *ecdsa.PrivateKey
	head string // base64url of the header, then "."
}

func newProofKey() (*proofKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating a P-256 key: %w", err)
	}
	pt, err := priv.PublicKey.Bytes() // 0x04 || x || y
	if err != nil {
		return nil, fmt.Errorf("encoding the P-256 key: %w", err)
	}
	head, err := json.Marshal(struct {
		Typ string            `json:"typ"`
		Alg string            `json:"alg"`
		JWK map[string]string `json:"jwk"`
	}{"dpop+jwt", "ES256", map[string]string{"kty": "EC", "crv": "P-256", "x": b64.EncodeToString(pt[1:33]), "y": b64.EncodeToString(pt[33:])}})
	if err != nil {
		return nil, fmt.Errorf("encoding the proof header: %w", err)
	}
	return &proofKey{priv: priv, head: b64.EncodeToString(head) + "."}, nil
}

// proofClaims are the claims of one proof.
type proofClaims struct {
	JTI string `json:"jti"`
	HTM string `json:"htm"`
	HTU string `json:"htu"`
	IAT int64  `json:"iat"`
	ATH string `json:"ath,omitempty"`
}

// proof signs a proof for htm and htu issued at iat, with ath when not empty.
func (k *proofKey) proof(htm, htu, ath string, iat time.Time) (string, error) {
	var jti [16]byte
	rand.Read(jti[:]) // never fails (crypto/rand, Go 1.24+)
	claims, err := json.Marshal(proofClaims{JTI: b64.EncodeToString(jti[:]), HTM: htm, HTU: htu, IAT: iat.Unix(), ATH: ath})
	if err != nil {
		return "", fmt.Errorf("encoding the proof claims: %w", err)
	}
	si := k.head + b64.EncodeToString(claims)
	digest := sha256.Sum256([]byte(si))
	r, s, err := ecdsa.Sign(rand.Reader, k.priv, digest[:])
	if err != nil {
		return "", fmt.Errorf("signing a proof: %w", err)
	}
	var sig [64]byte // JWS ES256: r || s, 32 bytes each (RFC 7518 section 3.4)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return si + "." + b64.EncodeToString(sig[:]), nil
}

// tokenATH is the ath claim for token: the base64url SHA-256 of its ASCII.
func tokenATH(token string) string {
	h := sha256.Sum256([]byte(token))
	return b64.EncodeToString(h[:])
}

// proofURL is the htu of a request to u: the URL without query and fragment, with
// the Host header's authority when one is set, as the server sees it.
func proofURL(u *url.URL, header http.Header) string {
	v := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	if h := header.Get("Host"); h != "" {
		v.Host = h
	}
	return v.String()
}

// bindSession asks jwtgate for a session bound to k and returns its token.
func bindSession(ctx context.Context, client *http.Client, cfg *dpopConfig, k *proofKey) (string, error) {
	p, err := k.proof(http.MethodPost, proofURL(cfg.session, nil), "", time.Now())
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.session.String(), http.NoBody)
	if err != nil {
		return "", fmt.Errorf("binding a session: %w", err)
	}
	req.Header.Set("X-API-Key", cfg.apiKey)
	req.Header.Set("DPoP", p)
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("binding a session: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSessionResponse))
	if err != nil {
		return "", fmt.Errorf("binding a session: reading the response: %w", err)
	}
	var s struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	jsonErr := json.Unmarshal(body, &s)
	switch {
	case s.Error == "use_dpop_nonce": // 400 at POST /sessions (RFC 9449 section 8), 401 elsewhere
		return "", fmt.Errorf("binding a session: %w", errNonceRequired)
	case resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated:
		return "", fmt.Errorf("binding a session: POST %s answered %s (%s: %s)", cfg.session.Path, resp.Status, s.Error, s.Description)
	case jsonErr != nil:
		return "", fmt.Errorf("binding a session: decoding the response: %w", jsonErr)
	case s.AccessToken == "":
		return "", errors.New("binding a session: the response has no access_token")
	case !strings.EqualFold(s.TokenType, "DPoP"):
		return "", fmt.Errorf("binding a session: the server issued a %q token, not a DPoP-bound one", s.TokenType)
	}
	return s.AccessToken, nil
}

// signedProof is a proof signed ahead, with when it was signed.
type signedProof struct {
	jws string
	at  time.Time
}

// proofSource hands out the proofs its signers make for one request target.
type proofSource struct {
	token string        // the bound token, sent as "Authorization: DPoP <token>"
	fresh time.Duration // a proof older than this when taken is dropped
	ch    chan signedProof

	done   chan struct{} // closed by stop
	failed chan struct{} // closed when a signer failed; err holds why
	err    error
	once   sync.Once
	wg     sync.WaitGroup

	signed, stale, waits atomic.Uint64
}

// dpopSum is the DPoP part of the result, counted over the whole run (warm-up
// included); zero without -dpop.
type dpopSum struct {
	// Signed is the number of proofs signed, those left in the buffer included.
	Signed uint64 `json:"signed"`
	// Stale is the number of proofs dropped unsent for their age.
	Stale uint64 `json:"stale"`
	// Waits is the number of requests that found no proof ready and waited for one.
	Waits uint64 `json:"waits"`
}

// startProofs binds a session as o.dpop says and starts signing proofs for o's
// requests; nil without -dpop. stop ends the signers.
func startProofs(ctx context.Context, o options, client *http.Client) (*proofSource, error) {
	if o.dpop == nil {
		return nil, nil
	}
	k, err := newProofKey()
	if err != nil {
		return nil, err
	}
	tok, err := bindSession(ctx, client, o.dpop, k)
	if err != nil {
		return nil, err
	}
	return newProofSource(k, tok, o.method, proofURL(o.target, o.header), o.dpop, runtime.GOMAXPROCS(0)), nil
}

// newProofSource starts signers goroutines signing proofs by k for htm and htu
// with the ath of tok.
func newProofSource(k *proofKey, tok, htm, htu string, cfg *dpopConfig, signers int) *proofSource {
	p := &proofSource{
		token:  tok,
		fresh:  cfg.maxAge / 2,
		ch:     make(chan signedProof, cfg.buffer),
		done:   make(chan struct{}),
		failed: make(chan struct{}),
	}
	ath := tokenATH(tok)
	for range signers {
		p.wg.Go(func() {
			for {
				now := time.Now()
				jws, err := k.proof(htm, htu, ath, now)
				if err != nil {
					p.once.Do(func() { p.err = err; close(p.failed) })
					return
				}
				select {
				case p.ch <- signedProof{jws: jws, at: now}:
					p.signed.Add(1)
				case <-p.done:
					return
				}
			}
		})
	}
	return p
}

// stop ends the signers and waits for them; nil is a no-op.
func (p *proofSource) stop() {
	if p == nil {
		return
	}
	close(p.done)
	p.wg.Wait()
}

// report is the DPoP part of the result; zero without DPoP.
func (p *proofSource) report() dpopSum {
	if p == nil {
		return dpopSum{}
	}
	return dpopSum{Signed: p.signed.Load(), Stale: p.stale.Load(), Waits: p.waits.Load()}
}

// next returns a fresh proof, waiting for one when none is ready.
func (p *proofSource) next(ctx context.Context) (string, error) {
	for {
		var sp signedProof
		select {
		case sp = <-p.ch:
		default:
			p.waits.Add(1)
			select {
			case sp = <-p.ch:
			case <-p.failed:
				return "", p.err
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		if time.Since(sp.at) <= p.fresh {
			return sp.jws, nil
		}
		p.stale.Add(1)
	}
}

// newRoundTrip is newRoundTrip for DPoP: each request carries the bound token and
// the next proof.
func (p *proofSource) newRoundTrip(ctx context.Context, o options, client *http.Client, tmpl *http.Request) (roundTrip, func()) {
	header := o.header.Clone()
	header.Set("Authorization", "DPoP "+p.token)
	if o.client == "raw" {
		ro := o
		ro.header = header
		base := buildRawRequest(ro)
		// The proof header goes last, before the blank line that ends the header
		// block (the first CRLF CRLF: no header line holds one).
		end := bytes.Index(base, []byte("\r\n\r\n")) + 2
		head, tail := base[:end], base[end:]
		buf := make([]byte, 0, len(base)+1024)
		c, stop := newRawConn(ctx, ro, newDialer())
		return func(ctx context.Context, firstByte bool) (time.Time, int, error) {
			jws, err := p.next(ctx)
			if err != nil {
				return time.Time{}, 0, err
			}
			buf = append(append(append(append(append(buf[:0], head...), "DPoP: "...), jws...), "\r\n"...), tail...)
			c.req = buf
			return c.roundTrip(ctx, firstByte)
		}, func() { stop(); c.close() }
	}
	buf := make([]byte, 32<<10)
	return func(ctx context.Context, firstByte bool) (time.Time, int, error) {
		jws, err := p.next(ctx)
		if err != nil {
			return time.Time{}, 0, err
		}
		req := new(http.Request)
		*req = *tmpl
		req.Header = header.Clone()
		req.Header.Set("DPoP", jws)
		if len(o.body) > 0 {
			req.Body = io.NopCloser(bytes.NewReader(o.body))
			req.ContentLength = int64(len(o.body))
		}
		return do(client, req, buf, firstByte)
	}, func() {}
}
