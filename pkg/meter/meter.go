package meter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// State is where a [Meter] keeps its counters now.
type State uint32

// The states of a Meter.
const (
	// StateLocal: no Redis is configured; each replica counts alone.
	StateLocal State = iota
	// StateShared: counters are in Redis, shared by every replica.
	StateShared
	// StateFallback: Redis is configured but unreachable; this replica counts
	// alone until it answers again.
	StateFallback
)

// String names the state for /readyz and metrics: "local", "shared" or
// "fallback".
func (s State) String() string {
	switch s {
	case StateShared:
		return "shared"
	case StateFallback:
		return "fallback"
	}
	return "local"
}

// Stats are a Meter's counts since it was built, for metrics.
type Stats struct {
	// RedisErrors counts Redis calls that failed (the client's own
	// cancellations excepted).
	RedisErrors uint64
	// LocalDecisions counts admissions decided on local counters although
	// Redis is configured (while it was unreachable).
	LocalDecisions uint64
	// Evictions counts sessions forgotten because the local store was full.
	Evictions uint64
	// Sessions is the number of sessions with local counters now.
	Sessions int
}

// Meter admits requests under their session's limits and charges what their
// answers spent. Build it with [New]; it is safe for concurrent use. Close it
// to stop its Redis probe and close its connections.
type Meter struct {
	local    *localStore
	redis    *redisStore  // nil without Redis
	charges  *chargeQueue // nil without Redis
	now      func() time.Time
	logger   *slog.Logger
	onState  func(State)
	leaseTTL time.Duration
	timeout  time.Duration
	interval time.Duration

	state    atomic.Uint32
	instance string // random, so lease ids of replicas never collide
	seq      atomic.Uint64

	redisErrors    atomic.Uint64
	localDecisions atomic.Uint64

	mu     sync.Mutex // guards the state changes, closed and the probe
	closed bool
	stop   chan struct{}
	wg     sync.WaitGroup
}

// New returns a Meter. With [WithRedis], it checks that Redis answers (for up
// to the Redis timeout) and starts in [StateShared], or else in
// [StateFallback], logging why and trying again in the background: a Redis
// that is down never keeps jwtgate from starting. The only errors are
// settings that cannot work: a Redis URL wrapping [ErrInvalidRedisURL] (never
// quoted) or a non-positive duration.
func New(opts ...Option) (*Meter, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"lease TTL", cfg.leaseTTL}, {"redis timeout", cfg.redisTimeout}, {"probe interval", cfg.probeInterval},
		{"charge delay", cfg.chargeDelay}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("meter: the %s must be positive, got %s", d.name, d.v))
		}
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		errs = append(errs, fmt.Errorf("meter: drawing an instance id: %w", err))
	}
	m := &Meter{
		local:    newLocalStore(cfg.capacity),
		now:      cfg.now,
		logger:   cfg.logger,
		onState:  cfg.onState,
		leaseTTL: cfg.leaseTTL,
		timeout:  cfg.redisTimeout,
		interval: cfg.probeInterval,
		instance: hex.EncodeToString(b[:]),
		stop:     make(chan struct{}),
	}
	if cfg.redisURL != "" {
		ro, err := ParseRedisURL(cfg.redisURL)
		if err != nil {
			errs = append(errs, fmt.Errorf("meter: %w", err))
		} else if len(errs) == 0 {
			m.redis = newRedisStore(ro, cfg.tlsConfig, cfg.redisTimeout, cfg.keyPrefix)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if m.redis != nil {
		m.charges = newChargeQueue(cfg.chargeDelay, cfg.maxPendingCharges, m.sendCharges)
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			m.charges.run(m.stop)
		}()
		ctx, cancel := context.WithTimeout(context.Background(), cfg.redisTimeout)
		err := m.redis.ping(ctx)
		cancel()
		if err != nil {
			m.redisErrors.Add(1)
			m.state.Store(uint32(StateShared))
			m.markDown(err)
		} else {
			m.setState(StateShared)
			m.logger.Info("limits: counters shared through redis", slog.String("redis", m.redis.addr))
		}
	}
	return m, nil
}

