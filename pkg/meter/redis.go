package meter

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// A session's keys in Redis, all with the session id in braces so that they
// share one Redis Cluster slot:
//
//	<prefix>{<sid>}:tat      GCRA theoretical arrival time, µs (string)
//	<prefix>{<sid>}:used     tokens charged over the session (counter)
//	<prefix>{<sid>}:w:<n>    tokens charged in minute n since the epoch (counter)
//	<prefix>{<sid>}:lease    requests in flight: lease id → when it lapses, ms (sorted set)
//
// Each expires with the session, a minute's counter two minutes after its
// minute began (it is the previous window for one more minute). The previous
// minute's counter is what counters.roll computes as prev, so the windows need
// no rolling in Redis.

// admitScript applies the counting rules of counters.go to one request, in one
// round trip. KEYS: tat, used, the current minute's counter, the previous
// minute's, lease. ARGV: now (µs), the session's end (ms), rpm, tpm, total,
// concurrent, the lease id, the lease's end (ms), the current minute, then
// the session's queued charges, applied first (as the charge script would):
// tokens finished in the current minute, in the previous one, and the lease
// ids to release. It returns the refusal mask and the counters after the
// decision.
//
// A counter's or lease set's expiry is set when the key is created (an
// INCRBY that returns its own increment, a lease added to an empty set): it
// never changes for a key (a minute's end, the session's), so setting it
// again would only cost a call.
//
// It writes only what an admission changes: tat and a lease. Lapsed leases are
// swept only when the slots look taken, so there are never more of them than
// the limit. Times are written with %d: Lua 5.1 would print a 16-digit number
// as 1.7e+15.
const admitScript = `
local now = tonumber(ARGV[1])
local rpm = tonumber(ARGV[3])
local tpm = tonumber(ARGV[4])
local total = tonumber(ARGV[5])
local conc = tonumber(ARGV[6])
local win = tonumber(ARGV[9])
local W = 60000
local addcur = tonumber(ARGV[10]) or 0
local addprev = tonumber(ARGV[11]) or 0
if addcur > 0 and redis.call('INCRBY', KEYS[3], addcur) == addcur then
  redis.call('PEXPIREAT', KEYS[3], string.format('%d', (win + 2) * W))
end
if addprev > 0 and redis.call('INCRBY', KEYS[4], addprev) == addprev then
  redis.call('PEXPIREAT', KEYS[4], string.format('%d', (win + 1) * W))
end
if addcur + addprev > 0 and redis.call('INCRBY', KEYS[2], addcur + addprev) == addcur + addprev then
  redis.call('PEXPIREAT', KEYS[2], ARGV[2])
end
if #ARGV > 11 then
  redis.call('ZREM', KEYS[5], unpack(ARGV, 12))
end
local v = redis.call('MGET', KEYS[1], KEYS[2], KEYS[3], KEYS[4])
local tat = tonumber(v[1]) or 0
local used = tonumber(v[2]) or 0
local cur = tonumber(v[3]) or 0
local prev = tonumber(v[4]) or 0
local nowms = math.floor(now / 1000)
local inflight = 0
if conc > 0 then
  inflight = redis.call('ZCARD', KEYS[5])
  if inflight >= conc then
    redis.call('ZREMRANGEBYSCORE', KEYS[5], '-inf', nowms)
    inflight = redis.call('ZCARD', KEYS[5])
  end
end
local mask = 0
if total > 0 and used >= total then mask = mask + 1 end
if tpm > 0 then
  local el = nowms - win * W
  if el < 0 then el = 0 elseif el > W then el = W end
  if cur * W + prev * (W - el) >= tpm * W then mask = mask + 2 end
end
local newtat = tat
if rpm > 0 then
  local t = math.ceil(60000000 / rpm)
  newtat = math.max(tat, now) + t
  if now < newtat - rpm * t then mask = mask + 4 end
end
if conc > 0 and inflight >= conc then mask = mask + 8 end
if mask == 0 then
  if rpm > 0 then
    tat = newtat
    redis.call('SET', KEYS[1], string.format('%d', tat), 'PXAT', ARGV[2])
  end
  if conc > 0 then
    redis.call('ZADD', KEYS[5], ARGV[8], ARGV[7])
    if inflight == 0 then
      redis.call('PEXPIREAT', KEYS[5], ARGV[2])
    end
    inflight = inflight + 1
  end
end
return {mask, tat, win, cur, prev, used, inflight}
`

// chargeScript charges finished requests of one session, in one minute, and
// releases their leases. KEYS: the minute's counter, used, lease. ARGV: the
// tokens, when the minute's counter lapses (ms), the session's end (ms), then
// the lease ids to release. It returns 1.
const chargeScript = `
local n = tonumber(ARGV[1])
if n > 0 then
  if redis.call('INCRBY', KEYS[1], n) == n then
    redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  end
  if redis.call('INCRBY', KEYS[2], n) == n then
    redis.call('PEXPIREAT', KEYS[2], ARGV[3])
  end
end
if #ARGV > 3 then
  redis.call('ZREM', KEYS[3], unpack(ARGV, 4))
end
return 1
`

