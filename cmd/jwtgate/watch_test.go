package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/pkg/config"
)

// writeFile writes s to p, failing the test on error.
func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// settled polls w twice, as two watch intervals would, and reports whether a
// change was found.
func settled(w *fileWatcher) bool {
	if w.poll() {
		return true
	}
	return w.poll()
}

// secretConfig returns a loader of a configuration whose jwt.secret_file is
// secret, as config.Load reads it, calling during (if not nil) right after the
// secret is read.
func secretConfig(t *testing.T, secret string, during func()) func() (config.Config, error) {
	return func() (config.Config, error) {
		b, err := os.ReadFile(secret)
		if err != nil {
			return config.Config{}, err
		}
		if during != nil {
			during()
		}
		cfg := config.Default()
		cfg.JWT.SecretFile, cfg.JWT.Secret = secret, config.Secret(b)
		return cfg, nil
	}
}

func TestFileWatcherPoll(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "jwtgate.yaml")
	secret := filepath.Join(dir, "secret")
	writeFile(t, cfgPath, "log:\n  level: info\n")
	writeFile(t, secret, "first-secret-of-at-least-32-bytes!!")

	w := newFileWatcher(cfgPath)
	cfg, base, err := w.load(secretConfig(t, secret, nil))
	if err != nil {
		t.Fatal(err)
	}
	w.follow(cfg, base)
	if settled(w) {
		t.Fatal("a change reported right after start")
	}
	writeFile(t, cfgPath, "log:\n  level: info\n") // same content: a touch is no change
	if settled(w) {
		t.Error("rewriting the same content counted as a change")
	}
	writeFile(t, secret, "second-secret-of-at-least-32-bytes!")
	if w.poll() {
		t.Error("a change was reported on the first poll that saw it, before a second look")
	}
	if !w.poll() {
		t.Error("a new secret, seen by two polls, was not reported")
	}
	if settled(w) {
		t.Error("one change was reported twice")
	}

	// A Kubernetes-style update: the watched path is a symlink swapped to a new file.
	target := filepath.Join(dir, "v2.yaml")
	writeFile(t, target, "log:\n  level: debug\n")
	tmp := filepath.Join(dir, "tmp-link")
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, cfgPath); err != nil {
		t.Fatal(err)
	}
	if !settled(w) {
		t.Error("a symlink swap was not noticed")
	}

	if err := os.Remove(secret); err != nil {
		t.Fatal(err)
	}
	if !settled(w) {
		t.Error("a removed file was not noticed")
	}
	w.follow(config.Default(), nil) // a configuration that names no secret file
	writeFile(t, secret, "third")
	if settled(w) {
		t.Error("a file no longer watched was noticed")
	}
}

// TestFileWatcherWaitsForAStableFile writes a file in parts between polls: what a
// poll catches half-written is not reported until two polls agree on it.
func TestFileWatcherWaitsForAStableFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "jwtgate.yaml")
	writeFile(t, p, "jwt:\n  not_before: 2026-01-01T00:00:00Z\n")
	w := newFileWatcher(p)
	for _, part := range []string{"jwt:\n", "jwt:\n  not_before: 2026-", "jwt:\n  not_before: 2026-12-01T00:00:00Z\n"} {
		writeFile(t, p, part)
		if w.poll() {
			t.Fatalf("a change was reported while the file was %q, before two polls agreed", part)
		}
	}
	if !w.poll() {
		t.Error("the finished file, seen by two polls, was not reported")
	}
}

// TestFileWatcherBaselineBeforeLoad writes the secret file right after the
// configuration read it: the change must still be reported, both for a file the
// watcher already followed and for one the configuration names for the first
// time (whose baseline the first load cannot have taken).
func TestFileWatcherBaselineBeforeLoad(t *testing.T) {
	for _, tt := range []struct {
		name     string
		followed bool // the secret file was watched before this load
	}{
		{"a file already followed", true},
		{"a file named for the first time", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath, secret := filepath.Join(dir, "jwtgate.yaml"), filepath.Join(dir, "secret")
			writeFile(t, cfgPath, "jwt:\n  secret_file: "+secret+"\n")
			writeFile(t, secret, "v1-secret-of-at-least-32-bytes-long!")
			w := newFileWatcher(cfgPath)
			if tt.followed {
				cfg, base, err := w.load(secretConfig(t, secret, nil))
				if err != nil {
					t.Fatal(err)
				}
				w.follow(cfg, base)
			}

			// Every load is followed by a write, so the secret always changes
			// after the configuration read it.
			n := 0
			cfg, base, err := w.load(secretConfig(t, secret, func() {
				n++
				writeFile(t, secret, strings.Repeat("v", n)+"-secret-of-at-least-32-bytes-long!")
			}))
			if err != nil {
				t.Fatal(err)
			}
			w.follow(cfg, base)
			onDisk, err := os.ReadFile(secret)
			if err != nil {
				t.Fatal(err)
			}
			if string(cfg.JWT.Secret) == string(onDisk) {
				t.Fatal("test setup: the configuration holds what is on disk, nothing was written after the read")
			}
			if !settled(w) {
				t.Error("a secret written after the configuration read it was never reported: the change is lost")
			}
		})
	}
}