// State reports where the counters are now.
func (m *Meter) State() State { return State(m.state.Load()) }

// Stats returns the Meter's counts.
func (m *Meter) Stats() Stats {
	return Stats{
		RedisErrors:    m.redisErrors.Load(),
		LocalDecisions: m.localDecisions.Load(),
		Evictions:      m.local.evictions.Load(),
		Sessions:       int(m.local.size.Load()),
	}
}

// Admit decides whether a request of session k, with limits l, may go on,
// and counts it if so: a request against the rate, a slot against the
// concurrency limit. Its result never depends on Redis being reachable: if
// Redis fails, the decision is made on local counters. A session with no
// limits is admitted without counting.
//
// With Redis, the admission is one round trip, which first carries the
// charges this replica has queued ([Meter.FinishAsync]); it is bounded by the
// Redis timeout, not by ctx, so that a client going away neither loses those
// charges nor counts as an outage.
//
// Every allowed Decision must be passed to [Meter.Finish] or
// [Meter.FinishAsync] once its answer has ended, however it ended.
func (m *Meter) Admit(ctx context.Context, k Key, l Limits) Decision {
	l = l.clamped()
	if l.IsZero() {
		return Decision{Allowed: true}
	}
	now := m.now()
	nowUS := now.UnixMicro()
	expires := k.Expires
	if !expires.After(now) {
		expires = now.Add(2 * time.Minute)
	}
	if m.redis != nil && m.State() == StateShared {
		var lease string
		var leaseEnd int64
		if l.ConcurrentRequests > 0 {
			lease = m.instance + ":" + strconv.FormatUint(m.seq.Add(1), 36)
			leaseEnd = now.Add(m.leaseTTL).UnixMilli()
		}
		// The charges this replica has queued ride ahead of the admission.
		// The call ignores ctx's cancellation: a client gone away says
		// nothing about Redis, and the charges must land all the same. The
		// client's timeouts bound it.
		pending := m.charges.take()
		c, mask, err := m.redis.admitRequest(k.Session, expires.UnixMilli(), l, nowUS, lease, leaseEnd, pending)
		if err == nil {
			m.charges.recycle(pending)
			d := decide(c, mask, l, nowUS, expires, now)
			d.key, d.limits, d.backend = Key{Session: k.Session, Expires: expires}, l, backendRedis
			if d.Allowed && lease != "" {
				d.lease, d.leased = lease, true
			}
			return d
		}
		m.redisFailed(err)
		m.chargeLocally(pending)
	}
	if m.redis != nil {
		m.localDecisions.Add(1)
	}
	c, mask, gen := m.local.admit(k.Session, expires.UnixMicro(), l, nowUS)
	d := decide(c, mask, l, nowUS, expires, now)
	d.key, d.limits, d.backend, d.gen = Key{Session: k.Session, Expires: expires}, l, backendLocal, gen
	d.leased = d.Allowed && l.ConcurrentRequests > 0
	return d
}

// Finish ends a request that d admitted: it charges tokens (the answer's
// usage, 0 if it reported none) when the session has a token limit, and
// releases the request's concurrency slot. It ignores ctx's cancellation, so
// that a request whose client went away is still charged, and does nothing
// for a refused or unlimited Decision. With Redis, the charge has reached
// Redis when Finish returns (one round trip, which also carries the charges
// [Meter.FinishAsync] queued). If Redis fails, the tokens are charged to
// local counters and the Redis slot lapses by itself ([WithLeaseTTL]).
func (m *Meter) Finish(ctx context.Context, d Decision, tokens int64) {
	_ = ctx // kept for callers; the call is bounded by the client's timeouts
	m.finish(d, tokens, false)
}

// FinishAsync is [Meter.Finish] without waiting for Redis: with Redis, it
// queues the charge on this replica and returns at once. The charge reaches
// Redis ahead of this replica's next admission, which therefore sees it, or
// within the charge delay ([WithChargeDelay]) otherwise, whichever is first;
// other replicas see it that much later at most, and a replica that crashes
// loses the charges of that window. The queue is bounded
// ([WithMaxPendingCharges]) and sent on [Meter.Close]. Without Redis, or while
// it is unreachable, FinishAsync charges the local counters, as Finish does.
func (m *Meter) FinishAsync(d Decision, tokens int64) { m.finish(d, tokens, true) }

