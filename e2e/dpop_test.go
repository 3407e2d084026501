package e2e

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/dpop/dpoptest"
)

// dpopClient is a UI holding a DPoP key, talking to one server.
type dpopClient struct {
	s     *server
	key   *dpoptest.Key
	nonce string // the last DPoP-Nonce the server sent
}

func newDPoPClient(t *testing.T, s *server) *dpopClient {
	t.Helper()
	return &dpopClient{s: s, key: dpoptest.MustES256(t)}
}

// proof is the client's proof for method and path on its server, with the ath of
// tok when tok is not empty and the last nonce it was given.
func (c *dpopClient) proof(t *testing.T, method, path, tok string) string {
	t.Helper()
	return c.key.MustProof(t, dpoptest.Claims{HTM: method, HTU: c.s.URL + path, AccessToken: tok, Nonce: c.nonce})
}

// do sends r with a fresh proof (and the DPoP scheme when r.Token is set),
// retrying once with the server's nonce when it asks for one, as RFC 9449
// section 8 has clients do. proofs collects every proof sent.
func (c *dpopClient) do(t *testing.T, r request, proofs *[]string) *response {
	t.Helper()
	tok := r.Token
	r.Token = ""
	for attempt := 0; ; attempt++ {
		h := map[string]string{}
		for k, v := range r.Header {
			h[k] = v
		}
		p := c.proof(t, r.Method, strings.SplitN(r.Path, "?", 2)[0], tok)
		*proofs = append(*proofs, p)
		h["DPoP"] = p
		if tok != "" {
			h["Authorization"] = "DPoP " + tok
		}
		resp := c.s.do(t, request{Method: r.Method, Path: r.Path, Header: h, Body: r.Body})
		if n := resp.Header.Get("DPoP-Nonce"); n != "" {
			c.nonce = n
		}
		if attempt == 0 && strings.Contains(resp.Header.Get("WWW-Authenticate")+string(resp.Body), "use_dpop_nonce") {
			continue
		}
		return resp
	}
}

// leakDPoP adds the DPoP flow and its error paths to leakFlow: a session bound
// by a proof, current, chat, refresh, and refused proofs, replays and downgrades.
// It returns the exchanges, the tokens it was issued and the proofs it sent,
// none of which may show in a response other than its own, a log line or the
// upstream's requests.
func leakDPoP(t *testing.T, s *server, apiKey string) (ex []leakExchange, tokens, proofs []string) {
	t.Helper()
	c := newDPoPClient(t, s)
	other := newDPoPClient(t, s)
	key := map[string]string{"X-API-Key": apiKey}
	resp := c.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: key}, &proofs)
	sess := checkSession(t, resp, http.StatusCreated)
	if sess.TokenType != "DPoP" {
		t.Errorf("DPoP session token_type = %q", sess.TokenType)
	}
	ex = append(ex, leakExchange{what: "DPoP issue", resp: resp, own: sess.AccessToken})
	tok := sess.AccessToken
	tokens = append(tokens, tok)
	check := func(what string, resp *response, want int) {
		t.Helper()
		if resp.Status != want {
			t.Errorf("%s: status %d, want %d; body %s", what, resp.Status, want, resp.Body)
		}
		ex = append(ex, leakExchange{what: what, resp: resp})
	}
	check("DPoP current", c.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: tok}, &proofs), http.StatusOK)
	check("DPoP chat", c.do(t, request{Method: http.MethodPost, Path: "/chat/completions", Token: tok, Body: chatJSON}, &proofs), http.StatusOK)
	resp = c.do(t, request{Method: http.MethodPost, Path: "/sessions/refresh", Token: tok}, &proofs)
	refreshed := checkSession(t, resp, http.StatusOK)
	ex = append(ex, leakExchange{what: "DPoP refresh", resp: resp, own: refreshed.AccessToken})
	tokens = append(tokens, refreshed.AccessToken)

	check("DPoP proof by another key", other.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: tok}, &proofs), http.StatusUnauthorized)
	check("DPoP chat with a proof by another key", other.do(t, request{Method: http.MethodPost, Path: "/chat/completions", Token: tok, Body: chatJSON}, &proofs), http.StatusUnauthorized)
	p := c.proof(t, http.MethodGet, "/sessions/current", tok)
	proofs = append(proofs, p)
	h := map[string]string{"Authorization": "DPoP " + tok, "DPoP": p}
	check("DPoP proof once", s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Header: h}), http.StatusOK)
	check("DPoP proof replayed", s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Header: h}), http.StatusUnauthorized)
	check("DPoP token as Bearer", s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: tok}), http.StatusUnauthorized)
	check("DPoP token in X-API-Key", s.do(t, request{Method: http.MethodPost, Path: "/chat/completions", Header: map[string]string{"X-API-Key": tok}, Body: chatJSON}), http.StatusUnauthorized)
	check("DPoP token without a proof", s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Header: map[string]string{"Authorization": "DPoP " + tok}}), http.StatusUnauthorized)
	check("DPoP proof holding the token", s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Header: map[string]string{"Authorization": "DPoP " + tok, "DPoP": tok}}), http.StatusUnauthorized)
	check("DPoP proof for POST /sessions by a bad key", s.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": apiKey, "DPoP": "x." + apiKey + ".y"}}), http.StatusBadRequest)
	check("dpop_jkt holding the key", s.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: key, Body: `{"dpop_jkt":"` + apiKey + `"}`}), http.StatusBadRequest)
	return ex, tokens, proofs
}

