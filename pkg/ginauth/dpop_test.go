package ginauth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/jwtgate/jwtgate/pkg/dpop"
	"github.com/jwtgate/jwtgate/pkg/dpop/dpoptest"
	"github.com/jwtgate/jwtgate/pkg/ginauth"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// The URL httptest.NewRequest addresses, as a proof names it.
const protectedURL = "http://example.com/protected"

// dpopFixture is a real issuer and verifier, a client key, a token bound to it
// and an unbound one, and a real proof verifier.
type dpopFixture struct {
	tokens  *testTokens
	key     *dpoptest.Key
	other   *dpoptest.Key // a key no token is bound to
	bound   string
	unbound string
	proofs  *dpop.Verifier
}

func newDPoPFixture(t testing.TB, opts ...dpop.Option) *dpopFixture {
	t.Helper()
	f := &dpopFixture{tokens: newTestTokens(t), key: dpoptest.MustES256(t), other: dpoptest.MustES256(t)}
	f.bound = f.issue(t, f.key.JKT())
	f.unbound = f.issue(t, "")
	v, err := dpop.NewVerifier(opts...)
	if err != nil {
		t.Fatal(err)
	}
	f.proofs = v
	return f
}

func (f *dpopFixture) issue(t testing.TB, jkt string) string {
	t.Helper()
	is, err := f.tokens.issuer.Issue(t.Context(), token.Params{APIKey: testAPIKey, Subject: "alice", JKT: jkt})
	if err != nil {
		t.Fatal(err)
	}
	return is.Token
}

// proof is the proof k makes for a request to /protected with tok.
func (f *dpopFixture) proof(t testing.TB, k *dpoptest.Key, method, tok string) string {
	t.Helper()
	return k.MustProof(t, dpoptest.Claims{HTM: method, HTU: protectedURL, AccessToken: tok})
}

// router mounts the middleware with DPoP (and X-API-Key and subprotocols) in
// front of any method on /protected; hooked collects what the hook saw.
func (f *dpopFixture) router(hooked *[]error, opts ...ginauth.Option) *gin.Engine {
	opts = append([]ginauth.Option{ginauth.WithDPoP(f.proofs), ginauth.WithXAPIKey(), ginauth.WithWebSocketProtocol(),
		ginauth.WithErrorHook(func(_ *gin.Context, err error) { *hooked = append(*hooked, err) })}, opts...)
	r := gin.New()
	r.Any("/protected", ginauth.New(f.tokens.verifier, opts...), func(c *gin.Context) {
		claims, _ := ginauth.Claims(c)
		c.String(http.StatusOK, "jkt=%s", claims.JKT)
	})
	return r
}

func serve(h http.Handler, method string, header http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, "/protected", nil)
	req.Header = header
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// dpopChallenge is the WWW-Authenticate of a DPoP refusal.
func dpopChallenge(code, desc string) string {
	return `DPoP realm="jwtgate", error="` + code + `", error_description="` + desc + `", algs="ES256 EdDSA RS256"`
}