func TestFileWatcherRunSendsSIGHUP(t *testing.T) {
	p := filepath.Join(t.TempDir(), "jwtgate.yaml")
	writeFile(t, p, "a: 1\n")
	w := newFileWatcher(p)
	reload := make(chan os.Signal, 1)
	go w.run(t.Context(), 10*time.Millisecond, reload)
	writeFile(t, p, "a: 2\n")
	select {
	case sig := <-reload:
		if sig != syscall.SIGHUP {
			t.Errorf("got %v, want SIGHUP", sig)
		}
	case <-time.After(10 * time.Second): // failure guard only
		t.Fatal("no reload after the file changed")
	}
}

func TestFileWatcherFollowsConfig(t *testing.T) {
	dir := t.TempDir()
	cfgPath, secret := filepath.Join(dir, "jwtgate.yaml"), filepath.Join(dir, "secret")
	for _, p := range []string{cfgPath, secret} {
		writeFile(t, p, "v1")
	}
	w := newFileWatcher(cfgPath)
	writeFile(t, secret, "v2")
	if settled(w) {
		t.Error("a file no configuration names yet was watched")
	}
	cfg := config.Default()
	cfg.JWT.SecretFile = secret
	w.follow(cfg, nil)
	writeFile(t, secret, "v3")
	if !settled(w) {
		t.Error("the secret file of the configuration in force was not watched")
	}
	var none *fileWatcher
	none.follow(cfg, nil) // a nil watcher does nothing
	if _, _, err := none.load(fixedConfig(cfg)); err != nil {
		t.Errorf("a nil watcher's load: %v", err)
	}
}

// TestServeAppliesAChangeWrittenDuringAReload writes a jwt.not_before revocation
// into the configuration file while a reload is loading it: the watcher must ask
// for one more reload, which applies it, rather than take the new file as its
// baseline unread.
func TestServeAppliesAChangeWrittenDuringAReload(t *testing.T) {
	cleanEnv(t)
	cfgPath := filepath.Join(t.TempDir(), "jwtgate.yaml")
	base := "server:\n  addr: 127.0.0.1:0\nrate_limit:\n  sessions_per_minute: 0\njwt:\n  secret: " + newSecret(t) + "\n"
	revoked := base + "  not_before: " + time.Now().Add(time.Hour).UTC().Format(time.RFC3339) + "\n"
	writeFile(t, cfgPath, base)

	revoke := make(chan struct{}, 1) // holds a value: write the revocation during the next load
	load := func() (config.Config, error) {
		c, err := config.Load(configFlags(t, cfgPath))
		select {
		case <-revoke: // the file changes just after this load read it
			writeFile(t, cfgPath, revoked)
		default:
		}
		return c, err
	}
	watch := newFileWatcher(cfgPath)
	ctx, cancel := context.WithCancel(t.Context())
	var logs syncBuffer
	sig := make(chan os.Signal, 1)
	done := make(chan error, 1)
	go watch.run(ctx, 10*time.Millisecond, sig)
	go func() { done <- serve(ctx, load, &logs, sig, watch) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve = %v, want nil", err)
		}
	}()
	s := &testServer{addr: listenAddr(t, &logs, done, "listening"), logs: &logs, reload: sig}
	status, tok := s.session(t, testAPIKey)
	if status != http.StatusCreated {
		t.Fatalf("POST /sessions = %d, want 201", status)
	}

	// A reload (SIGHUP) during which the revocation is written.
	revoke <- struct{}{}
	s.reload <- syscall.SIGHUP
	waitFor(t, func() bool { return s.current(t, tok) == http.StatusUnauthorized }, "the revocation written during a reload to be applied")
	if n := strings.Count(logs.String(), reloaded+":"); n < 2 {
		t.Errorf("%d reloads applied, want the signalled one and the one the watcher asked for", n)
	}
}
