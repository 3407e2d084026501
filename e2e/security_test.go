package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/pkg/ginauth"
	"github.com/jwtgate/jwtgate/pkg/token"
)

const chatJSON = `{"model":"echo","messages":[{"role":"user","content":"hi"}]}`

// attackServer is a jwtgate started from a YAML file with a known HMAC secret
// (kid hs1, signing) and an Ed25519 key (kid ed1) in jwt.keys.
type attackServer struct {
	*server
	secret []byte
	ed1    ed25519.PrivateKey
	apiKey string
	issued string // a token the server issued (sealed API key)
}

func startAttackServer(t *testing.T) *attackServer {
	t.Helper()
	dir := t.TempDir()
	secret := newSecret(t)
	ed1 := newEd25519(t)
	cfg := `jwt:
  issuer: e2e-attack
  audience: e2e-attack-aud
  signing_key: hs1
  keys:
    - kid: hs1
      alg: HS256
      secret: ` + secret + `
    - kid: ed1
      alg: EdDSA
      private_key_file: ` + writeEd25519PEM(t, dir, ed1) + `
chat:
  echo_delay: 1ms
log:
  level: debug
`
	cfgFile := filepath.Join(dir, "jwtgate.yaml")
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, nil, "--config", cfgFile)
	apiKey := newAPIKey(t)
	return &attackServer{server: s, secret: []byte(secret), ed1: ed1, apiKey: apiKey,
		issued: s.createSession(t, apiKey).AccessToken}
}

// attack is one row of the end-to-end attack table: a token sent as the bearer
// token, and the error_description it must be refused with ("" means accepted).
// A token that is not even a token68 (RFC 7235: "=" only at the end) never
// reaches the verifier: the middleware answers 400 invalid_request (RFC 6750
// section 3.1) with the description in want.
type attack struct {
	name  string
	token string
	want  string
}

// notToken68 is the middleware's description of a bearer value that is not a
// token68.
const notToken68 = "the bearer token must be a single token68 value"

// nonCanonicalSeg sets the unused trailing bits of a base64url segment: a lenient
// decoder reads the same bytes, a strict one refuses.
func nonCanonicalSeg(t *testing.T, seg string) string {
	t.Helper()
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	if len(seg)%4 == 0 {
		t.Fatalf("segment of length %d has no trailing bits", len(seg))
	}
	i := strings.IndexByte(alphabet, seg[len(seg)-1])
	out := seg[:len(seg)-1] + string(alphabet[i|1])
	a, err1 := base64.RawURLEncoding.DecodeString(seg)
	b, err2 := base64.RawURLEncoding.DecodeString(out)
	if out == seg || err1 != nil || err2 != nil || string(a) != string(b) {
		t.Fatalf("could not make a non-canonical spelling of %q", seg)
	}
	return out
}

// x5cWithURLs returns a base64 DER certificate for the attacker's key whose
// issuer, CRL and OCSP URLs all point at trap: a verifier that chased the chain
// would connect there.
func x5cWithURLs(t *testing.T, attacker ed25519.PrivateKey, trap *trapListener) string {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "jwtgate attack test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IssuingCertificateURL: []string{trap.URL("/issuer.crt")},
		CRLDistributionPoints: []string{trap.URL("/crl")},
		OCSPServer:            []string{trap.URL("/ocsp")},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, attacker.Public(), attacker)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(der)
}

