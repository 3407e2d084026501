package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proofParts is a proof taken apart and checked the way a verifier does, with
// the standard library alone: the JOSE header, the claims, and the ES256
// signature against the header's own jwk.
type proofParts struct {
	header struct {
		Typ string            `json:"typ"`
		Alg string            `json:"alg"`
		JWK map[string]string `json:"jwk"`
	}
	claims proofClaims
}

func parseProof(t *testing.T, jws string) proofParts {
	t.Helper()
	parts := strings.Split(jws, ".")
	if len(parts) != 3 {
		t.Fatalf("proof has %d parts, want 3", len(parts))
	}
	var p proofParts
	for i, dst := range []any{&p.header, &p.claims} {
		raw, err := b64.DecodeString(parts[i])
		if err != nil {
			t.Fatalf("proof part %d: %v", i, err)
		}
		dec := json.NewDecoder(strings.NewReader(string(raw)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(dst); err != nil {
			t.Fatalf("proof part %d %s: %v", i, raw, err)
		}
	}
	if p.header.Typ != "dpop+jwt" || p.header.Alg != "ES256" {
		t.Fatalf("header typ %q alg %q, want dpop+jwt and ES256", p.header.Typ, p.header.Alg)
	}
	jwk := p.header.JWK
	if len(jwk) != 4 || jwk["kty"] != "EC" || jwk["crv"] != "P-256" {
		t.Fatalf("jwk %v: want exactly kty EC, crv P-256, x and y (no private member)", jwk)
	}
	x, errX := b64.DecodeString(jwk["x"])
	y, errY := b64.DecodeString(jwk["y"])
	if err := errors.Join(errX, errY); err != nil || len(x) != 32 || len(y) != 32 {
		t.Fatalf("jwk x, y: %v (lengths %d, %d)", err, len(x), len(y))
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatalf("jwk is not a P-256 point: %v", err)
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil || len(sig) != 64 {
		t.Fatalf("signature: %v (%d bytes, want 64: r || s)", err, len(sig))
	}
	digest := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if !ecdsa.Verify(pub, digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		t.Fatal("the signature does not verify with the header's jwk")
	}
	return p
}

// thumbprint is the RFC 7638 SHA-256 thumbprint of a P-256 jwk: its required
// members in lexicographic order, no whitespace.
func thumbprint(jwk map[string]string) string {
	h := sha256.Sum256([]byte(`{"crv":"P-256","kty":"EC","x":"` + jwk["x"] + `","y":"` + jwk["y"] + `"}`))
	return b64.EncodeToString(h[:])
}

// TestProofSource takes proofs from the signers as requests do: each is a valid
// ES256 proof for the request and the token, by one key, and no two share a jti.
func TestProofSource(t *testing.T) {
	k, err := newProofKey()
	if err != nil {
		t.Fatal(err)
	}
	const tok, htu, n = "header.claims.signature", "http://127.0.0.1:8080/sessions/current", 500
	before := time.Now().Unix()
	p := newProofSource(k, tok, http.MethodGet, htu, &dpopConfig{maxAge: time.Minute, buffer: 16}, 2)
	defer p.stop()
	jtis := make(map[string]bool)
	var jkt string
	for i := range n {
		jws, err := p.next(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		pp := parseProof(t, jws)
		c := pp.claims
		if c.HTM != http.MethodGet || c.HTU != htu || c.ATH != tokenATH(tok) {
			t.Fatalf("proof %d claims htm %q htu %q ath %q, want GET, %s and the token's", i, c.HTM, c.HTU, c.ATH, htu)
		}
		if c.IAT < before || c.IAT > time.Now().Unix() {
			t.Fatalf("proof %d iat %d outside the test's run", i, c.IAT)
		}
		if raw, err := b64.DecodeString(c.JTI); err != nil || len(raw) != 16 {
			t.Fatalf("proof %d jti %q: want 16 random bytes in base64url (%v)", i, c.JTI, err)
		}
		if jtis[c.JTI] {
			t.Fatalf("proof %d repeats jti %q", i, c.JTI)
		}
		jtis[c.JTI] = true
		switch tp := thumbprint(pp.header.JWK); {
		case jkt == "":
			jkt = tp
		case tp != jkt:
			t.Fatalf("proof %d is by another key", i)
		}
	}
	// RFC 9449 section 7.1's access token and its ath.
	if got := tokenATH("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"); got != "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo" {
		t.Errorf("tokenATH of RFC 9449's example = %s, want fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo", got)
	}
	if r := p.report(); r.Signed < n || r.Stale != 0 {
		t.Errorf("report %+v: want at least %d signed and none stale", r, n)
	}
}

// TestProofSourceStaleAndWait: a proof too old to send is dropped and counted, and
// a request that finds no proof ready waits and is counted.
func TestProofSourceStaleAndWait(t *testing.T) {
	p := newProofSource(nil, "tok", http.MethodGet, "http://127.0.0.1/", &dpopConfig{maxAge: time.Minute, buffer: 4}, 0)
	defer p.stop()
	p.ch <- signedProof{jws: "old", at: time.Now().Add(-time.Hour)}
	p.ch <- signedProof{jws: "new", at: time.Now()}
	if jws, err := p.next(t.Context()); err != nil || jws != "new" {
		t.Fatalf("next = %q, %v; want the fresh proof", jws, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("next with none ready and the run over = %v, want context.Canceled", err)
	}
	if r := p.report(); r.Stale != 1 || r.Waits != 1 {
		t.Errorf("report %+v: want 1 stale and 1 wait", r)
	}
	if (*proofSource)(nil).report() != (dpopSum{}) {
		t.Error("the report of a run without DPoP is not zero")
	}
}

func TestDPoPFlags(t *testing.T) {
	base := []string{"-url", "http://127.0.0.1:9/sessions/current"}
	bad := [][]string{
		{"-dpop", "es256"}, // no API key
		{"-dpop", "rs256", "-dpop-api-key", "k"},
		{"-dpop", "es256", "-dpop-api-key", "k", "-header", "Authorization: Bearer x"},
		{"-dpop", "es256", "-dpop-api-key", "k", "-header", "DPoP: x"},
		{"-dpop", "es256", "-dpop-api-key", "k", "-dpop-session", "http://10.0.0.1/sessions"},
		{"-dpop", "es256", "-dpop-api-key", "k", "-dpop-buffer", "0"},
		{"-dpop", "es256", "-dpop-api-key", "k", "-dpop-max-age", "1s"},
		{"-dpop-api-key", "k"}, // without -dpop
	}
	for _, args := range bad {
		if _, err := parseFlags(append(base, args...)); err == nil {
			t.Errorf("parseFlags(%q) succeeded, want an error", args)
		}
	}
	o, err := parseFlags(append(base, "-dpop", "ES256", "-dpop-api-key", "k"))
	if err != nil {
		t.Fatal(err)
	}
	if o.dpop == nil || o.dpop.session.String() != "http://127.0.0.1:9/sessions" || o.dpop.maxAge != defaultProofMaxAge {
		t.Errorf("dpop config %+v: want the target's /sessions and the default max age", o.dpop)
	}
	if o, err := parseFlags(base); err != nil || o.dpop != nil {
		t.Errorf("without -dpop: config %+v, %v; want none", o.dpop, err)
	}
}

// TestDPoPAgainstJwtgate runs the load generator's DPoP requests against a real
// jwtgate binary, which checks every proof as RFC 9449 says (signature, htm,
// htu, iat, ath, the key's thumbprint against the token's cnf.jkt) and refuses a
// jti it has seen: every response of the runs is a 2xx, on both clients, and a
// proof sent twice is refused the second time.
func TestDPoPAgainstJwtgate(t *testing.T) {
	base, apiKey := startJwtgate(t, nil)
	client := newClient(options{conns: 1, timeout: 10 * time.Second})

	// One proof by hand: accepted once, refused when replayed; the bound token is
	// refused as a bearer token; the session shows the key's thumbprint.
	k, err := newProofKey()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := (&dpopFlags{alg: "es256", apiKey: apiKey, maxAge: defaultProofMaxAge, buffer: 1}).config(mustOptions(t, base+"/sessions/current"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := bindSession(t.Context(), client, cfg, k)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := k.proof(http.MethodGet, base+"/sessions/current", tokenATH(tok), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	current := func(auth, proof string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/sessions/current", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		if proof != "" {
			req.Header.Set("DPoP", proof)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	status, body := current("DPoP "+tok, jws)
	if status != http.StatusOK {
		t.Fatalf("GET /sessions/current with the proof: %d %s", status, body)
	}
	var sess struct {
		JKT string `json:"dpop_jkt"`
	}
	if err := json.Unmarshal([]byte(body), &sess); err != nil || sess.JKT != thumbprint(parseProof(t, jws).header.JWK) {
		t.Errorf("session %s: want dpop_jkt the key's RFC 7638 thumbprint (%v)", body, err)
	}
	if status, body := current("DPoP "+tok, jws); status != http.StatusUnauthorized {
		t.Errorf("the same proof again: %d %s, want 401 (a replay)", status, body)
	}
	if status, body := current("Bearer "+tok, ""); status != http.StatusUnauthorized {
		t.Errorf("the bound token as a bearer token: %d %s, want 401", status, body)
	}

	chat := `{"model":"bench","messages":[{"role":"user","content":"ping"}]}`
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"current raw", []string{"-url", base + "/sessions/current"}},
		{"current std", []string{"-url", base + "/sessions/current", "-client", "std"}},
		{"chat raw", []string{"-url", base + "/chat/completions", "-method", "POST", "-header", "Content-Type: application/json", "-body", chat}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 300
			args := append(tc.args, "-dpop", "es256", "-dpop-api-key", apiKey, "-dpop-buffer", "8",
				"-c", "3", "-n", "300", "-d", "5m", "-warmup", "0s")
			o, err := parseFlags(args)
			if err != nil {
				t.Fatal(err)
			}
			res, err := generate(t.Context(), o)
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests < n || res.Errors != 0 || res.Non2xx != 0 {
				t.Fatalf("result %+v: want %d requests, all 2xx", res, n)
			}
			if res.DPoP.Signed < res.Requests {
				t.Errorf("%d proofs signed for %d requests", res.DPoP.Signed, res.Requests)
			}
		})
	}
}

// TestDPoPNonceRequired: a server that wants nonces (dpop.require_nonce) is told
// apart from one that refuses the proof, since loadgen cannot send them.
func TestDPoPNonceRequired(t *testing.T) {
	base, apiKey := startJwtgate(t, []string{
		"JWTGATE_DPOP_REQUIRE_NONCE=true",
		"JWTGATE_DPOP_NONCE_SECRET=loadgen-test-only-nonce-secret-0123456789",
	})
	o, err := parseFlags([]string{"-url", base + "/sessions/current", "-dpop", "es256", "-dpop-api-key", apiKey, "-n", "1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := generate(t.Context(), o); !errors.Is(err, errNonceRequired) {
		t.Fatalf("generate = %v, want errNonceRequired", err)
	}
}

func mustOptions(t *testing.T, rawURL string) options {
	t.Helper()
	o, err := parseFlags([]string{"-url", rawURL})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// startJwtgate builds jwtgate from the repository (or takes $JWTGATE_BIN), runs
// it on a free loopback port with the built-in echo backend, and returns its
// base URL and an API key it accepts; env adds to its settings. The process is
// stopped when the test ends.
func startJwtgate(t *testing.T, env []string) (string, string) {
	t.Helper()
	bin := os.Getenv("JWTGATE_BIN")
	if bin == "" {
		goTool, err := exec.LookPath("go")
		if err != nil {
			t.Fatalf("finding the go command: %v", err)
		}
		bin = filepath.Join(t.TempDir(), "jwtgate")
		cmd := exec.Command(goTool, "build", "-o", bin, "./cmd/jwtgate")
		cmd.Dir = filepath.Join("..", "..") // the main module: go test runs in bench/loadgen
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building jwtgate: %v\n%s", err, out)
		}
	}
	cmd := exec.Command(bin, "serve", "--addr", "127.0.0.1:0")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JWTGATE_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		"JWTGATE_JWT_SECRET=loadgen-test-only-secret-0123456789abcdef",
		"JWTGATE_RATE_LIMIT_SESSIONS_PER_MINUTE=0",
		"JWTGATE_CHAT_ECHO_DELAY=0s",
		"JWTGATE_LOG_FORMAT=json",
	)
	cmd.Env = append(cmd.Env, env...)
	cmd.Dir = t.TempDir()
	logs, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = cmd.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting jwtgate: %v", err)
	}
	exited := make(chan struct{})
	addr := make(chan string, 1)
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			var rec struct {
				Msg  string `json:"msg"`
				Addr string `json:"addr"`
			}
			if json.Unmarshal(sc.Bytes(), &rec) == nil && rec.Msg == "listening" {
				select {
				case addr <- rec.Addr:
				default:
				}
			}
			if strings.Contains(sc.Text(), "panic:") {
				t.Errorf("jwtgate: %s", sc.Text())
			}
		}
		_ = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case a := <-addr:
		return "http://" + a, "loadgen-test-api-key"
	case <-exited:
		t.Fatal("jwtgate exited before listening")
	case <-time.After(60 * time.Second):
		t.Fatal("jwtgate did not log a listening address within 60s")
	}
	return "", ""
}
