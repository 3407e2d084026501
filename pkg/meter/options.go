package meter

import (
	"crypto/tls"
	"log/slog"
	"time"
)

// Defaults of a [Meter]'s settings.
const (
	// DefaultRedisTimeout bounds each Redis call (dial, read, write, waiting
	// for a pooled connection); past it the decision is made locally.
	DefaultRedisTimeout = 250 * time.Millisecond
	// DefaultProbeInterval is how often an unreachable Redis is tried again.
	DefaultProbeInterval = time.Second
	// DefaultLeaseTTL is how long a concurrency slot taken in Redis lasts if
	// its request never finishes (its replica died): set it to the longest a
	// stream may run (chat.max_stream_duration).
	DefaultLeaseTTL = 10 * time.Minute
	// DefaultKeyPrefix starts every Redis key the meter writes.
	DefaultKeyPrefix = "jwtgate:limits:"
)

// Option configures a [Meter].
type Option func(*config)

type config struct {
	redisURL      string
	tlsConfig     *tls.Config
	capacity      int
	now           func() time.Time
	logger        *slog.Logger
	onState       func(State)
	leaseTTL      time.Duration
	redisTimeout  time.Duration
	probeInterval time.Duration
	keyPrefix     string

	chargeDelay       time.Duration
	maxPendingCharges int
}

func defaultConfig() config {
	return config{
		capacity:      DefaultCapacity,
		now:           time.Now,
		logger:        slog.New(slog.DiscardHandler),
		onState:       func(State) {},
		leaseTTL:      DefaultLeaseTTL,
		redisTimeout:  DefaultRedisTimeout,
		probeInterval: DefaultProbeInterval,
		keyPrefix:     DefaultKeyPrefix,

		chargeDelay:       DefaultChargeDelay,
		maxPendingCharges: DefaultMaxPendingCharges,
	}
}

// WithRedis shares the counters through the Redis server at url
// (limits.redis_url, see [ParseRedisURL]). Without it, counters are local.
func WithRedis(url string) Option { return func(c *config) { c.redisURL = url } }

// WithRedisTLS sets the TLS configuration of a rediss:// connection, for a
// private certificate authority or a client certificate; the server name
// defaults to the URL's host. Without it, the system's roots verify the server.
func WithRedisTLS(cfg *tls.Config) Option { return func(c *config) { c.tlsConfig = cfg } }

// WithCapacity bounds the sessions with local counters (at least 1; default
// [DefaultCapacity]).
func WithCapacity(n int) Option { return func(c *config) { c.capacity = max(n, 1) } }

// WithClock replaces time.Now for decisions; tests use it to move time
// without sleeping. Replicas sharing Redis each use their own clock, so their
// clocks must agree (NTP): a replica ahead by s lets a session spend s worth
// of its rate early.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithLogger sets where the meter says that Redis went away or came back
// (default: nowhere).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithStateHook calls f on every change of [Meter.State], as it happens (a
// metric's gauge, say). f must return quickly and must not call the Meter.
func WithStateHook(f func(State)) Option { return func(c *config) { c.onState = f } }

// WithLeaseTTL sets how long a Redis concurrency slot outlives a replica
// that died holding it (default [DefaultLeaseTTL]).
func WithLeaseTTL(d time.Duration) Option { return func(c *config) { c.leaseTTL = d } }

// WithRedisTimeout bounds each Redis call (default [DefaultRedisTimeout]),
// unless the URL sets its own timeouts.
func WithRedisTimeout(d time.Duration) Option { return func(c *config) { c.redisTimeout = d } }

// WithProbeInterval sets how often an unreachable Redis is tried again
// (default [DefaultProbeInterval]).
func WithProbeInterval(d time.Duration) Option { return func(c *config) { c.probeInterval = d } }

// WithKeyPrefix sets the start of every Redis key (default
// [DefaultKeyPrefix]), so that several jwtgate deployments can share a server.
func WithKeyPrefix(p string) Option { return func(c *config) { c.keyPrefix = p } }

// WithChargeDelay sets how long, with Redis, a finished request's charge (its
// tokens and the release of its concurrency slot) may wait on its replica
// before it is sent, when no admission on that replica carries it first
// (default [DefaultChargeDelay]). Other replicas see the charge that much
// later at most, and a replica that crashes loses the charges of that window.
func WithChargeDelay(d time.Duration) Option { return func(c *config) { c.chargeDelay = d } }

// WithMaxPendingCharges bounds the charges queued for Redis on a replica (at
// least 1; default [DefaultMaxPendingCharges]): the Finish that fills the
// queue sends it at once.
func WithMaxPendingCharges(n int) Option { return func(c *config) { c.maxPendingCharges = max(n, 1) } }