// attackRows builds issue 5's attack list against a: every token is refused, and
// a few accepted controls show that each refusal comes from the one change.
func attackRows(t *testing.T, a *attackServer, trap *trapListener) []attack {
	t.Helper()
	var (
		algorithm   = token.ErrTokenAlgorithm.Error()
		signature   = token.ErrTokenSignatureInvalid.Error()
		unknownKey  = token.ErrTokenUnknownKey.Error()
		unsupported = token.ErrTokenUnsupportedHeader.Error()
		malformed   = token.ErrTokenMalformed.Error()
		missing     = token.ErrTokenClaimMissing.Error()
		expired     = token.ErrTokenExpired.Error()
		notYet      = token.ErrTokenNotValidYet.Error()
		future      = token.ErrTokenIssuedInFuture.Error()
		issuer      = token.ErrTokenInvalidIssuer.Error()
		audience    = token.ErrTokenInvalidAudience.Error()
		apiKeyClaim = token.ErrTokenAPIKeyInvalid.Error()
	)
	base := claimsOf(t, a.issued)
	other := claimsOf(t, a.createSession(t, a.apiKey).AccessToken) // another session, another jti
	now := time.Now().Unix()
	const hsHeader = `{"alg":"HS256","kid":"hs1","typ":"JWT"}`
	hs := func(header string, claims string) string { return hsSign("HS256", a.secret, header, claims) }
	claims := func(kv ...any) string { return withClaims(t, base, kv...) }
	valid := claims()
	good := hs(hsHeader, valid)
	seg := strings.Split(good, ".")
	issuedSig := strings.Split(a.issued, ".")[2]
	attacker := newEd25519(t)
	edKey, err := token.NewPrivateKey("ed1", token.EdDSA, a.ed1)
	if err != nil {
		t.Fatal(err)
	}
	edFingerprint := keyFingerprint(t, edKey, a.apiKey)
	edPub := a.ed1.Public().(ed25519.PublicKey)
	pubDER, err := x509.MarshalPKIXPublicKey(edPub)
	if err != nil {
		t.Fatal(err)
	}
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	attackerJWK := `{"kty":"OKP","crv":"Ed25519","x":"` + b64url.EncodeToString(attacker.Public().(ed25519.PublicKey)) +
		`","x5u":"` + trap.URL("/jwk-x5u") + `","jku":"` + trap.URL("/jwk-jku") + `"}`
	aks, _ := base["aks"].(string)
	if aks == "" {
		t.Fatalf("the issued token carries no sealed API key: %s", tokenPayload(t, a.issued))
	}
	dup := func(claimsJSON, name, extra string) string {
		if !strings.Contains(claimsJSON, `"`+name+`":`) {
			t.Fatalf("claims lack %s", name)
		}
		return strings.Replace(claimsJSON, `"`+name+`":`, `"`+name+`":`+extra+`,"`+name+`":`, 1)
	}

	rows := []attack{
		{"control: re-signed with the known secret", good, ""},
		{"control: the issued token", a.issued, ""},
		{"control: EdDSA with the configured Ed25519 key", edSign(a.ed1, `{"alg":"EdDSA","kid":"ed1","typ":"JWT"}`,
			claims("aks", nil, "ak", a.apiKey, "akf", edFingerprint)), ""},
		{"EdDSA with hs1's fingerprint (each key keys its own)", edSign(a.ed1, `{"alg":"EdDSA","kid":"ed1","typ":"JWT"}`,
			claims("aks", nil, "ak", a.apiKey)), apiKeyClaim},
		{"control: aud array holding ours", hs(hsHeader, claims("aud", []string{"x", "e2e-attack-aud"})), ""},

		{"signature stripped", seg[0] + "." + seg[1] + ".", signature},
		{"payload altered under the old signature", seg[0] + "." + b64url.EncodeToString([]byte(claims("sub", "admin"))) + "." + seg[2], signature},
		{"issued payload altered under its signature", strings.Split(a.issued, ".")[0] + "." + b64url.EncodeToString([]byte(claims("exp", now+86400))) + "." + issuedSig, signature},
		{"signed with another secret", hsSign("HS256", []byte(newSecret(t)), hsHeader, valid), signature},
		{"re-signed HS384 under the same secret", hsSign("HS384", a.secret, `{"alg":"HS384","kid":"hs1","typ":"JWT"}`, valid), algorithm},
		{"re-signed HS512 under the same secret", hsSign("HS512", a.secret, `{"alg":"HS512","kid":"hs1","typ":"JWT"}`, valid), algorithm},

		{"confusion: HS256 under ed1 with the raw public key", hsSign("HS256", edPub, `{"alg":"HS256","kid":"ed1"}`, valid), algorithm},
		{"confusion: HS256 under ed1 with the DER public key", hsSign("HS256", pubDER, `{"alg":"HS256","kid":"ed1"}`, valid), algorithm},
		{"confusion: HS256 under ed1 with the PEM public key", hsSign("HS256", pubPEM, `{"alg":"HS256","kid":"ed1"}`, valid), algorithm},
		{"confusion: EdDSA under the HMAC kid", edSign(a.ed1, `{"alg":"EdDSA","kid":"hs1"}`, valid), algorithm},
		{"confusion: RS256 under the HMAC kid", hs(`{"alg":"RS256","kid":"hs1"}`, valid), algorithm},
		{"EdDSA under ed1 signed by the attacker", edSign(attacker, `{"alg":"EdDSA","kid":"ed1"}`, claims("aks", nil, "ak", a.apiKey)), signature},

		{"kid unknown", hs(`{"alg":"HS256","kid":"hs2"}`, valid), unknownKey},
		{"kid empty", hs(`{"alg":"HS256","kid":""}`, valid), unknownKey},
		{"kid missing", hs(`{"alg":"HS256"}`, valid), unknownKey},
		{"kid path", hs(`{"alg":"HS256","kid":"../../../../etc/passwd"}`, valid), unknownKey},
		{"kid file URL", hs(`{"alg":"HS256","kid":"file:///dev/null"}`, valid), unknownKey},
		{"kid pointing at the trap", hs(`{"alg":"HS256","kid":"`+trap.URL("/kid")+`"}`, valid), unknownKey},
		{"kid very long", hs(`{"alg":"HS256","kid":"`+strings.Repeat("k", 4000)+`"}`, valid), unknownKey},

		{"crit with an unknown extension", hs(`{"alg":"HS256","kid":"hs1","crit":["x-jwtgate"],"x-jwtgate":true}`, valid), unsupported},
		{"jku at the trap", hs(`{"alg":"HS256","kid":"hs1","jku":"`+trap.URL("/jwks.json")+`"}`, valid), unsupported},
		{"jku at the trap, attacker-signed", edSign(attacker, `{"alg":"EdDSA","kid":"ed1","jku":"`+trap.URL("/jwks.json")+`"}`, valid), unsupported},
		{"x5u at the trap", hs(`{"alg":"HS256","kid":"hs1","x5u":"`+trap.URL("/cert.pem")+`"}`, valid), unsupported},
		{"jwk of the attacker's key with URLs at the trap", edSign(attacker, `{"alg":"EdDSA","kid":"ed1","jwk":`+attackerJWK+`}`, valid), unsupported},
		{"jwk without kid", edSign(attacker, `{"alg":"EdDSA","jwk":`+attackerJWK+`}`, valid), unsupported},
		{"x5c with issuer, CRL and OCSP URLs at the trap", edSign(attacker, `{"alg":"EdDSA","kid":"ed1","x5c":["`+x5cWithURLs(t, attacker, trap)+`"]}`, valid), unsupported},

		{"exp string", hs(hsHeader, claims("exp", fmt.Sprint(now+600))), malformed},
		{"exp float", hs(hsHeader, claims("exp", float64(now)+600.5)), malformed},
		{"exp negative", hs(hsHeader, claims("exp", -1)), malformed},
		{"exp huge", hs(hsHeader, claims("exp", 1e300)), malformed},
		{"exp missing", hs(hsHeader, claims("exp", nil)), missing},
		{"exp past", hs(hsHeader, claims("exp", now-3600)), expired},
		{"nbf string", hs(hsHeader, claims("nbf", fmt.Sprint(now))), malformed},
		{"nbf float", hs(hsHeader, claims("nbf", float64(now)+0.5)), malformed},
		{"nbf negative", hs(hsHeader, claims("nbf", -1)), malformed},
		{"nbf huge", hs(hsHeader, claims("nbf", json.Number("99999999999999999999"))), malformed},
		{"nbf missing", hs(hsHeader, claims("nbf", nil)), missing},
		{"nbf future", hs(hsHeader, claims("nbf", now+3600)), notYet},
		{"iat string", hs(hsHeader, claims("iat", fmt.Sprint(now))), malformed},
		{"iat float", hs(hsHeader, claims("iat", float64(now)+0.5)), malformed},
		{"iat negative", hs(hsHeader, claims("iat", -1)), malformed},
		{"iat huge", hs(hsHeader, claims("iat", json.Number("253402300800"))), malformed},
		{"iat missing", hs(hsHeader, claims("iat", nil)), missing},
		{"iat future", hs(hsHeader, claims("iat", now+3600, "sst", now+3600)), future},

		{"iss wrong", hs(hsHeader, claims("iss", "jwtgate")), issuer},
		{"iss missing", hs(hsHeader, claims("iss", nil)), missing},
		{"aud wrong", hs(hsHeader, claims("aud", "jwtgate")), audience},
		{"aud missing", hs(hsHeader, claims("aud", nil)), missing},
		{"aud array without ours", hs(hsHeader, claims("aud", []string{"jwtgate", "other"})), audience},
		{"aud array empty", hs(hsHeader, claims("aud", []string{})), audience},
		{"aud array of ours and a number", hs(hsHeader, claims("aud", []any{"e2e-attack-aud", 1})), audience},

		{"header duplicate alg", hs(`{"alg":"none","alg":"HS256","kid":"hs1"}`, valid), malformed},
		{"header duplicate kid", hs(`{"alg":"HS256","kid":"ed1","kid":"hs1"}`, valid), malformed},
		{"payload duplicate exp", hs(hsHeader, dup(valid, "exp", fmt.Sprint(now+86400*365))), malformed},
		{"payload duplicate sub", hs(hsHeader, dup(valid, "sub", `"admin"`)), malformed},
		{"payload duplicate aks", hs(hsHeader, dup(valid, "aks", `"`+aks+`"`)), malformed},

		{"header padded", resignHS(a.secret, seg[0]+"=", seg[1]), notToken68},
		{"payload padded", resignHS(a.secret, seg[0], seg[1]+"="), notToken68},
		{"signature padded", good + "=", malformed},
		{"header non-canonical trailing bits", resignHS(a.secret, nonCanonicalSeg(t, b64url.EncodeToString([]byte(`{"alg":"HS256","kid":"hs1" }`))), seg[1]), malformed},
		{"signature non-canonical trailing bits", seg[0] + "." + seg[1] + "." + nonCanonicalSeg(t, seg[2]), malformed},

		{"sealed claim altered", hs(hsHeader, claims("aks", flipChar(aks, len(aks)/2))), apiKeyClaim},
		{"sealed claim truncated", hs(hsHeader, claims("aks", aks[:len(aks)-8])), apiKeyClaim},
		{"sealed claim moved from another token", hs(hsHeader, claims("aks", other["aks"])), apiKeyClaim},
		{"generic JWT of the same issuer without jwtgate claims", hs(hsHeader, claims("sid", nil, "sst", nil, "akf", nil, "aks", nil)), missing},
	}
	for _, v := range []string{"none", "None", "NONE", "nOnE", "noNe"} {
		header := `{"alg":"` + v + `","kid":"hs1","typ":"JWT"}`
		rows = append(rows,
			attack{"alg " + v + " without signature", unsigned(header, valid), algorithm},
			attack{"alg " + v + " with an HMAC signature", hs(header, valid), algorithm},
			attack{"alg " + v + " without kid", unsigned(`{"alg":"`+v+`"}`, valid), algorithm},
		)
	}
	rows = append(rows,
		attack{"alg empty", hs(`{"alg":"","kid":"hs1"}`, valid), algorithm},
		attack{"alg missing", hs(`{"kid":"hs1"}`, valid), algorithm},
	)
	return rows
}

