package main

import (
	"context"
	"crypto/sha256"
	"io"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/jwtgate/jwtgate/pkg/config"
)

// watchInterval is how often the configuration file and the files it names are
// checked for changes.
const watchInterval = 2 * time.Second

// maxWatchedFile bounds how much of a watched file is read per check.
const maxWatchedFile = 1 << 20

// fileWatcher asks for a reload when the configuration file or a file it names (a
// secret, a key, a TLS certificate) changes. It compares content digests rather
// than modification times, so a Kubernetes secret update (an atomic symlink swap)
// counts and a mere touch does not. Polling keeps it simple and portable: there is
// no notification API to miss an event of.
type fileWatcher struct {
	mu         sync.Mutex
	configPath string // the configuration file; "" when there is none
	paths      []string
	seen       map[string][sha256.Size]byte
}

// newFileWatcher watches the configuration file at configPath ("" for none); call
// follow to add the files a configuration names.
func newFileWatcher(configPath string) *fileWatcher {
	w := &fileWatcher{configPath: configPath}
	w.setPaths([]string{configPath})
	return w
}

// follow watches the configuration file and the files cfg names, from now on. A
// nil watcher does nothing.
func (w *fileWatcher) follow(cfg config.Config) {
	if w == nil {
		return
	}
	w.setPaths(append([]string{w.configPath}, cfg.Files()...))
}

// setPaths replaces the watched set after a reload, taking the current contents as
// the new baseline.
func (w *fileWatcher) setPaths(paths []string) {
	paths = slices.DeleteFunc(slices.Clone(paths), func(p string) bool { return p == "" })
	seen := make(map[string][sha256.Size]byte, len(paths))
	for _, p := range paths {
		seen[p] = digestFile(p)
	}
	w.mu.Lock()
	w.paths, w.seen = paths, seen
	w.mu.Unlock()
}

// changed reports whether any watched file differs from its baseline, and moves the
// baseline on so one change asks for one reload.
func (w *fileWatcher) changed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	changed := false
	for _, p := range w.paths {
		if d := digestFile(p); d != w.seen[p] {
			w.seen[p] = d
			changed = true
		}
	}
	return changed
}

// run checks every interval until ctx is done, sending SIGHUP on reload (without
// blocking: a reload already pending covers this change too).
func (w *fileWatcher) run(ctx context.Context, interval time.Duration, reload chan<- os.Signal) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if w.changed() {
				select {
				case reload <- syscall.SIGHUP:
				default:
				}
			}
		}
	}
}

// digestFile returns the SHA-256 of the file at path; a file that cannot be read
// digests as all zeros, so its disappearance and return both count as changes.
func digestFile(path string) [sha256.Size]byte {
	f, err := os.Open(path)
	if err != nil {
		return [sha256.Size]byte{}
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, maxWatchedFile)); err != nil {
		return [sha256.Size]byte{}
	}
	return [sha256.Size]byte(h.Sum(nil))
}