// finish is Finish (queued: FinishAsync).
func (m *Meter) finish(d Decision, tokens int64, queued bool) {
	if !d.Allowed || d.backend == backendNone {
		return
	}
	tokens = min(max(tokens, 0), maxLimit)
	if !d.limits.CountsTokens() {
		tokens = 0
	}
	if tokens == 0 && !d.leased {
		return
	}
	now := m.now()
	nowUS := now.UnixMicro()
	if d.backend == backendRedis {
		if m.State() == StateShared {
			c := pendingCharge{session: d.key.Session, expiresMS: d.key.Expires.UnixMilli(), tokens: tokens, nowUS: nowUS, lease: d.lease}
			if !queued {
				b := append(m.charges.take(), c)
				m.sendCharges(b)
				m.charges.recycle(b)
				return
			}
			if m.charges.add(c) {
				return
			}
		}
		if tokens > 0 {
			m.local.charge(d.key.Session, d.key.Expires.UnixMicro(), tokens, nowUS)
		}
		return
	}
	m.local.finish(d.key.Session, d.gen, d.leased, tokens, nowUS)
}

// Close stops the Redis probe and the charge flusher, sends the charges
// still queued (to local counters if Redis fails), and closes the Redis
// client. Admit and Finish keep working on local counters after Close.
func (m *Meter) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	close(m.stop)
	m.mu.Unlock()
	m.wg.Wait()
	if m.redis == nil {
		return nil
	}
	m.sendCharges(m.charges.close())
	m.state.Store(uint32(StateFallback))
	if err := m.redis.close(); err != nil {
		return fmt.Errorf("closing the redis client: %w", err)
	}
	return nil
}

// sendCharges sends queued charges to Redis in one round trip; if Redis is
// not in use or fails, their tokens go to the local counters instead.
func (m *Meter) sendCharges(b []pendingCharge) {
	if len(b) == 0 {
		return
	}
	if m.State() == StateShared {
		err := m.redis.chargeRequests(b) // bounded by the client's timeouts
		if err == nil {
			return
		}
		m.redisFailed(err)
	}
	m.chargeLocally(b)
}

// chargeLocally charges the tokens of charges that did not reach Redis to the
// local counters; their Redis slots lapse by themselves.
func (m *Meter) chargeLocally(b []pendingCharge) {
	for _, c := range b {
		if c.tokens > 0 {
			m.local.charge(c.session, c.expiresMS*1000, c.tokens, c.nowUS)
		}
	}
}

// redisFailed records a failed Redis call: Redis counts as unreachable from
// now on. Its calls are bounded by the client's timeouts alone, never by a
// request's context, so a client going away cannot fail one.
func (m *Meter) redisFailed(err error) {
	m.redisErrors.Add(1)
	m.markDown(err)
}

// markDown switches from Redis to local counters and starts the probe that
// switches back.
func (m *Meter) markDown(err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed || m.State() != StateShared {
		return
	}
	m.setState(StateFallback)
	m.logger.Warn("limits: redis unreachable; counting on this replica's counters until it answers",
		slog.String("redis", m.redis.addr), slog.String("error", describeRedisError(err)))
	m.wg.Add(1)
	go m.probe()
}

// probe pings Redis every interval until it answers or the Meter is closed.
func (m *Meter) probe() {
	defer m.wg.Done()
	t := time.NewTicker(m.interval)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), m.timeout)
		err := m.redis.ping(ctx)
		cancel()
		if err != nil {
			continue
		}
		m.mu.Lock()
		if !m.closed {
			m.setState(StateShared)
			m.logger.Info("limits: redis answers again; counters shared", slog.String("redis", m.redis.addr))
		}
		m.mu.Unlock()
		return
	}
}

func (m *Meter) setState(s State) {
	m.state.Store(uint32(s))
	m.onState(s)
}