// resignHS signs already encoded segments, so only their encoding is at fault.
func resignHS(secret []byte, header, payload string) string {
	si := header + "." + payload
	return si + "." + b64url.EncodeToString(hsSum("HS256", secret, si))
}

// flipChar changes the base64url character at i to another one.
func flipChar(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

// checkRefusedAs checks an invalid_token refusal with the given description, in
// the body and in the WWW-Authenticate challenge.
func checkRefusedAs(t *testing.T, resp *response, want string) {
	t.Helper()
	if resp.Status >= 500 {
		t.Fatalf("status %d: a client-supplied token caused a 5xx; body %s", resp.Status, resp.Body)
	}
	if got := checkInvalidToken(t, resp); got != want {
		t.Errorf("error_description = %q, want %q", got, want)
	}
	if wa := resp.Header.Get("WWW-Authenticate"); !strings.Contains(wa, `error_description="`+want+`"`) {
		t.Errorf("WWW-Authenticate = %q, want error_description=%q", wa, want)
	}
}

// checkBadRequest checks an RFC 6750 invalid_request refusal of a malformed
// Authorization header.
func checkBadRequest(t *testing.T, resp *response, want string) {
	t.Helper()
	if resp.Status != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400; body %s", resp.Status, resp.Body)
	}
	if wa := resp.Header.Get("WWW-Authenticate"); !strings.Contains(wa, `error="invalid_request"`) {
		t.Errorf(`WWW-Authenticate = %q, want error="invalid_request"`, wa)
	}
	var e errorBody
	resp.JSON(t, &e)
	if e.Error != "invalid_request" || e.ErrorDescription != want {
		t.Errorf("body = %s, want invalid_request: %s", resp.Body, want)
	}
}