// ParseRedisURL checks a limits.redis_url and returns the client options it
// names: redis://[[user]:password@]host[:port][/db][?option=value] or
// rediss:// for TLS (go-redis's URL options, such as dial_timeout, apply). Its
// errors wrap [ErrInvalidRedisURL] and never quote the URL, which may hold a
// password.
func ParseRedisURL(raw string) (*redis.Options, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: not a URL", ErrInvalidRedisURL)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("%w: the scheme must be redis or rediss", ErrInvalidRedisURL)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%w: no host", ErrInvalidRedisURL)
	}
	opts, err := redis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: the port, database number or an option is not valid", ErrInvalidRedisURL)
	}
	return opts, nil
}

// redisStore keeps counters in Redis.
type redisStore struct {
	client *redis.Client
	batch  *batcher
	addr   string // host:port, for logs: never the URL
	prefix string
}

// newRedisStore connects lazily (go-redis dials on first use). Commands time
// out after timeout and are not retried: a decision falls back to local
// counters instead of waiting.
func newRedisStore(opts *redis.Options, tlsConfig *tls.Config, timeout time.Duration, prefix string) *redisStore {
	if opts.TLSConfig != nil && tlsConfig != nil {
		c := tlsConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = opts.TLSConfig.ServerName
		}
		if c.MinVersion == 0 {
			c.MinVersion = tls.VersionTLS12
		}
		opts.TLSConfig = c
	}
	for _, d := range []*time.Duration{&opts.DialTimeout, &opts.ReadTimeout, &opts.WriteTimeout, &opts.PoolTimeout} {
		if *d == 0 {
			*d = timeout
		}
	}
	if opts.MaxRetries == 0 {
		opts.MaxRetries = -1
	}
	if opts.DialerRetries == 0 {
		opts.DialerRetries = 1 // the probe retries; a dial retried within a call only hides its cause
	}
	// Plain Redis: no CLIENT SETINFO (Redis before 7.2 refuses it) and no
	// maintenance notifications (Redis Cloud's), which would only log noise.
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	client := redis.NewClient(opts)
	return &redisStore{
		client: client,
		batch:  newBatcher(client),
		addr:   opts.Addr,
		prefix: prefix,
	}
}

// keys returns the session's keys for the minute win: tat, used, the
// minute's counter, the previous minute's, lease. They are cut from one
// string, built in one buffer.
func (s *redisStore) keys(session string, win int64) []string {
	var buf [256]byte
	b := buf[:0]
	var ends [5]int
	head := func() { b = append(append(append(b, s.prefix...), '{'), session...); b = append(b, "}:"...) }
	head()
	b = append(b, "tat"...)
	ends[0] = len(b)
	head()
	b = append(b, "used"...)
	ends[1] = len(b)
	head()
	b = strconv.AppendInt(append(b, "w:"...), win, 10)
	ends[2] = len(b)
	head()
	b = strconv.AppendInt(append(b, "w:"...), win-1, 10)
	ends[3] = len(b)
	head()
	b = append(b, "lease"...)
	ends[4] = len(b)
	all := string(b)
	return []string{all[:ends[0]], all[ends[0]:ends[1]], all[ends[1]:ends[2]], all[ends[2]:ends[3]], all[ends[3]:ends[4]]}
}

// admitRequest applies the counting rules in Redis, after the charges
// pending, in the same script call (batch.go), in order, so that the
// admission sees them.
func (s *redisStore) admitRequest(session string, expiresMS int64, l Limits,
	nowUS int64, lease string, leaseEndMS int64, pending []pendingCharge) (counters, uint8, error) {
	win := nowUS / 1000 / windowMS
	args := []any{nowUS, expiresMS, l.RequestsPerMinute, l.TokensPerMinute, l.TotalTokens, l.ConcurrentRequests,
		lease, leaseEndMS, win, int64(0), int64(0)}
	// The session's own queued charges of this minute and the one before go
	// into the admission script itself; the others are calls of their own
	// ahead of it.
	var others []pendingCharge
	for i, p := range pending {
		pw := p.nowUS / 1000 / windowMS
		if p.session != session || pw < win-1 || pw > win || len(args) >= 11+maxLeasesPerCall {
			if others == nil {
				others = make([]pendingCharge, 0, len(pending)-i)
			}
			others = append(others, p)
			continue
		}
		if pw == win {
			args[9] = args[9].(int64) + p.tokens
		} else {
			args[10] = args[10].(int64) + p.tokens
		}
		if p.lease != "" {
			args = append(args, p.lease)
		}
	}
	calls := s.chargeCalls(others, 1)
	calls = append(calls, scriptCall{kind: callAdmit, keys: s.keys(session, win), args: args})
	replies, err := s.batch.do(calls)
	if err != nil {
		return counters{}, 0, fmt.Errorf("running the admission script: %w", err)
	}
	var res [7]int64
	v, ok := replies[len(replies)-1].([]any)
	if ok && len(v) == len(res) {
		for i := range v {
			if res[i], ok = v[i].(int64); !ok {
				break
			}
		}
	}
	if !ok || len(v) != len(res) {
		return counters{}, 0, fmt.Errorf("running the admission script: %w", errBadReply)
	}
	c := counters{tat: res[1], win: res[2], cur: res[3], prev: res[4], used: res[5], inflight: res[6]}
	return c, uint8(res[0]), nil
}

