package meter_test

import (
	"bytes"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/pkg/meter"
)

// fakeClock is a clock the test moves. It starts 30 s into the current
// minute, so that token windows are half gone, and near the real time, which
// Redis's key TTLs follow.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Now().UTC().Truncate(time.Minute).Add(30 * time.Second)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// newTestMeter returns a Meter on clk, closed when the test ends.
func newTestMeter(t testing.TB, clk *fakeClock, opts ...meter.Option) *meter.Meter {
	t.Helper()
	m, err := meter.New(append([]meter.Option{meter.WithClock(clk.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
	})
	return m
}

// sessionKey is a session ending an hour from clk's now.
func sessionKey(clk *fakeClock, id string) meter.Key {
	return meter.Key{Session: id, Expires: clk.Now().Add(time.Hour)}
}

// logBuffer collects a logger's lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(b, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