// TestAttackTableEndToEnd sends every forged token of the attack table to the
// real binary on a protected JSON route and on the chat route: each is refused
// with 401, error="invalid_token" and the sentinel's description, never a 5xx;
// nothing named in a jku, x5u, jwk or x5c header is ever contacted.
func TestAttackTableEndToEnd(t *testing.T) {
	a := startAttackServer(t)
	trap := newTrapListener(t)
	rows := attackRows(t, a, trap)
	var sent []string
	for _, tt := range rows {
		sent = append(sent, tt.token)
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []request{
				{Method: http.MethodGet, Path: "/sessions/current", Token: tt.token},
				{Method: http.MethodPost, Path: "/chat/completions", Token: tt.token, Body: chatJSON},
			} {
				resp := a.do(t, r)
				if tt.want == "" {
					if resp.Status != http.StatusOK {
						t.Errorf("%s %s = %d, want 200 for the control; body %s", r.Method, r.Path, resp.Status, resp.Body)
					}
					continue
				}
				if tt.want == notToken68 {
					checkBadRequest(t, resp, tt.want)
				} else {
					checkRefusedAs(t, resp, tt.want)
				}
				assertNoLeak(t, r.Method+" "+r.Path+" response", string(resp.Body)+fmt.Sprint(resp.Header), tt.token, a.apiKey)
			}
		})
	}

	// Nothing was fetched. The trap itself works: a connection of ours is counted.
	if n := trap.Connections(); n != 0 {
		t.Errorf("the server made %d connection(s) to a URL named in a token header", n)
	}
	c, err := net.Dial("tcp", trap.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	for deadline := time.Now().Add(10 * time.Second); trap.Connections() != 1; {
		if time.Now().After(deadline) {
			t.Fatal("the trap listener did not count a test connection: it proves nothing")
		}
		time.Sleep(pollInterval)
	}

	// Refusals are counted under the fixed reason labels only.
	metrics := string(a.do(t, request{Method: http.MethodGet, Path: "/metrics"}).Body)
	labels := map[string]bool{}
	for _, l := range ginauth.Labels() { // token.Labels and the DPoP ones
		labels[l] = true
	}
	seen := 0
	for _, line := range strings.Split(metrics, "\n") {
		if !strings.HasPrefix(line, "jwtgate_token_verify_failures_total{") {
			continue
		}
		seen++
		_, rest, _ := strings.Cut(line, `reason="`)
		label, _, _ := strings.Cut(rest, `"`)
		if !labels[label] {
			t.Errorf("verify failure series with unknown reason %q", label)
		}
	}
	if seen == 0 {
		t.Errorf("no jwtgate_token_verify_failures_total series after %d refusals", len(rows))
	}

	if code := a.Stop(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	assertNoLeak(t, "logs", a.Logs(), append(sent, string(a.secret), a.apiKey)...)
}

// padToken returns an HS256 token of the claims with an unknown "pad" claim and
// header whitespace sized so that the token is exactly n bytes.
func padToken(t *testing.T, secret []byte, claims map[string]any, n int) string {
	t.Helper()
	for spaces := range 4 {
		header := `{"alg":"HS256",` + strings.Repeat(" ", spaces) + `"kid":"hs1","typ":"JWT"}`
		lo, hi := 0, n
		for lo <= hi {
			mid := (lo + hi) / 2
			tok := hsSign("HS256", secret, header, withClaims(t, claims, "pad", strings.Repeat("p", mid)))
			switch {
			case len(tok) == n:
				return tok
			case len(tok) < n:
				lo = mid + 1
			default:
				hi = mid - 1
			}
		}
	}
	t.Fatalf("no padding makes a token of %d bytes", n)
	return ""
}

// TestOversizedTokensEndToEnd: a validly signed token of MaxTokenSize bytes is
// accepted and one byte more is refused as too large; tokens of 64 KiB and 1 MiB
// do not fit in server.max_header_bytes (default 16384) and are answered 431 by
// net/http before jwtgate sees them. Never a 5xx.
func TestOversizedTokensEndToEnd(t *testing.T) {
	a := startAttackServer(t)
	base := claimsOf(t, a.issued)
	atMax := padToken(t, a.secret, base, token.MaxTokenSize)
	over := padToken(t, a.secret, base, token.MaxTokenSize+1)
	for _, route := range []request{
		{Method: http.MethodGet, Path: "/sessions/current"},
		{Method: http.MethodPost, Path: "/chat/completions", Body: chatJSON},
	} {
		r := route
		r.Token = atMax
		if resp := a.do(t, r); resp.Status != http.StatusOK {
			t.Errorf("%s %s with a valid %d-byte token = %d, want 200; body %s", r.Method, r.Path, len(atMax), resp.Status, resp.Body)
		}
		r.Token = over
		checkRefusedAs(t, a.do(t, r), token.ErrTokenTooLarge.Error())
		r.Token = strings.Repeat("A", token.MaxTokenSize+1)
		checkRefusedAs(t, a.do(t, r), token.ErrTokenTooLarge.Error())

		for _, size := range []int{64 << 10, 1 << 20} {
			tok := strings.Repeat("eyJhbGciOiJub25lIn0.", size/20)
			req := r.Method + " " + r.Path + " HTTP/1.1\r\nHost: jwtgate\r\nAuthorization: Bearer " + tok + "\r\n"
			if r.Body != "" {
				req += fmt.Sprintf("Content-Type: application/json\r\nContent-Length: %d\r\n", len(r.Body))
			}
			req += "\r\n" + r.Body
			resp := rawResponse(t, a.Addr, req)
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("%s %s with a %d-byte token = %d, want 431", r.Method, r.Path, len(tok), resp.StatusCode)
			}
		}
	}
	// Still serving.
	a.currentSession(t, a.issued)
}