// chargeRequests sends finished requests' charges and lease releases in one
// script call (one round trip).
func (s *redisStore) chargeRequests(pending []pendingCharge) error {
	if len(pending) == 0 {
		return nil
	}
	if _, err := s.batch.do(s.chargeCalls(pending, 0)); err != nil {
		return fmt.Errorf("charging in redis: %w", err)
	}
	return nil
}

// chargeCalls turns pending charges into calls of the charge script, one per
// session and minute: their tokens summed, their leases released together.
// extra is room left for the caller's own calls.
func (s *redisStore) chargeCalls(pending []pendingCharge, extra int) []scriptCall {
	calls := make([]scriptCall, 0, len(pending)+extra)
	for i := range pending {
		p := &pending[i]
		win := p.nowUS / 1000 / windowMS
		merged := false
		// Most batches are a few charges: a linear look-back is cheaper than
		// a map, and bounded so that a full queue stays linear.
		for j := len(calls) - 1; j >= 0 && j >= len(calls)-mergeScan; j-- {
			c := &calls[j]
			if c.session == p.session && c.win == win && len(c.args) < 3+maxLeasesPerCall {
				c.args[0] = c.args[0].(int64) + p.tokens
				c.args[2] = max(c.args[2].(int64), p.expiresMS)
				if p.lease != "" {
					c.args = append(c.args, p.lease)
				}
				merged = true
				break
			}
		}
		if merged {
			continue
		}
		k := s.keys(p.session, win)
		args := []any{p.tokens, (win + 2) * windowMS, p.expiresMS}
		if p.lease != "" {
			args = append(args, p.lease)
		}
		calls = append(calls, scriptCall{kind: callCharge, keys: []string{k[2], k[1], k[4]}, args: args,
			session: p.session, win: win})
	}
	return calls
}

// mergeScan is how many of the last calls a charge looks back through for
// its session's.
const mergeScan = 8

// maxLeasesPerCall bounds the lease ids of one charge call (Lua's unpack
// has a limit).
const maxLeasesPerCall = 256

// scriptCall is one call of a batch (batch.go).
type scriptCall struct {
	kind int // callAdmit or callCharge
	keys []string
	args []any
	// what charges merge on
	session string
	win     int64
}

// Kinds of calls in a batch.
const (
	callAdmit  = 0
	callCharge = 1
)

// close stops the batcher, then closes the client.
func (s *redisStore) close() error {
	s.batch.close()
	return s.client.Close()
}

// ping checks that Redis answers.
func (s *redisStore) ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("pinging redis: %w", err)
	}
	return nil
}

var errBadReply = errors.New("unexpected reply")

// describeRedisError says what went wrong in words that cannot carry a
// secret, for logs: go-redis's texts are not relied upon.
func describeRedisError(err error) string {
	var (
		opErr    *net.OpError
		errno    syscall.Errno
		rerr     redis.Error
		netErr   net.Error
		verifErr *tls.CertificateVerificationError
		alert    tls.AlertError
		recErr   tls.RecordHeaderError
	)
	switch {
	case errors.As(err, &verifErr):
		return "tls: the server's certificate is not trusted"
	case errors.As(err, &alert):
		return "tls: the server sent alert " + strconv.Quote(alert.Error())
	case errors.As(err, &recErr):
		return "tls: the server does not speak TLS"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, redis.ErrClosed):
		return "client closed"
	case errors.As(err, &opErr) && errors.As(err, &errno):
		return opErr.Op + " " + opErr.Net + ": " + errno.Error()
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.As(err, &opErr):
		return opErr.Op + " " + opErr.Net + " failed"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by redis"
	case errors.As(err, &rerr):
		// A server reply: its first word is its kind (NOAUTH, WRONGPASS,
		// LOADING, ...); the rest is left out.
		word, _, _ := strings.Cut(rerr.Error(), " ")
		return "redis replied " + strconv.Quote(word)
	case errors.Is(err, errBadReply):
		return "unexpected reply"
	}
	return fmt.Sprintf("redis call failed (%T)", errors.Unwrap(err))
}