// TestDPoPRules: one row per rule of the DPoP presentation, each with the request
// that breaks it and the same request with that one fault mended, which passes.
func TestDPoPRules(t *testing.T) {
	f := newDPoPFixture(t)
	type req struct {
		method string
		header http.Header
	}
	get := func(h http.Header) req { return req{http.MethodGet, h} }
	// The canonical good requests.
	dpopHeader := func() http.Header {
		return http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.proof(t, f.key, "GET", f.bound)}}
	}
	wsGood := func() http.Header {
		return upgrade(http.Header{"Sec-Websocket-Protocol": {"realtime, jwtgate.bearer." + f.bound + ", jwtgate.dpop." + f.proof(t, f.key, "GET", f.bound)}})
	}
	replayed := f.proof(t, f.key, "GET", f.bound)
	expired := func() string {
		old := newTestTokens(t, token.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }))
		is, err := old.issuer.Issue(t.Context(), token.Params{APIKey: testAPIKey, JKT: f.key.JKT()})
		if err != nil {
			t.Fatal(err)
		}
		return is.Token
	}()

	tests := []struct {
		name       string
		bad        req
		before     func() // runs before bad is sent
		wantStatus int
		wantCode   string
		wantErr    error  // what the hook sees
		wantLabel  string // ginauth.Reason's label of it
		wantDPoP   bool   // the challenge is DPoP's
		mended     req
	}{
		{name: "bound token as Bearer with a proof", bad: get(http.Header{"Authorization": {"Bearer " + f.bound}, "Dpop": {f.proof(t, f.key, "GET", f.bound)}}),
			wantStatus: 401, wantCode: "invalid_token", wantErr: ginauth.ErrTokenBound, wantLabel: "dpop_downgrade", wantDPoP: true, mended: get(dpopHeader())},
		{name: "bound token as Bearer alone", bad: get(http.Header{"Authorization": {"Bearer " + f.bound}}),
			wantStatus: 401, wantCode: "invalid_token", wantErr: ginauth.ErrTokenBound, wantLabel: "dpop_downgrade", wantDPoP: true, mended: get(dpopHeader())},
		{name: "bound token in X-API-Key with a proof", bad: get(http.Header{"X-Api-Key": {f.bound}, "Dpop": {f.proof(t, f.key, "GET", f.bound)}}),
			wantStatus: 401, wantCode: "invalid_token", wantErr: ginauth.ErrTokenBound, wantLabel: "dpop_downgrade", wantDPoP: true, mended: get(dpopHeader())},
		{name: "bound token in jwtgate.bearer. without its proof", bad: get(upgrade(http.Header{"Sec-Websocket-Protocol": {"realtime, jwtgate.bearer." + f.bound}})),
			wantStatus: 401, wantCode: "invalid_token", wantErr: ginauth.ErrTokenBound, wantLabel: "dpop_downgrade", wantDPoP: true, mended: get(wsGood())},
		{name: "bound token in jwtgate.bearer. with the proof in a header", bad: get(upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + f.bound}, "Dpop": {f.proof(t, f.key, "GET", f.bound)}})),
			wantStatus: 401, wantCode: "invalid_token", wantErr: ginauth.ErrTokenBound, wantLabel: "dpop_downgrade", wantDPoP: true, mended: get(wsGood())},
		{name: "bound token in openai-insecure-api-key. beside a proof entry", bad: get(upgrade(http.Header{"Sec-Websocket-Protocol": {"openai-insecure-api-key." + f.bound + ", jwtgate.dpop." + f.proof(t, f.key, "GET", f.bound)}})),
			wantStatus: 401, wantCode: "invalid_token", wantErr: ginauth.ErrTokenBound, wantLabel: "dpop_downgrade", wantDPoP: true, mended: get(wsGood())},
		{name: "unbound token with the DPoP scheme", bad: get(http.Header{"Authorization": {"DPoP " + f.unbound}, "Dpop": {f.proof(t, f.key, "GET", f.unbound)}}),
			wantStatus: 401, wantCode: "invalid_token", wantErr: ginauth.ErrTokenNotBound, wantLabel: "dpop_unbound", wantDPoP: true,
			mended: get(http.Header{"Authorization": {"Bearer " + f.unbound}, "Dpop": {f.proof(t, f.key, "GET", f.unbound)}})},
		{name: "unbound token in jwtgate.bearer. beside a proof entry", bad: get(upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + f.unbound + ", jwtgate.dpop." + f.proof(t, f.key, "GET", f.unbound)}})),
			wantStatus: 401, wantCode: "invalid_token", wantErr: ginauth.ErrTokenNotBound, wantLabel: "dpop_unbound", wantDPoP: true,
			mended: get(upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + f.unbound}}))},
		{name: "DPoP scheme without a proof", bad: get(http.Header{"Authorization": {"DPoP " + f.bound}}),
			wantStatus: 401, wantCode: "invalid_dpop_proof", wantErr: ginauth.ErrProofMissing, wantLabel: "dpop_missing", wantDPoP: true, mended: get(dpopHeader())},
		{name: "DPoP scheme with an empty DPoP header", bad: get(http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {""}}),
			wantStatus: 401, wantCode: "invalid_dpop_proof", wantErr: ginauth.ErrProofMissing, wantLabel: "dpop_missing", wantDPoP: true, mended: get(dpopHeader())},
		{name: "two DPoP headers", bad: get(http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.proof(t, f.key, "GET", f.bound), f.proof(t, f.key, "GET", f.bound)}}),
			wantStatus: 400, wantCode: "invalid_request", wantErr: ginauth.ErrBadRequest, wantLabel: "bad_request", mended: get(dpopHeader())},
		{name: "DPoP header and a proof entry", bad: get(upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + f.bound + ", jwtgate.dpop." + f.proof(t, f.key, "GET", f.bound)}, "Dpop": {f.proof(t, f.key, "GET", f.bound)}})),
			wantStatus: 400, wantCode: "invalid_request", wantErr: ginauth.ErrBadRequest, wantLabel: "bad_request", mended: get(wsGood())},
		{name: "two proof entries", bad: get(upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + f.bound + ", jwtgate.dpop." + f.proof(t, f.key, "GET", f.bound), "jwtgate.dpop." + f.proof(t, f.key, "GET", f.bound)}})),
			wantStatus: 400, wantCode: "invalid_request", wantErr: ginauth.ErrBadRequest, wantLabel: "bad_request", mended: get(wsGood())},
		{name: "DPoP scheme without a token", bad: get(http.Header{"Authorization": {"DPoP "}, "Dpop": {f.proof(t, f.key, "GET", f.bound)}}),
			wantStatus: 400, wantCode: "invalid_request", wantErr: ginauth.ErrBadRequest, wantLabel: "bad_request", mended: get(dpopHeader())},
		{name: "htm of another method", bad: get(http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.proof(t, f.key, "POST", f.bound)}}),
			wantStatus: 401, wantCode: "invalid_dpop_proof", wantErr: dpop.ErrProofMethod, wantLabel: "dpop_htm", wantDPoP: true, mended: get(dpopHeader())},
		{name: "htm POST for a WebSocket upgrade", bad: get(upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + f.bound + ", jwtgate.dpop." + f.proof(t, f.key, "POST", f.bound)}})),
			wantStatus: 401, wantCode: "invalid_dpop_proof", wantErr: dpop.ErrProofMethod, wantLabel: "dpop_htm", wantDPoP: true, mended: get(wsGood())},
		{name: "htu of another host", bad: get(http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.key.MustProof(t, dpoptest.Claims{HTM: "GET", HTU: "http://other.example/protected", AccessToken: f.bound})}}),
			wantStatus: 401, wantCode: "invalid_dpop_proof", wantErr: dpop.ErrProofURI, wantLabel: "dpop_htu", wantDPoP: true,
			mended: get(http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.key.MustProof(t, dpoptest.Claims{HTM: "GET", HTU: "HTTP://Example.COM:80/protected", AccessToken: f.bound})}})},
		{name: "htu of another path", bad: get(http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.key.MustProof(t, dpoptest.Claims{HTM: "GET", HTU: "http://example.com/other", AccessToken: f.bound})}}),
			wantStatus: 401, wantCode: "invalid_dpop_proof", wantErr: dpop.ErrProofURI, wantLabel: "dpop_htu", wantDPoP: true, mended: get(dpopHeader())},
		{name: "htu https for plain http", bad: get(http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.key.MustProof(t, dpoptest.Claims{HTM: "GET", HTU: "https://example.com/protected", AccessToken: f.bound})}}),
			wantStatus: 401, wantCode: "invalid_dpop_proof", wantErr: dpop.ErrProofURI, wantLabel: "dpop_htu", wantDPoP: true,
			mended: get(upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + f.bound + ", jwtgate.dpop." + f.key.MustProof(t, dpoptest.Claims{HTM: "GET", HTU: "ws://example.com/protected", AccessToken: f.bound})}}))},
		{name: "no ath", bad: get(http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.proof(t, f.key, "GET", "")}}),
			wantStatus: 401, wantCode: "invalid_dpop_proof", wantErr: dpop.ErrProofATH, wantLabel: "dpop_ath", wantDPoP: true, mended: get(dpopHeader())},
		{name: "ath of another token", bad: get(http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.proof(t, f.key, "GET", f.unbound)}}),
			wantStatus: 401, wantCode: "invalid_dpop_proof", wantErr: dpop.ErrProofATH, wantLabel: "dpop_ath", wantDPoP: true, mended: get(dpopHeader())},
		{name: "proof by another key", bad: get(http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.proof(t, f.other, "GET", f.bound)}}),
			wantStatus: 401, wantCode: "invalid_dpop_proof", wantErr: dpop.ErrProofBinding, wantLabel: "dpop_binding", wantDPoP: true, mended: get(dpopHeader())},
		{name: "proof by another key in a subprotocol", bad: get(upgrade(http.Header{"Sec-Websocket-Protocol": {"jwtgate.bearer." + f.bound + ", jwtgate.dpop." + f.proof(t, f.other, "GET", f.bound)}})),
			wantStatus: 401, wantCode: "invalid_dpop_proof", wantErr: dpop.ErrProofBinding, wantLabel: "dpop_binding", wantDPoP: true, mended: get(wsGood())},
		{name: "proof replayed", bad: get(http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {replayed}}),
			before: func() {
				var ignored []error
				if rec := serve(f.router(&ignored), http.MethodGet, http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {replayed}}); rec.Code != 200 {
					t.Fatalf("first use of the proof: %d %s", rec.Code, rec.Body)
				}
			},
			wantStatus: 401, wantCode: "invalid_dpop_proof", wantErr: dpop.ErrProofReplayed, wantLabel: "dpop_replayed", wantDPoP: true, mended: get(dpopHeader())},
		{name: "proof not a JWS", bad: get(http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {"not a proof"}}),
			wantStatus: 401, wantCode: "invalid_dpop_proof", wantErr: dpop.ErrProofMalformed, wantLabel: "dpop_malformed", wantDPoP: true, mended: get(dpopHeader())},
		{name: "expired token in the DPoP presentation", bad: get(http.Header{"Authorization": {"DPoP " + expired}, "Dpop": {f.proof(t, f.key, "GET", expired)}}),
			wantStatus: 401, wantCode: "invalid_token", wantErr: token.ErrTokenExpired, wantLabel: "expired", wantDPoP: true, mended: get(dpopHeader())},
		{name: "scheme in lower case", bad: get(http.Header{"Authorization": {"Bearer " + f.bound}, "Dpop": {f.proof(t, f.key, "GET", f.bound)}}),
			wantStatus: 401, wantCode: "invalid_token", wantErr: ginauth.ErrTokenBound, wantLabel: "dpop_downgrade", wantDPoP: true,
			mended: get(http.Header{"Authorization": {"dpop  " + f.bound}, "Dpop": {f.proof(t, f.key, "GET", f.bound)}})},
		{name: "POST with a GET proof", bad: req{http.MethodPost, http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.proof(t, f.key, "GET", f.bound)}}},
			wantStatus: 401, wantCode: "invalid_dpop_proof", wantErr: dpop.ErrProofMethod, wantLabel: "dpop_htm", wantDPoP: true,
			mended: req{http.MethodPost, http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.proof(t, f.key, "POST", f.bound)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.before != nil {
				tt.before()
			}
			var hooked []error
			r := f.router(&hooked)
			rec := serve(r, tt.bad.method, tt.bad.header)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d (body %s)", rec.Code, tt.wantStatus, rec.Body)
			}
			if len(hooked) != 1 || !errors.Is(hooked[0], tt.wantErr) {
				t.Fatalf("hook saw %v, want one error wrapping %v", hooked, tt.wantErr)
			}
			label, desc := ginauth.Reason(hooked[0])
			if label != tt.wantLabel {
				t.Errorf("Reason label = %q, want %q", label, tt.wantLabel)
			}
			body := decodeError(t, rec)
			if body.Error != tt.wantCode {
				t.Errorf("body error = %q, want %q", body.Error, tt.wantCode)
			}
			challenge := rec.Header().Get("WWW-Authenticate")
			switch {
			case tt.wantDPoP && challenge != dpopChallenge(tt.wantCode, desc):
				t.Errorf("WWW-Authenticate = %q, want %q", challenge, dpopChallenge(tt.wantCode, desc))
			case !tt.wantDPoP && !strings.HasPrefix(challenge, "Bearer "):
				t.Errorf("WWW-Authenticate = %q, want a Bearer challenge", challenge)
			}
			if tt.wantStatus == 401 && body.Description != desc {
				t.Errorf("body description %q, want Reason's %q", body.Description, desc)
			}
			if n := rec.Header().Get(ginauth.HeaderDPoPNonce); n != "" {
				t.Errorf("DPoP-Nonce %q without nonces", n)
			}
			// Neither the body, the challenge nor the hook's error repeats a
			// credential.
			for _, where := range []string{rec.Body.String(), challenge, hooked[0].Error()} {
				for _, secret := range append(tt.bad.header.Values("Dpop"), f.bound, f.unbound) {
					if secret != "" && strings.Contains(where, secret) {
						t.Errorf("refusal quotes a credential: %s", where)
					}
				}
			}

			hooked = nil
			mended := serve(r, tt.mended.method, tt.mended.header)
			if mended.Code != http.StatusOK || len(hooked) != 0 {
				t.Fatalf("mended request: status %d (%s), hook %v; want 200", mended.Code, mended.Body, hooked)
			}
		})
	}
}