// echoUpstream is a chat backend on loopback that records every request it gets
// and answers with the request's headers, the API key header replaced by whether
// it held the expected key. It streams them as server-sent events when the
// request asks for "stream": true.
type echoUpstream struct {
	*httptest.Server
	wantAuth string
	authOK   atomic.Int64
	authBad  atomic.Int64
	mu       sync.Mutex
	seen     []string // each request: method, URL, headers and body
}

func newEchoUpstream(t *testing.T, apiKey string) *echoUpstream {
	t.Helper()
	u := &echoUpstream{wantAuth: "Bearer " + apiKey}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *echoUpstream) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var dump strings.Builder
	fmt.Fprintf(&dump, "%s %s\n", r.Method, r.URL)
	_ = r.Header.Write(&dump)
	dump.Write(body)
	u.mu.Lock()
	u.seen = append(u.seen, dump.String())
	u.mu.Unlock()

	echoed := r.Header.Clone()
	if r.Header.Get("Authorization") == u.wantAuth {
		u.authOK.Add(1)
		echoed.Set("Authorization", "[the expected API key]")
	} else {
		u.authBad.Add(1)
		echoed.Set("Authorization", "[not the expected API key]")
	}
	if strings.Contains(string(body), `"stream":true`) {
		w.Header().Set("Content-Type", "text/event-stream")
		for name, values := range echoed {
			b, _ := json.Marshal(map[string][]string{name: values})
			fmt.Fprintf(w, "data: %s\n\n", b)
			w.(http.Flusher).Flush()
		}
		fmt.Fprint(w, "data: [DONE]\n\n")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"object": "chat.completion", "headers": echoed, "path": r.URL.Path})
}

// Requests returns what the upstream has received so far.
func (u *echoUpstream) Requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

// leakExchange is one request and its response, kept for the leak check.
type leakExchange struct {
	what string
	resp *response
	own  string // the token the response hands out, allowed in it
}

