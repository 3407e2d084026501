package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// keysYAML is a configuration with an HMAC key set; the first kid signs.
func keysYAML(extra string, keys ...[2]string) string {
	var b strings.Builder
	b.WriteString("jwt:\n  signing_key: " + keys[0][0] + "\n" + extra + "  keys:\n")
	for _, k := range keys {
		b.WriteString("    - kid: " + k[0] + "\n      alg: HS256\n      secret: " + k[1] + "\n")
	}
	return b.String()
}

// configFile is a configuration file a test rewrites while the server runs.
type configFile struct {
	t    *testing.T
	path string
}

func newConfigFile(t *testing.T, yaml string) *configFile {
	f := &configFile{t: t, path: filepath.Join(t.TempDir(), "jwtgate.yaml")}
	f.write(yaml)
	return f
}

func (f *configFile) write(yaml string) {
	f.t.Helper()
	// Write then rename, as config management tools do, so the server never reads
	// half a file.
	tmp := f.path + ".tmp"
	if err := os.WriteFile(tmp, []byte(yaml), 0o600); err != nil {
		f.t.Fatal(err)
	}
	if err := os.Rename(tmp, f.path); err != nil {
		f.t.Fatal(err)
	}
}

// waitLog waits until the server's log holds n lines containing want (a failure
// guard of 30 s, not a timing assertion), failing early on "not reloaded" unless
// that is what is awaited.
func waitLog(t *testing.T, s *server, want string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(s.Logs(), want) < n {
		if want != "not reloaded" && strings.Contains(s.Logs(), "not reloaded") {
			t.Fatalf("reload refused:\n%s", s.Logs())
		}
		if time.Now().After(deadline) {
			t.Fatalf("log never had %d x %q:\n%s", n, want, s.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestRotationAcrossReplicas follows the rotation runbook across two processes:
// replica A signs with a new kid while replica B still signs with the old one;
// B learns the new key from a changed file (no signal: the file watch reloads it)
// and accepts both; once the old key is removed, B refuses old tokens and keeps
// accepting new ones.
func TestRotationAcrossReplicas(t *testing.T) {
	oldKey, newKey := [2]string{"2026-10", newSecret(t)}, [2]string{"2026-11", newSecret(t)}
	apiKey := newAPIKey(t)

	fileB := newConfigFile(t, keysYAML("", oldKey))
	b := startServer(t, nil, "--config", fileB.path)
	oldTok := b.createSession(t, apiKey).AccessToken

	a := startServer(t, nil, "--config", newConfigFile(t, keysYAML("", newKey, oldKey)).path)
	newTok := a.createSession(t, apiKey).AccessToken
	a.currentSession(t, oldTok) // A verifies with the old key too

	if got := checkInvalidToken(t, b.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: newTok})); got != "token key is unknown" {
		t.Fatalf("B before learning the new key: %q", got)
	}

	fileB.write(keysYAML("", oldKey, newKey)) // B learns the new key, still signs with the old
	waitLog(t, b, "configuration reloaded", 1)
	b.currentSession(t, oldTok)
	b.currentSession(t, newTok)

	fileB.write(keysYAML("", newKey)) // wait max TTL, then drop the old key
	waitLog(t, b, "configuration reloaded", 2)
	if got := checkInvalidToken(t, b.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: oldTok})); got != "token key is unknown" {
		t.Errorf("old token after its key was removed: %q", got)
	}
	b.currentSession(t, newTok)
	b.currentSession(t, b.createSession(t, apiKey).AccessToken)

	for _, s := range []*server{a, b} {
		if code := s.Stop(t); code != 0 {
			t.Errorf("exit code = %d, want 0", code)
		}
		assertNoLeak(t, "logs", s.Logs(), oldKey[1], newKey[1], apiKey, oldTok, newTok)
	}
}

// TestReloadRefusesInvalidConfig writes broken configurations and sends SIGHUP:
// each is refused with a log line naming the problem, the running configuration
// stays in force, and the server keeps answering.
func TestReloadRefusesInvalidConfig(t *testing.T) {
	key := [2]string{"k1", newSecret(t)}
	apiKey := newAPIKey(t)
	f := newConfigFile(t, keysYAML("", key))
	s := startServer(t, nil, "--config", f.path)
	tok := s.createSession(t, apiKey).AccessToken

	for i, bad := range []struct{ yaml, names string }{
		{keysYAML("", key) + "jwt_typo: 1\n", "jwt_typo"},
		{"jwt:\n  secret: too-short\n", "jwt.secret"},
		{keysYAML("  ttl: fast\n", key), "jwt.ttl"},
		{"jwt:\n  keys: [\n", "config"},
	} {
		f.write(bad.yaml)
		s.Signal(t, syscall.SIGHUP)
		waitLog(t, s, "not reloaded", i+1)
		lines := strings.Split(s.Logs(), "\n")
		var last string
		for _, l := range lines {
			if strings.Contains(l, "not reloaded") {
				last = l
			}
		}
		if !strings.Contains(last, bad.names) {
			t.Errorf("refusal %q does not name %s", last, bad.names)
		}
		s.currentSession(t, tok)
		s.currentSession(t, s.createSession(t, apiKey).AccessToken)
	}
	if strings.Contains(s.Logs(), "configuration reloaded") {
		t.Errorf("an invalid configuration was applied:\n%s", s.Logs())
	}
	assertNoLeak(t, "logs", s.Logs(), key[1], apiKey, tok)
}

// TestNotBeforeRevokesOnReload sets jwt.not_before in a running server: tokens
// issued before that instant are refused, tokens issued after it are accepted.
func TestNotBeforeRevokesOnReload(t *testing.T) {
	key := [2]string{"k1", newSecret(t)}
	apiKey := newAPIKey(t)
	f := newConfigFile(t, keysYAML("", key))
	s := startServer(t, nil, "--config", f.path)
	old := s.createSession(t, apiKey).AccessToken

	// The instant is the next whole second, so the old token's iat is before it.
	cut := time.Now().Truncate(time.Second).Add(time.Second)
	f.write(keysYAML("  not_before: "+cut.UTC().Format(time.RFC3339)+"\n", key))
	s.Signal(t, syscall.SIGHUP)
	waitLog(t, s, "configuration reloaded", 1)

	if got := checkInvalidToken(t, s.do(t, request{Method: http.MethodGet, Path: "/sessions/current", Token: old})); got != "token is revoked" {
		t.Errorf("token issued before not_before: %q", got)
	}
	for time.Now().Before(cut) {
		time.Sleep(10 * time.Millisecond)
	}
	s.currentSession(t, s.createSession(t, apiKey).AccessToken)
}