// TestDPoPAcceptedClaims: a bound token with its proof reaches the handler with
// its claims, the binding included, and so does an unbound bearer token.
func TestDPoPAcceptedClaims(t *testing.T) {
	f := newDPoPFixture(t)
	var hooked []error
	r := f.router(&hooked)
	rec := serve(r, http.MethodGet, http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.proof(t, f.key, "GET", f.bound)}})
	if rec.Code != 200 || rec.Body.String() != "jkt="+f.key.JKT() {
		t.Fatalf("bound: %d %q, want 200 jkt=%s", rec.Code, rec.Body, f.key.JKT())
	}
	rec = serve(r, http.MethodGet, http.Header{"Authorization": {"Bearer " + f.unbound}})
	if rec.Code != 200 || rec.Body.String() != "jkt=" {
		t.Fatalf("unbound: %d %q, want 200 and no jkt", rec.Code, rec.Body)
	}
}

// TestDPoPOff: without WithDPoP a bound token is refused whatever its proof, with
// a Bearer challenge, and the DPoP scheme is no scheme at all.
func TestDPoPOff(t *testing.T) {
	f := newDPoPFixture(t)
	var hooked []error
	r := gin.New()
	r.GET("/protected", ginauth.New(f.tokens.verifier, ginauth.WithErrorHook(func(_ *gin.Context, err error) { hooked = append(hooked, err) })),
		func(c *gin.Context) { c.Status(http.StatusOK) })

	rec := serve(r, http.MethodGet, http.Header{"Authorization": {"Bearer " + f.bound}, "Dpop": {f.proof(t, f.key, "GET", f.bound)}})
	if rec.Code != 401 || len(hooked) != 1 || !errors.Is(hooked[0], ginauth.ErrTokenBound) {
		t.Fatalf("bound as Bearer: %d, hook %v; want 401 ErrTokenBound", rec.Code, hooked)
	}
	if got := rec.Header().Get("WWW-Authenticate"); !strings.HasPrefix(got, `Bearer realm="jwtgate", error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q, want a Bearer invalid_token challenge", got)
	}
	hooked = nil
	rec = serve(r, http.MethodGet, http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.proof(t, f.key, "GET", f.bound)}})
	if rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != `Bearer realm="jwtgate"` || !errors.Is(hooked[0], ginauth.ErrNoToken) {
		t.Fatalf("DPoP scheme: %d %q, hook %v; want the bare Bearer challenge", rec.Code, rec.Header().Get("WWW-Authenticate"), hooked)
	}
	// The control: an unbound bearer token passes.
	if rec := serve(r, http.MethodGet, http.Header{"Authorization": {"Bearer " + f.unbound}}); rec.Code != 200 {
		t.Fatalf("unbound bearer: %d %s", rec.Code, rec.Body)
	}
}

// TestDPoPNonceFlow follows a client through RFC 9449 section 8 with nonces
// required: refused with use_dpop_nonce and the nonce, accepted with it, told the
// next one once its window has passed, refused again when it is stale.
func TestDPoPNonceFlow(t *testing.T) {
	const window = time.Minute
	ns, err := dpop.NewNonceSource([]byte("a nonce secret of at least 32 bytes, for tests"), window)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now().Truncate(window)
	now := start
	f := newDPoPFixture(t, dpop.WithNonces(ns), dpop.WithClock(func() time.Time { return now }), dpop.WithMaxAge(time.Hour))
	var hooked []error
	r := f.router(&hooked)
	send := func(nonce string) *httptest.ResponseRecorder {
		hooked = nil
		p := f.key.MustProof(t, dpoptest.Claims{HTM: "GET", HTU: protectedURL, AccessToken: f.bound, Nonce: nonce, IAT: now})
		return serve(r, http.MethodGet, http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {p}})
	}
	checkNonceRefusal := func(rec *httptest.ResponseRecorder) string {
		t.Helper()
		if rec.Code != 401 || decodeError(t, rec).Error != ginauth.CodeUseDPoPNonce {
			t.Fatalf("status %d %s, want 401 use_dpop_nonce", rec.Code, rec.Body)
		}
		if len(hooked) != 1 || !errors.Is(hooked[0], dpop.ErrProofNonce) {
			t.Fatalf("hook saw %v, want ErrProofNonce", hooked)
		}
		if label, _ := ginauth.Reason(hooked[0]); label != "dpop_nonce" {
			t.Errorf("label %q, want dpop_nonce", label)
		}
		want := dpopChallenge("use_dpop_nonce", "a DPoP proof with the nonce of the DPoP-Nonce header is required")
		if got := rec.Header().Get("WWW-Authenticate"); got != want {
			t.Errorf("WWW-Authenticate = %q, want %q", got, want)
		}
		n := rec.Header().Values(ginauth.HeaderDPoPNonce)
		if len(n) != 1 || n[0] != ns.Nonce(now) {
			t.Fatalf("DPoP-Nonce = %q, want exactly the current nonce", n)
		}
		return n[0]
	}

	nonce := checkNonceRefusal(send(""))
	rec := send(nonce)
	if rec.Code != 200 || rec.Header().Get(ginauth.HeaderDPoPNonce) != "" {
		t.Fatalf("with the nonce: %d, DPoP-Nonce %q; want 200 and no new nonce", rec.Code, rec.Header().Get(ginauth.HeaderDPoPNonce))
	}
	now = start.Add(window) // the nonce's window has passed: still accepted, the next one handed out
	rec = send(nonce)
	if rec.Code != 200 {
		t.Fatalf("in the next window: %d %s", rec.Code, rec.Body)
	}
	next := rec.Header().Get(ginauth.HeaderDPoPNonce)
	if next == "" || next == nonce || next != ns.Nonce(now) {
		t.Fatalf("DPoP-Nonce %q on success in the next window, want the new nonce %q", next, ns.Nonce(now))
	}
	now = start.Add(2 * window)
	if got := checkNonceRefusal(send(nonce)); got == nonce {
		t.Fatal("the stale nonce was handed out again")
	}
	// A proof with a nonce that never was is refused the same way.
	checkNonceRefusal(send("made-up"))
}

// TestRefuseBound: a handler's refusal of a bound token carries the DPoP challenge.
func TestRefuseBound(t *testing.T) {
	f := newDPoPFixture(t)
	mw := ginauth.NewMiddleware(f.tokens.verifier, ginauth.WithDPoP(f.proofs))
	r := gin.New()
	r.GET("/protected", mw.Handler(), func(c *gin.Context) { mw.Refuse(c, token.ErrSessionTooOld) })
	rec := serve(r, http.MethodGet, http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.proof(t, f.key, "GET", f.bound)}})
	if want := dpopChallenge("invalid_token", "session is too old to refresh"); rec.Code != 401 || rec.Header().Get("WWW-Authenticate") != want {
		t.Fatalf("%d %q, want 401 %q", rec.Code, rec.Header().Get("WWW-Authenticate"), want)
	}
	rec = serve(r, http.MethodGet, http.Header{"Authorization": {"Bearer " + f.unbound}})
	if want := `Bearer realm="jwtgate", error="invalid_token", error_description="session is too old to refresh"`; rec.Header().Get("WWW-Authenticate") != want {
		t.Fatalf("unbound: %q, want %q", rec.Header().Get("WWW-Authenticate"), want)
	}
}

// TestRequestURL: the default URL is what the server received; a custom one is
// used for htu.
func TestRequestURL(t *testing.T) {
	req := httptest.NewRequest(http.MethodGet, "https://gw.example:8443/chat/a%2Fb?q=1", nil)
	if got := ginauth.RequestURL(req).String(); got != "https://gw.example:8443/chat/a%2Fb" {
		t.Errorf("RequestURL = %q", got)
	}
	req = httptest.NewRequest(http.MethodGet, "/x", nil)
	if got := ginauth.RequestURL(req).String(); got != "http://example.com/x" {
		t.Errorf("RequestURL = %q", got)
	}

	f := newDPoPFixture(t)
	var hooked []error
	r := f.router(&hooked, ginauth.WithRequestURL(func(r *http.Request) *url.URL {
		return &url.URL{Scheme: "https", Host: "public.example", Path: r.URL.Path}
	}))
	p := f.key.MustProof(t, dpoptest.Claims{HTM: "GET", HTU: "https://public.example/protected", AccessToken: f.bound})
	if rec := serve(r, http.MethodGet, http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {p}}); rec.Code != 200 {
		t.Fatalf("proof for the public URL: %d %s", rec.Code, rec.Body)
	}
	if rec := serve(r, http.MethodGet, http.Header{"Authorization": {"DPoP " + f.bound}, "Dpop": {f.proof(t, f.key, "GET", f.bound)}}); rec.Code != 401 {
		t.Fatalf("proof for the URL the server saw: %d, want 401", rec.Code)
	}
}

// TestLabels: every label is distinct, and each DPoP refusal's label is among them.
func TestLabels(t *testing.T) {
	seen := map[string]bool{}
	for _, l := range ginauth.Labels() {
		if seen[l] {
			t.Errorf("label %q twice", l)
		}
		seen[l] = true
	}
	for _, err := range []error{ginauth.ErrTokenBound, ginauth.ErrTokenNotBound, ginauth.ErrProofMissing,
		errors.Join(ginauth.ErrProofInvalid, dpop.ErrProofReplayed), token.ErrTokenExpired} {
		if label, _ := ginauth.Reason(err); !seen[label] {
			t.Errorf("Reason(%v) = %q, not in Labels", err, label)
		}
	}
}