// leakFlow runs the whole flow and every error path against s and returns the
// exchanges and the tokens it saw (issued and forged). other is an API key that
// api_keys.allowed does not hold.
func leakFlow(t *testing.T, s *server, secret, apiKey, other string, proxied bool) ([]leakExchange, []string) {
	t.Helper()
	var (
		out    []leakExchange
		tokens []string
	)
	do := func(what string, r request, want int) *response {
		t.Helper()
		resp := s.do(t, r)
		if resp.Status != want {
			t.Errorf("%s: status = %d, want %d; body %s", what, resp.Status, want, resp.Body)
		}
		out = append(out, leakExchange{what: what, resp: resp})
		return resp
	}
	issue := func(what string, r request, want int) string {
		t.Helper()
		resp := s.do(t, r)
		sess := checkSession(t, resp, want)
		out = append(out, leakExchange{what: what, resp: resp, own: sess.AccessToken})
		tokens = append(tokens, sess.AccessToken)
		return sess.AccessToken
	}
	key := map[string]string{"X-API-Key": apiKey}

	// The flow.
	tok := issue("issue (header)", request{Method: http.MethodPost, Path: "/sessions", Header: key}, http.StatusCreated)
	issue("issue (body)", request{Method: http.MethodPost, Path: "/sessions", Body: `{"api_key":"` + apiKey + `","subject":"leak","ttl":120}`}, http.StatusCreated)
	do("current", request{Method: http.MethodGet, Path: "/sessions/current", Token: tok}, http.StatusOK)
	tok = issue("refresh", request{Method: http.MethodPost, Path: "/sessions/refresh", Token: tok}, http.StatusOK)
	do("chat", request{Method: http.MethodPost, Path: "/chat/completions", Token: tok, Body: chatJSON}, http.StatusOK)
	stream := do("chat stream", request{Method: http.MethodPost, Path: "/chat/completions", Token: tok,
		Body: `{"model":"echo","stream":true,"messages":[{"role":"user","content":"hi"}]}`}, http.StatusOK)
	if !strings.Contains(string(stream.Body), "[DONE]") {
		t.Errorf("chat stream did not end with [DONE]: %s", stream.Body)
	}
	if proxied && !strings.Contains(string(stream.Body), "[the expected API key]") {
		t.Errorf("the upstream did not get the API key: %s", stream.Body)
	}

	// Forged tokens: tampered, and expired but signed with the real secret.
	tampered := tamper(t, tok)
	parts := strings.Split(tok, ".")
	hdr, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil {
		t.Fatal(err)
	}
	c := claimsOf(t, tok)
	past := time.Now().Add(-2 * time.Hour).Unix()
	expiredTok := hsSign("HS256", []byte(secret), string(hdr), withClaims(t, c, "iat", past, "nbf", past, "sst", past, "exp", past+60))
	tokens = append(tokens, tampered, expiredTok)

	// Every error path.
	bad := []struct {
		what string
		r    request
		want int
	}{
		{"key of a bad shape", request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": "sk bad " + apiKey}}, http.StatusUnauthorized},
		{"key not allowed", request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": other}}, http.StatusUnauthorized},
		{"key not allowed (body)", request{Method: http.MethodPost, Path: "/sessions", Body: `{"api_key":"` + other + `"}`}, http.StatusUnauthorized},
		{"malformed JSON", request{Method: http.MethodPost, Path: "/sessions", Body: `{"api_key":"` + apiKey}, http.StatusBadRequest},
		{"key of the wrong type", request{Method: http.MethodPost, Path: "/sessions", Body: `{"api_key":["` + apiKey + `"]}`}, http.StatusBadRequest},
		{"key as a member name", request{Method: http.MethodPost, Path: "/sessions", Body: `{"api_key":"k","` + apiKey + `":1}`}, http.StatusBadRequest},
		{"keys differ", request{Method: http.MethodPost, Path: "/sessions", Header: key, Body: `{"api_key":"` + other + `"}`}, http.StatusBadRequest},
		{"body too large", request{Method: http.MethodPost, Path: "/sessions", Body: `{"api_key":"` + apiKey + strings.Repeat("x", 4096) + `"}`}, http.StatusRequestEntityTooLarge},
		{"not JSON", request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"Content-Type": "text/plain"}, Body: "api_key=" + apiKey}, http.StatusUnsupportedMediaType},
		{"tampered token", request{Method: http.MethodGet, Path: "/sessions/current", Token: tampered}, http.StatusUnauthorized},
		{"expired token", request{Method: http.MethodGet, Path: "/sessions/current", Token: expiredTok}, http.StatusUnauthorized},
		{"refresh with a tampered token", request{Method: http.MethodPost, Path: "/sessions/refresh", Token: tampered}, http.StatusUnauthorized},
		{"refresh with an expired token", request{Method: http.MethodPost, Path: "/sessions/refresh", Token: expiredTok}, http.StatusUnauthorized},
		{"refresh with a bad body", request{Method: http.MethodPost, Path: "/sessions/refresh", Token: tok, Body: `{"ttl":"` + apiKey + `"}`}, http.StatusBadRequest},
		{"token in the query only", request{Method: http.MethodGet, Path: "/sessions/current?access_token=" + tok}, http.StatusUnauthorized},
		{"token in a cookie only", request{Method: http.MethodGet, Path: "/sessions/current", Header: map[string]string{"Cookie": "access_token=" + tok}}, http.StatusUnauthorized},
		{"token followed by junk", request{Method: http.MethodGet, Path: "/sessions/current", Header: map[string]string{"Authorization": "Bearer " + tok + " " + apiKey}}, http.StatusBadRequest},
		{"key as Basic credentials", request{Method: http.MethodGet, Path: "/sessions/current", Header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(apiKey+":"))}}, http.StatusUnauthorized},
		{"key as the bearer token", request{Method: http.MethodGet, Path: "/sessions/current", Token: apiKey}, http.StatusUnauthorized},
		{"chat with a tampered token", request{Method: http.MethodPost, Path: "/chat/completions", Token: tampered, Body: chatJSON}, http.StatusUnauthorized},
		{"chat with an expired token", request{Method: http.MethodPost, Path: "/chat/completions", Token: expiredTok, Body: chatJSON}, http.StatusUnauthorized},
		{"chat body too large", request{Method: http.MethodPost, Path: "/chat/completions", Token: tok, Body: `{"messages":[],"x":"` + strings.Repeat("y", 8192) + `"}`}, http.StatusRequestEntityTooLarge},
		{"wrong method", request{Method: http.MethodDelete, Path: "/sessions", Header: key}, http.StatusMethodNotAllowed},
		{"wrong method on current", request{Method: http.MethodPut, Path: "/sessions/current", Token: tok}, http.StatusMethodNotAllowed},
		{"unknown route named after the key", request{Method: http.MethodGet, Path: "/" + apiKey, Header: key}, http.StatusNotFound},
	}
	if proxied {
		bad = append(bad, struct {
			what string
			r    request
			want int
		}{"chat path escaping the upstream", request{Method: http.MethodGet, Path: "/chat/%2e%2e/" + apiKey, Token: tok}, http.StatusBadRequest})
	} else {
		bad = append(bad, []struct {
			what string
			r    request
			want int
		}{
			{"chat malformed JSON holding the key", request{Method: http.MethodPost, Path: "/chat/completions", Token: tok, Body: `{"messages":[{"content":"` + apiKey}, http.StatusBadRequest},
			{"chat messages of the wrong type holding the key", request{Method: http.MethodPost, Path: "/chat/completions", Token: tok, Body: `{"messages":"` + apiKey + `"}`}, http.StatusBadRequest},
			{"chat unknown echo route", request{Method: http.MethodGet, Path: "/chat/" + apiKey, Token: tok}, http.StatusNotFound},
		}...)
	}
	for _, b := range bad {
		do(b.what, b.r, b.want)
	}
	// A DPoP-bound session and its refusals (dpop_test.go): its proofs are
	// secrets too.
	dex, dtokens, dproofs := leakDPoP(t, s, apiKey)
	out = append(out, dex...)
	tokens = append(tokens, append(dtokens, dproofs...)...)
	// Rate limited: the bucket (rate_limit.burst 20, one more a minute) runs dry.
	limited := false
	for range 30 {
		resp := s.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: key})
		if resp.Status == http.StatusTooManyRequests {
			if resp.Header.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			out = append(out, leakExchange{what: "rate limited", resp: resp})
			limited = true
			break
		}
		sess := checkSession(t, resp, http.StatusCreated)
		out = append(out, leakExchange{what: "issue until rate limited", resp: resp, own: sess.AccessToken})
		tokens = append(tokens, sess.AccessToken)
	}
	if !limited {
		t.Errorf("POST /sessions was never rate limited")
	}
	do("metrics", request{Method: http.MethodGet, Path: "/metrics"}, http.StatusOK)
	return out, tokens
}

