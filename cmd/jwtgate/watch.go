package main

import (
	"context"
	"crypto/sha256"
	"io"
	"maps"
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

// digests maps a watched path to the SHA-256 of its contents (all zeros when it
// cannot be read).
type digests map[string][sha256.Size]byte

// fileWatcher asks for a reload when the configuration file or a file it names (a
// secret, a key, a TLS certificate) changes. It compares content digests rather
// than modification times, so a Kubernetes secret update (an atomic symlink swap)
// counts and a mere touch does not. Polling keeps it simple and portable: there is
// no notification API to miss an event of.
//
// Two rules keep it from losing or half-applying a change:
//
//   - The baseline a change is measured against is taken before the files are
//     read (see load), never after: a file written while a configuration loads
//     differs from the baseline and asks for one more reload, instead of becoming
//     the baseline unread.
//   - A change counts only once two polls in a row see the same contents, so a
//     file caught half-written is not applied. Writers should still replace files
//     atomically (write a temporary file, then rename it over the old one): a
//     writer that stalls for a whole interval mid-file would be read half-written.
type fileWatcher struct {
	configPath string // the configuration file; "" when there is none

	mu      sync.Mutex
	paths   []string
	seen    digests // the baseline
	pending digests // contents a poll saw differ from seen, awaiting a second look; nil: none
}

// newFileWatcher watches the configuration file at configPath ("" for none),
// taking its contents now as the baseline; load and follow add the files a
// configuration names.
func newFileWatcher(configPath string) *fileWatcher {
	w := &fileWatcher{configPath: configPath}
	w.paths = watchedPaths(configPath, nil)
	w.seen = digestFiles(w.paths)
	return w
}

// watchedPaths is the configuration file and the files a configuration names,
// without empty paths.
func watchedPaths(configPath string, files []string) []string {
	return slices.DeleteFunc(append([]string{configPath}, files...), func(p string) bool { return p == "" })
}

// load calls load with the baseline for every file the configuration reads taken
// before it reads them, and returns that baseline for follow. The files a
// configuration names are known only once it is loaded: when it names one not
// watched yet, its baseline is taken and the configuration loaded once more, so
// that this holds for every file. A nil watcher just calls load.
func (w *fileWatcher) load(load func() (config.Config, error)) (config.Config, digests, error) {
	if w == nil {
		cfg, err := load()
		return cfg, nil, err
	}
	w.mu.Lock()
	paths := slices.Clone(w.paths)
	w.mu.Unlock()
	base := digestFiles(paths)
	cfg, err := load()
	if err != nil {
		return cfg, nil, err
	}
	added := false
	for _, p := range watchedPaths(w.configPath, cfg.Files()) {
		if _, ok := base[p]; !ok {
			base[p] = digestFile(p)
			added = true
		}
	}
	if added {
		// Should this load name yet more files (the configuration file changed
		// in between), the configuration file's baseline, taken first, no longer
		// matches it, and the next polls ask for another reload.
		if cfg, err = load(); err != nil {
			return cfg, nil, err
		}
	}
	return cfg, base, nil
}

// follow watches the configuration file and the files cfg names from now on,
// measuring changes against base, the baseline load returned with cfg (a path it
// lacks is digested now). A nil watcher does nothing.
func (w *fileWatcher) follow(cfg config.Config, base digests) {
	if w == nil {
		return
	}
	paths := watchedPaths(w.configPath, cfg.Files())
	seen := make(digests, len(paths))
	for _, p := range paths {
		d, ok := base[p]
		if !ok {
			d = digestFile(p)
		}
		seen[p] = d
	}
	w.mu.Lock()
	w.paths, w.seen, w.pending = paths, seen, nil
	w.mu.Unlock()
}

// poll checks the watched files once and reports a change that is ready to load:
// contents that differ from the baseline and that the previous poll saw too. It
// then takes them as the new baseline, so one change asks for one reload.
func (w *fileWatcher) poll() bool {
	w.mu.Lock()
	paths := slices.Clone(w.paths)
	w.mu.Unlock()
	cur := digestFiles(paths) // outside the lock: reading files may be slow

	w.mu.Lock()
	defer w.mu.Unlock()
	if !slices.Equal(paths, w.paths) {
		return false // follow changed the set meanwhile; look again next time
	}
	switch {
	case maps.Equal(cur, w.seen):
		w.pending = nil
		return false
	case w.pending == nil || !maps.Equal(cur, w.pending):
		w.pending = cur // changed, or still changing: wait for a second look
		return false
	default:
		w.seen, w.pending = cur, nil
		return true
	}
}

// run polls every interval until ctx is done, sending SIGHUP for a change
// (without blocking: a reload already pending reads this change too).
func (w *fileWatcher) run(ctx context.Context, interval time.Duration, reload chan<- os.Signal) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if w.poll() {
				select {
				case reload <- syscall.SIGHUP:
				default:
				}
			}
		}
	}
}

// digestFiles digests every path.
func digestFiles(paths []string) digests {
	out := make(digests, len(paths))
	for _, p := range paths {
		out[p] = digestFile(p)
	}
	return out
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
