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

// admitScript applies the counting rules of counters.go to one request, in one
// round trip. KEYS[1] is the session's hash (tat, win, cur, prev, used),
// KEYS[2] its sorted set of leases (a member per request in flight, scored by
// when the lease lapses, in ms). ARGV: now (µs), the session's end (ms), rpm,
// tpm, total, concurrent, the lease id, the lease's end (ms). It returns the
// refusal mask and the counters after the decision.
//
// It writes only what an admission changes: tat and a lease. The windows'
// roll is not stored, since every reader and writer rolls them the same way
// first; lapsed leases are swept only when the slots look taken, so there are
// never more of them than the limit.
//
// Numbers are written with %d: Lua 5.1 would print a 16-digit time as 1.7e+15.
const admitScript = `
local now = tonumber(ARGV[1])
local nowms = math.floor(now / 1000)
local rpm = tonumber(ARGV[3])
local tpm = tonumber(ARGV[4])
local total = tonumber(ARGV[5])
local conc = tonumber(ARGV[6])
local W = 60000
local v = redis.call('HMGET', KEYS[1], 'tat', 'win', 'cur', 'prev', 'used')
local tat = tonumber(v[1]) or 0
local win = tonumber(v[2]) or 0
local cur = tonumber(v[3]) or 0
local prev = tonumber(v[4]) or 0
local used = tonumber(v[5]) or 0
local idx = math.floor(nowms / W)
if idx == win + 1 then
  prev = cur; cur = 0; win = idx
elseif idx > win + 1 then
  prev = 0; cur = 0; win = idx
end
local inflight = 0
if conc > 0 then
  inflight = redis.call('ZCARD', KEYS[2])
  if inflight >= conc then
    redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', nowms)
    inflight = redis.call('ZCARD', KEYS[2])
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
    redis.call('HSET', KEYS[1], 'tat', string.format('%d', tat))
    redis.call('PEXPIREAT', KEYS[1], ARGV[2])
  end
  if conc > 0 then
    redis.call('ZADD', KEYS[2], ARGV[8], ARGV[7])
    redis.call('PEXPIREAT', KEYS[2], ARGV[2])
    inflight = inflight + 1
  end
end
return {mask, tat, win, cur, prev, used, inflight}
`

// finishScript charges a finished request's tokens and releases its lease,
// in one round trip. KEYS as admitScript's; ARGV: now (µs), the session's end
// (ms), tokens, the lease id ("" for none).
const finishScript = `
local nowms = math.floor(tonumber(ARGV[1]) / 1000)
local tokens = tonumber(ARGV[3])
if tokens > 0 then
  local W = 60000
  local v = redis.call('HMGET', KEYS[1], 'win', 'cur', 'prev', 'used')
  local win = tonumber(v[1]) or 0
  local cur = tonumber(v[2]) or 0
  local prev = tonumber(v[3]) or 0
  local used = tonumber(v[4]) or 0
  local idx = math.floor(nowms / W)
  if idx == win + 1 then
    prev = cur; cur = 0; win = idx
  elseif idx > win + 1 then
    prev = 0; cur = 0; win = idx
  end
  cur = cur + tokens
  used = used + tokens
  redis.call('HSET', KEYS[1], 'win', string.format('%d', win), 'cur', string.format('%d', cur),
    'prev', string.format('%d', prev), 'used', string.format('%d', used))
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
if ARGV[4] ~= '' then redis.call('ZREM', KEYS[2], ARGV[4]) end
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
	addr   string // host:port, for logs: never the URL
	admit  *redis.Script
	finish *redis.Script
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
	return &redisStore{
		client: redis.NewClient(opts),
		addr:   opts.Addr,
		admit:  redis.NewScript(admitScript),
		finish: redis.NewScript(finishScript),
		prefix: prefix,
	}
}

// keys returns the session's two keys; the braces keep both in one Redis
// Cluster slot.
func (s *redisStore) keys(session string) []string {
	h := s.prefix + "{" + session + "}"
	return []string{h, h + ":lease"}
}

// admitRequest applies the counting rules in Redis.
func (s *redisStore) admitRequest(ctx context.Context, session string, expiresMS int64, l Limits,
	nowUS int64, lease string, leaseEndMS int64) (counters, uint8, error) {
	res, err := s.admit.Run(ctx, s.client, s.keys(session),
		nowUS, expiresMS, l.RequestsPerMinute, l.TokensPerMinute, l.TotalTokens, l.ConcurrentRequests,
		lease, leaseEndMS).Int64Slice()
	if err != nil {
		return counters{}, 0, fmt.Errorf("running the admission script: %w", err)
	}
	if len(res) != 7 {
		return counters{}, 0, fmt.Errorf("running the admission script: %w", errBadReply)
	}
	c := counters{tat: res[1], win: res[2], cur: res[3], prev: res[4], used: res[5], inflight: res[6]}
	return c, uint8(res[0]), nil
}

// finishRequest charges tokens and releases a lease in Redis.
func (s *redisStore) finishRequest(ctx context.Context, session string, expiresMS, tokens, nowUS int64, lease string) error {
	if err := s.finish.Run(ctx, s.client, s.keys(session), nowUS, expiresMS, tokens, lease).Err(); err != nil {
		return fmt.Errorf("running the finish script: %w", err)
	}
	return nil
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
