package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// startReplicas starts n replicas of the binary with the configuration file
// cfgFile, as a deployment would: same file, same mounted secret, nothing shared
// at run time.
func startReplicas(t *testing.T, n int, cfgFile string) []*server {
	t.Helper()
	replicas := make([]*server, n)
	for i := range replicas {
		replicas[i] = startServer(t, nil, "--config", cfgFile)
	}
	return replicas
}

// writeDeploymentConfig writes a secret file and a configuration file that
// points at it, the way deploy/kubernetes mounts them, and returns the
// configuration file's path.
func writeDeploymentConfig(t *testing.T, secret string) string {
	t.Helper()
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "jwt-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "jwtgate.yaml")
	yaml := "jwt:\n  secret_file: " + secretFile + "\n  issuer: jwtgate-scaleout\nchat:\n  echo_delay: 1ms\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfgFile
}

// TestScaleOut starts three replicas with the same configuration and sends one
// session's requests round robin across them: every request succeeds, with no
// state shared between the processes. A replica with another secret refuses
// their tokens, and they refuse its.
func TestScaleOut(t *testing.T) {
	secret, apiKey := newSecret(t), newAPIKey(t)
	replicas := startReplicas(t, 3, writeDeploymentConfig(t, secret))

	sess := replicas[0].createSession(t, apiKey)
	first := replicas[0].currentSession(t, sess.AccessToken)
	tok := sess.AccessToken
	tokens := []string{tok}
	chatBody := `{"model":"echo","messages":[{"role":"user","content":"` + chatPrompt + `"}]}`
	streamBody := `{"model":"echo","stream":true,"messages":[{"role":"user","content":"` + chatPrompt + `"}]}`

	// Each step goes to the next replica: current, refresh, chat, stream, ...
	// so that every kind of request meets every replica, each time with the
	// token the previous replica issued.
	steps := []string{"current", "refresh", "chat", "stream"}
	for i := range 3 * len(steps) {
		r := replicas[(i+1)%len(replicas)]
		step := steps[i%len(steps)]
		where := fmt.Sprintf("step %d (%s on replica %d)", i, step, (i+1)%len(replicas)+1)
		switch step {
		case "current":
			got := r.currentSession(t, tok)
			if got.SessionID != first.SessionID || got.APIKeyFingerprint != first.APIKeyFingerprint || got.Subject != first.Subject {
				t.Errorf("%s: session %+v, want %+v", where, got, first)
			}
		case "refresh":
			next := checkSession(t, r.do(t, request{Method: http.MethodPost, Path: "/sessions/refresh", Token: tok}), http.StatusOK)
			if next.AccessToken == tok {
				t.Errorf("%s: the same token back", where)
			}
			tok = next.AccessToken
			tokens = append(tokens, tok)
		case "chat":
			resp := r.do(t, request{Method: http.MethodPost, Path: "/chat/completions", Token: tok, Body: chatBody})
			if resp.Status != http.StatusOK || !strings.Contains(string(resp.Body), chatPrompt) {
				t.Errorf("%s: %d %s, want the echo", where, resp.Status, resp.Body)
			}
		case "stream":
			if chunks := streamChat(t, r, tok, streamBody, nil); !strings.Contains(strings.Join(chunks, ""), "stateless") {
				t.Errorf("%s: stream %q does not echo the prompt", where, chunks)
			}
		}
	}
	// The first token, issued before every refresh, is still good everywhere
	// until it expires: refreshing does not revoke (there is nothing to revoke in).
	for i, r := range replicas {
		if got := r.currentSession(t, sess.AccessToken); got.SessionID != first.SessionID {
			t.Errorf("replica %d: the first token shows session %q", i+1, got.SessionID)
		}
	}

	// Another secret is another deployment: tokens do not cross.
	other := startServer(t, nil, "--config", writeDeploymentConfig(t, newSecret(t)))
	foreign := other.createSession(t, apiKey).AccessToken
	for i, r := range replicas {
		desc := checkInvalidToken(t, r.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: foreign}))
		if desc != "token key is unknown" && desc != "token signature is invalid" {
			t.Errorf("replica %d refuses the foreign token with %q, want an unknown key or a bad signature", i+1, desc)
		}
		checkInvalidToken(t, r.do(t, request{Method: http.MethodPost, Path: "/sessions/refresh", Token: foreign}))
		checkInvalidToken(t, r.do(t, request{Method: http.MethodPost, Path: "/chat/completions", Token: foreign, Body: chatBody}))
	}
	checkInvalidToken(t, other.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: tok}))

	for i, r := range append(replicas, other) {
		if code := r.Stop(t); code != 0 {
			t.Errorf("replica %d: exit code %d, want 0", i+1, code)
		}
		assertNoLeak(t, fmt.Sprintf("replica %d logs", i+1), r.Logs(), append(tokens, secret, apiKey, foreign)...)
	}
}
