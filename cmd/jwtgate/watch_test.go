package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/pkg/config"
)

func TestFileWatcherChanged(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jwtgate.yaml")
	secret := filepath.Join(dir, "secret")
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg, "log:\n  level: info\n")
	write(secret, "first-secret-of-at-least-32-bytes!!")

	w := newFileWatcher(cfg)
	w.setPaths([]string{cfg, "", secret})
	if w.changed() {
		t.Fatal("changed() right after start")
	}
	write(cfg, "log:\n  level: info\n") // same content: a touch is no change
	if w.changed() {
		t.Error("rewriting the same content counted as a change")
	}
	write(secret, "second-secret-of-at-least-32-bytes!")
	if !w.changed() {
		t.Error("a new secret was not noticed")
	}
	if w.changed() {
		t.Error("one change was reported twice")
	}

	// A Kubernetes-style update: the watched path is a symlink swapped to a new file.
	target := filepath.Join(dir, "v2.yaml")
	write(target, "log:\n  level: debug\n")
	tmp := filepath.Join(dir, "tmp-link")
	if err := os.Symlink(target, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, cfg); err != nil {
		t.Fatal(err)
	}
	if !w.changed() {
		t.Error("a symlink swap was not noticed")
	}

	if err := os.Remove(secret); err != nil {
		t.Fatal(err)
	}
	if !w.changed() {
		t.Error("a removed file was not noticed")
	}
	w.setPaths([]string{cfg})
	write(secret, "third")
	if w.changed() {
		t.Error("a file no longer watched was noticed")
	}
}

func TestFileWatcherRunSendsSIGHUP(t *testing.T) {
	p := filepath.Join(t.TempDir(), "jwtgate.yaml")
	if err := os.WriteFile(p, []byte("a: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	w := newFileWatcher(p)
	reload := make(chan os.Signal, 1)
	go w.run(t.Context(), 10*time.Millisecond, reload)
	if err := os.WriteFile(p, []byte("a: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
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
		if err := os.WriteFile(p, []byte("v1"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	w := newFileWatcher(cfgPath)
	if err := os.WriteFile(secret, []byte("v2"), 0o600); err != nil {
		t.Fatal(err)
	}
	if w.changed() {
		t.Error("a file no configuration names yet was watched")
	}
	cfg := config.Default()
	cfg.JWT.SecretFile = secret
	w.follow(cfg)
	if err := os.WriteFile(secret, []byte("v3"), 0o600); err != nil {
		t.Fatal(err)
	}
	if !w.changed() {
		t.Error("the secret file of the configuration in force was not watched")
	}
	var none *fileWatcher
	none.follow(cfg) // a nil watcher does nothing
}