// TestDPoPEndToEnd runs a DPoP-bound session against the binary with server
// nonces required: the nonce dance at POST /sessions and on /chat/*, a streamed
// chat completion with proofs, refresh keeping the binding, the refusals a copy
// of the token meets, their reasons in the metrics, and no proof or token in the
// logs.
func TestDPoPEndToEnd(t *testing.T) {
	apiKey := newAPIKey(t)
	s := startServer(t, []string{
		"JWTGATE_JWT_SECRET=" + newSecret(t),
		"JWTGATE_LOG_LEVEL=debug",
		"JWTGATE_DPOP_REQUIRE_NONCE=true",
		"JWTGATE_CHAT_ECHO_DELAY=1ms",
	})
	c := newDPoPClient(t, s)
	var proofs []string

	// The first proof has no nonce: 400 use_dpop_nonce with the nonce to use.
	first := c.proof(t, http.MethodPost, "/sessions", "")
	resp := s.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": apiKey, "DPoP": first}})
	var eb errorBody
	resp.JSON(t, &eb)
	if resp.Status != http.StatusBadRequest || eb.Error != "use_dpop_nonce" || resp.Header.Get("DPoP-Nonce") == "" {
		t.Fatalf("POST /sessions without a nonce: %d %s, DPoP-Nonce %q", resp.Status, resp.Body, resp.Header.Get("DPoP-Nonce"))
	}
	c.nonce = resp.Header.Get("DPoP-Nonce")
	resp = c.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": apiKey}}, &proofs)
	sess := checkSession(t, resp, http.StatusCreated)
	if sess.TokenType != "DPoP" {
		t.Fatalf("token_type = %q, want DPoP", sess.TokenType)
	}
	tok := sess.AccessToken

	resp = c.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: tok}, &proofs)
	var cur struct {
		DPoPJKT string `json:"dpop_jkt"`
	}
	resp.JSON(t, &cur)
	if resp.Status != http.StatusOK || cur.DPoPJKT != c.key.JKT() {
		t.Fatalf("GET /sessions/current: %d, dpop_jkt %q, want %q", resp.Status, cur.DPoPJKT, c.key.JKT())
	}

	// A streamed chat completion with its proof, read event by event.
	p := c.proof(t, http.MethodPost, "/chat/chat/completions", tok)
	proofs = append(proofs, p)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/chat/chat/completions",
		strings.NewReader(`{"model":"echo","stream":true,"messages":[{"role":"user","content":"bound and streaming"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", p)
	hr, err := s.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	events := 0
	sc := bufio.NewScanner(hr.Body)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data:") {
			events++
		}
	}
	hr.Body.Close()
	if hr.StatusCode != http.StatusOK || events < 2 || !strings.HasPrefix(hr.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("streamed chat: %d %q, %d events", hr.StatusCode, hr.Header.Get("Content-Type"), events)
	}

	// The copied token, without the key.
	thief := newDPoPClient(t, s)
	thief.nonce = c.nonce
	for _, r := range []struct {
		what string
		resp *response
	}{
		{"as Bearer", s.do(t, request{Method: http.MethodPost, Path: "/chat/chat/completions", Token: tok, Body: chatJSON})},
		{"in X-API-Key", s.do(t, request{Method: http.MethodPost, Path: "/chat/chat/completions", Header: map[string]string{"X-API-Key": tok}, Body: chatJSON})},
		{"with the thief's proof", thief.do(t, request{Method: http.MethodPost, Path: "/chat/chat/completions", Token: tok, Body: chatJSON}, &proofs)},
		{"with a proof replayed", s.do(t, request{Method: http.MethodPost, Path: "/chat/chat/completions",
			Header: map[string]string{"Authorization": "DPoP " + tok, "DPoP": p}, Body: chatJSON})},
	} {
		if r.resp.Status != http.StatusUnauthorized || !strings.HasPrefix(r.resp.Header.Get("WWW-Authenticate"), `DPoP realm="jwtgate"`) {
			t.Errorf("the copied token %s: %d %q, want 401 with a DPoP challenge", r.what, r.resp.Status, r.resp.Header.Get("WWW-Authenticate"))
		}
	}

	resp = c.do(t, request{Method: http.MethodPost, Path: "/sessions/refresh", Token: tok}, &proofs)
	refreshed := checkSession(t, resp, http.StatusOK)
	if refreshed.TokenType != "DPoP" {
		t.Errorf("refreshed token_type = %q", refreshed.TokenType)
	}
	if resp := c.do(t, request{Method: http.MethodGet, Path: "/chat/models", Token: refreshed.AccessToken}, &proofs); resp.Status != http.StatusOK {
		t.Errorf("the refreshed token with a proof: %d %s", resp.Status, resp.Body)
	}
	if resp := thief.do(t, request{Method: http.MethodGet, Path: "/chat/models", Token: refreshed.AccessToken}, &proofs); resp.Status != http.StatusUnauthorized {
		t.Errorf("the refreshed token with the thief's proof: %d", resp.Status)
	}

	mf := scrapeMetrics(t, s.Client, s.URL+"/metrics")
	for reason, atLeast := range map[string]float64{"dpop_downgrade": 2, "dpop_binding": 2, "dpop_replayed": 1, "dpop_nonce": 1, "dpop_htu": 0} {
		v, ok := series(mf, "jwtgate_token_verify_failures_total", map[string]string{"reason": reason})
		if !ok || v < atLeast {
			t.Errorf("jwtgate_token_verify_failures_total{reason=%q} = %v (present %v), want at least %v", reason, v, ok, atLeast)
		}
	}
	s.Stop(t)
	assertNoLeak(t, "logs", s.Logs(), append(proofs, first, tok, refreshed.AccessToken, apiKey)...)
}

// TestDPoPNoncesAcrossReplicas: two replicas with the same jwt.secret and no
// dpop.nonce_secret accept each other's nonces.
func TestDPoPNoncesAcrossReplicas(t *testing.T) {
	secret, apiKey := newSecret(t), newAPIKey(t)
	env := []string{"JWTGATE_JWT_SECRET=" + secret, "JWTGATE_DPOP_REQUIRE_NONCE=true"}
	a, b := startServer(t, env), startServer(t, env)
	ca := newDPoPClient(t, a)
	var proofs []string
	resp := ca.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": apiKey}}, &proofs)
	tok := checkSession(t, resp, http.StatusCreated).AccessToken
	if ca.nonce == "" {
		t.Fatal("replica a handed out no nonce")
	}
	// The same key, at replica b, with a's nonce: no use_dpop_nonce round.
	cb := &dpopClient{s: b, key: ca.key, nonce: ca.nonce}
	p := cb.proof(t, http.MethodGet, "/sessions/current", tok)
	resp = b.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Header: map[string]string{"Authorization": "DPoP " + tok, "DPoP": p}})
	if resp.Status != http.StatusOK {
		t.Fatalf("replica b with a's nonce: %d %s %q", resp.Status, resp.Body, resp.Header.Get("WWW-Authenticate"))
	}
	// A replica with another secret makes other nonces.
	c := startServer(t, []string{"JWTGATE_JWT_SECRET=" + newSecret(t), "JWTGATE_DPOP_REQUIRE_NONCE=true"})
	cc := &dpopClient{s: c, key: ca.key, nonce: ca.nonce}
	resp = c.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": apiKey, "DPoP": cc.proof(t, http.MethodPost, "/sessions", "")}})
	if resp.Status != http.StatusBadRequest || !strings.Contains(string(resp.Body), "use_dpop_nonce") {
		t.Fatalf("a replica with another secret took a's nonce: %d %s", resp.Status, resp.Body)
	}
}

// TestDPoPBehindProxy: behind a TLS-terminating proxy the proof names the public
// URL; jwtgate believes X-Forwarded-Proto and X-Forwarded-Host only from
// server.trusted_proxies.
func TestDPoPBehindProxy(t *testing.T) {
	apiKey := newAPIKey(t)
	k := dpoptest.MustES256(t)
	forwarded := func(s *server) *response {
		p := k.MustProof(t, dpoptest.Claims{HTM: http.MethodPost, HTU: "https://gw.example/sessions"})
		return s.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{
			"X-API-Key": apiKey, "DPoP": p, "X-Forwarded-Proto": "https", "X-Forwarded-Host": "gw.example"}})
	}
	trusting := startServer(t, []string{"JWTGATE_JWT_SECRET=" + newSecret(t), "JWTGATE_SERVER_TRUSTED_PROXIES=127.0.0.1"})
	if resp := forwarded(trusting); resp.Status != http.StatusCreated {
		t.Fatalf("from a trusted proxy: %d %s", resp.Status, resp.Body)
	}
	plain := startServer(t, []string{"JWTGATE_JWT_SECRET=" + newSecret(t)})
	resp := forwarded(plain)
	var eb errorBody
	resp.JSON(t, &eb)
	if resp.Status != http.StatusBadRequest || eb.Error != "invalid_dpop_proof" {
		t.Fatalf("from an untrusted peer: %d %s, want 400 invalid_dpop_proof", resp.Status, resp.Body)
	}
}

// TestDPoPRequired: with dpop.required POST /sessions issues only bound tokens,
// by a proof or by dpop_jkt.
func TestDPoPRequired(t *testing.T) {
	apiKey := newAPIKey(t)
	s := startServer(t, []string{"JWTGATE_JWT_SECRET=" + newSecret(t), "JWTGATE_DPOP_REQUIRED=true"})
	resp := s.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": apiKey}})
	var eb errorBody
	resp.JSON(t, &eb)
	if resp.Status != http.StatusBadRequest || eb.Error != "invalid_dpop_proof" {
		t.Fatalf("unbound: %d %s, want 400 invalid_dpop_proof", resp.Status, resp.Body)
	}
	c := newDPoPClient(t, s)
	resp = s.do(t, request{Method: http.MethodPost, Path: "/sessions", Header: map[string]string{"X-API-Key": apiKey},
		Body: `{"dpop_jkt":"` + c.key.JKT() + `"}`})
	if sess := checkSession(t, resp, http.StatusCreated); sess.TokenType != "DPoP" {
		t.Fatalf("bound by dpop_jkt: token_type %q", sess.TokenType)
	}
}