// TestNoSecretLeaksEndToEnd runs the whole flow and every error path against two
// servers logging at debug level, one answering chat with the built-in echo
// backend and one proxying to a loopback upstream that echoes the headers it
// got, and checks that no API key, no form of the signing secret and no whole
// token or signature shows in any response, header, metric or log line, and that
// the upstream saw the API key only in its auth header and never a session token.
func TestNoSecretLeaksEndToEnd(t *testing.T) {
	secret, apiKey, other := newSecret(t), newAPIKey(t), newAPIKey(t)
	upstream := newEchoUpstream(t, apiKey)
	env := []string{
		"JWTGATE_JWT_SECRET=" + secret,
		"JWTGATE_LOG_LEVEL=debug",
		"JWTGATE_LOG_FORMAT=json",
		"JWTGATE_API_KEYS_ALLOWED=" + apiKey,
		"JWTGATE_SERVER_MAX_BODY_BYTES=2048",
		"JWTGATE_CHAT_MAX_BODY_BYTES=4096",
		"JWTGATE_CHAT_ECHO_DELAY=1ms",
		"JWTGATE_RATE_LIMIT_SESSIONS_PER_MINUTE=1",
		"JWTGATE_RATE_LIMIT_BURST=20",
	}
	echo := startServer(t, env)
	proxy := startServer(t, append(env, "JWTGATE_CHAT_UPSTREAM_URL="+upstream.URL+"/v1"))

	echoEx, echoTokens := leakFlow(t, echo, secret, apiKey, other, false)
	proxyEx, proxyTokens := leakFlow(t, proxy, secret, apiKey, other, true)

	// The upstream goes away: the proxy's error path (502) is logged too.
	tok := proxyTokens[2] // the refreshed token
	upstream.Close()
	resp := proxy.do(t, request{Method: http.MethodPost, Path: "/chat/completions", Token: tok, Body: chatJSON})
	if resp.Status != http.StatusBadGateway {
		t.Errorf("chat with the upstream gone = %d, want 502; body %s", resp.Status, resp.Body)
	}
	proxyEx = append(proxyEx, leakExchange{what: "chat with the upstream gone", resp: resp})

	tokens := append(echoTokens, proxyTokens...)
	secrets := append(secretForms(secret), apiKey, other,
		base64.StdEncoding.EncodeToString([]byte(apiKey)), base64.RawURLEncoding.EncodeToString([]byte(apiKey)))
	for _, ex := range append(echoEx, proxyEx...) {
		var b strings.Builder
		_ = ex.resp.Header.Write(&b)
		b.Write(ex.resp.Body)
		text := b.String()
		if ex.own != "" {
			text = strings.ReplaceAll(text, ex.own, "[own token]")
		}
		assertNoLeak(t, ex.what+" response", text, append(secrets, tokens...)...)
		if c := ex.resp.Header.Values("Set-Cookie"); len(c) > 0 {
			t.Errorf("%s: response sets a cookie: %q", ex.what, c)
		}
	}

	// The upstream: the key in its auth header only, no session token anywhere.
	if upstream.authOK.Load() < 2 || upstream.authBad.Load() != 0 {
		t.Errorf("upstream auth header: %d right, %d wrong; want every request with the API key", upstream.authOK.Load(), upstream.authBad.Load())
	}
	for _, seen := range upstream.Requests() {
		rest := strings.Replace(seen, "Authorization: Bearer "+apiKey+"\r\n", "", 1)
		assertNoLeak(t, "upstream request", rest, append(secrets, tokens...)...)
	}

	for _, s := range []*server{echo, proxy} {
		if code := s.Stop(t); code != 0 {
			t.Errorf("exit code = %d, want 0", code)
		}
	}
	logs := echo.Logs() + proxy.Logs()
	debug := 0
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec struct {
			Level string `json:"level"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Errorf("log line is not JSON: %q", line)
			continue
		}
		if rec.Level == "DEBUG" {
			debug++
		}
	}
	if debug == 0 {
		t.Errorf("no DEBUG log line: the leak check did not run at debug level")
	}
	assertNoLeak(t, "logs", logs, append(secrets, tokens...)...)
}

// TestResourceBounds checks the bounds on every request: a slow-header client is
// cut off by server.read_header_timeout, a slow body by server.read_timeout,
// headers over server.max_header_bytes get 431, bodies over server.max_body_bytes
// and chat.max_body_bytes get 413, and a token over 8 KiB gets 401.
func TestResourceBounds(t *testing.T) {
	const guard = 15 * time.Second // only stops a broken run from hanging
	s := startServer(t, []string{
		"JWTGATE_JWT_SECRET=" + newSecret(t),
		"JWTGATE_SERVER_READ_HEADER_TIMEOUT=1s",
		"JWTGATE_SERVER_READ_TIMEOUT=3s",
		"JWTGATE_SERVER_MAX_HEADER_BYTES=10240",
		"JWTGATE_SERVER_MAX_BODY_BYTES=1024",
		"JWTGATE_CHAT_MAX_BODY_BYTES=2048",
		"JWTGATE_CHAT_ECHO_DELAY=1ms",
	})
	apiKey := newAPIKey(t)
	tok := s.createSession(t, apiKey).AccessToken

	t.Run("slow header client is disconnected", func(t *testing.T) {
		conn, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		var dribbled atomic.Int64
		go func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := conn.Write([]byte("a")); err != nil {
						return
					}
					dribbled.Add(1)
				}
			}
		}()
		defer close(stop)
		if err := conn.SetReadDeadline(time.Now().Add(guard)); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(conn)
		if errTimeout(err) {
			t.Fatalf("a client sending one header byte per 100ms was still connected after %s", guard)
		}
		if len(got) > 0 {
			t.Errorf("the slow client got an answer instead of a closed connection: %q", got)
		}
		if dribbled.Load() == 0 {
			t.Errorf("the client never sent a byte after the first line: the test proves nothing")
		}
	})

	t.Run("slow body is cut off", func(t *testing.T) {
		conn, err := net.Dial("tcp", s.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		head := "POST /sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		stop := make(chan struct{})
		go func() {
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					if _, err := conn.Write([]byte(" ")); err != nil {
						return
					}
				}
			}
		}()
		defer close(stop)
		if err := conn.SetReadDeadline(time.Now().Add(guard)); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(conn)
		if errTimeout(err) {
			t.Fatalf("a body dribbled one byte per 100ms was still being read after %s", guard)
		}
		// Either a refusal or a closed connection; never a session or a 5xx.
		if len(got) > 0 && !strings.HasPrefix(string(got), "HTTP/1.1 4") {
			t.Errorf("answer to a slow body = %.40q, want a 4xx or nothing", got)
		}
	})

	t.Run("header over max_header_bytes", func(t *testing.T) {
		// net/http reads up to MaxHeaderBytes+4096 bytes of headers (and, on a
		// reused keep-alive connection, up to 4096 more buffered while idle), so
		// each request here gets a fresh connection. 16 KiB is over 10240+4096
		// but within the default 16384+4096: this is the setting at work.
		get := func(n int) int {
			return rawResponse(t, s.Addr, "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("b", n)+"\r\n\r\n").StatusCode
		}
		if got := get(16 << 10); got != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("16 KiB header = %d, want 431", got)
		}
		if got := get(8 << 10); got != http.StatusOK {
			t.Errorf("8 KiB header = %d, want 200", got)
		}
	})

	t.Run("body over max_body_bytes", func(t *testing.T) {
		fits := `{"api_key":"` + apiKey + `"}`
		fits += strings.Repeat(" ", 1024-len(fits))
		checkSession(t, s.do(t, request{Method: http.MethodPost, Path: "/sessions", Body: fits}), http.StatusCreated)
		over := fits + " "
		for _, chunked := range []bool{false, true} {
			var body io.Reader = strings.NewReader(over)
			if chunked {
				body = io.MultiReader(body) // hides the length: sent chunked
			}
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/sessions", body)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			resp, err := s.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("1025-byte body (chunked %v) = %d, want 413; body %s", chunked, resp.StatusCode, b)
			}
		}
		resp := s.do(t, request{Method: http.MethodPost, Path: "/chat/completions", Token: tok,
			Body: `{"messages":[],"pad":"` + strings.Repeat("p", 2048) + `"}`})
		if resp.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("chat body over chat.max_body_bytes = %d, want 413", resp.Status)
		}
	})

	t.Run("token over 8 KiB", func(t *testing.T) {
		resp := s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: strings.Repeat("A", token.MaxTokenSize+1)})
		checkRefusedAs(t, resp, token.ErrTokenTooLarge.Error())
		resp = s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: strings.Repeat("A", token.MaxTokenSize)})
		checkRefusedAs(t, resp, token.ErrTokenMalformed.Error())
	})

	// Still serving after all of it.
	s.currentSession(t, tok)
}

// TestRevocationBeatsTheCache: a token verified (and so cached) before jwt.not_before
// is set is refused as revoked right after the reload: the cache belongs to the
// verifier that a reload replaces.
func TestRevocationBeatsTheCache(t *testing.T) {
	secret, apiKey := newSecret(t), newAPIKey(t)
	cfgFile := filepath.Join(t.TempDir(), "jwtgate.yaml")
	write := func(extra string) {
		t.Helper()
		if err := os.WriteFile(cfgFile, []byte("jwt:\n  secret: "+secret+"\n"+extra), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	s := startServer(t, nil, "--config", cfgFile)
	tok := s.createSession(t, apiKey).AccessToken
	s.currentSession(t, tok)
	s.currentSession(t, tok) // answered from the cache

	cut := time.Now().Truncate(time.Second).Add(time.Second) // after the token's iat
	write("  not_before: " + cut.UTC().Format(time.RFC3339) + "\n")
	s.Signal(t, syscall.SIGHUP)
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(s.Logs(), "configuration reloaded"); {
		if time.Now().After(deadline) {
			t.Fatalf("no reload logged within 30s of SIGHUP:\n%s", s.Logs())
		}
		time.Sleep(pollInterval)
	}
	resp := s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: tok})
	checkRefusedAs(t, resp, token.ErrTokenRevoked.Error())
}
