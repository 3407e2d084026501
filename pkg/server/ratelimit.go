package server

import (
	"fmt"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"

	"github.com/jwtgate/jwtgate/pkg/ginauth"
)

// rateLimitClients bounds how many client addresses the limiter remembers, and
// so its memory (a few hundred bytes each); the least recently seen are
// forgotten first. An idle client's bucket has refilled, so forgetting it
// changes nothing; a client forgotten while its bucket is still partly spent
// starts again with a full one, which only errs on the side of letting it in.
const rateLimitClients = 10_000

// rateLimiter limits requests per key (a client address, a session) with a token
// bucket each.
type rateLimiter[K comparable] struct {
	limit   rate.Limit
	burst   int
	clients *lru.Cache[K, *rate.Limiter]
	now     func() time.Time
}

// newRateLimiter allows perMinute requests a minute per key, in bursts of up to
// burst (at least 1), remembering at most size keys. perMinute 0 means no limit:
// it returns nil.
func newRateLimiter[K comparable](perMinute, burst, size int) (*rateLimiter[K], error) {
	if perMinute <= 0 {
		return nil, nil
	}
	clients, err := lru.New[K, *rate.Limiter](size)
	if err != nil {
		return nil, fmt.Errorf("building the rate limiter: %w", err)
	}
	return &rateLimiter[K]{
		limit:   rate.Limit(float64(perMinute) / 60),
		burst:   max(burst, 1),
		clients: clients,
		now:     time.Now,
	}, nil
}

// perClient limits POST /sessions per client address.
//
// The client is gin's ClientIP: the connection's peer address, unless the peer
// is one of Config.TrustedProxies, in which case X-Forwarded-For names the
// client (the last address in it that is not itself a trusted proxy). A client
// cannot forge its way around the limit with that header: from anyone else it
// is ignored. Behind an untrusted proxy, all clients share the proxy's budget.
// IPv6 clients are grouped by /64, the block one host usually holds.
func perClient(rl *rateLimiter[netip.Addr]) gin.HandlerFunc {
	return func(c *gin.Context) { rl.admit(c, clientAddr(c.ClientIP())) }
}

// perSession limits POST /sessions/refresh per session (the sid claim, which
// refreshed tokens share), so that one token cannot mint tokens in bulk. It runs
// behind the bearer middleware; a request without claims is left to the handler,
// which refuses it.
func perSession(rl *rateLimiter[string]) gin.HandlerFunc {
	return func(c *gin.Context) {
		claims, ok := ginauth.Claims(c)
		if !ok {
			c.Next()
			return
		}
		rl.admit(c, claims.SessionID)
	}
}

// admit lets c through while key is within its rate, and answers 429 with
// Retry-After once it is over.
func (rl *rateLimiter[K]) admit(c *gin.Context, key K) {
	lim := rl.limiterFor(key)
	now := rl.now()
	r := lim.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if delay == 0 {
		c.Next()
		return
	}
	r.CancelAt(now) // a refused request spends nothing
	c.Header("Retry-After", strconv.Itoa(int(math.Ceil(delay.Seconds()))))
	respondError(c, &apiError{status: http.StatusTooManyRequests, code: codeRateLimited,
		desc: "too many requests; retry later"})
}

func (rl *rateLimiter[K]) limiterFor(k K) *rate.Limiter {
	if lim, ok := rl.clients.Get(k); ok {
		return lim
	}
	lim := rate.NewLimiter(rl.limit, rl.burst)
	if prev, ok, _ := rl.clients.PeekOrAdd(k, lim); ok {
		return prev
	}
	return lim
}

// clientAddr returns the rate-limit key for an address, with or without a port:
// the IPv4 address, or the /64 of an IPv6 one. Unparsable addresses share the
// zero key.
func clientAddr(remote string) netip.Addr {
	a, err := netip.ParseAddr(remote) // gin's ClientIP: no port, the usual case
	if err != nil {
		host, _, splitErr := net.SplitHostPort(remote)
		if splitErr != nil {
			return netip.Addr{}
		}
		if a, err = netip.ParseAddr(host); err != nil {
			return netip.Addr{}
		}
	}
	a = a.Unmap().WithZone("")
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			return p.Addr()
		}
	}
	return a
}
