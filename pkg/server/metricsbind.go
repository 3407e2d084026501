package server

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Looking a series up by its label values (WithLabelValues) hashes the values,
// takes the vector's lock and compares the labels, and the status code is
// formatted on the way: a few hundred nanoseconds per request for the two
// request series alone. The types here bind the label values once, the first
// time a combination is seen, and keep the child series: a request then costs
// a map read (the route), an array index (the method) and a short scan (the
// status). A series is still created only when first used, so /metrics shows
// exactly the series it showed without the binding.

// methodLabels are the values of the method label, in the order of
// methodIndex; "other" is last.
var methodLabels = [...]string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
	http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace, "other",
}

// methodIndex is the index in methodLabels of m's label (see [methodLabel]).
func methodIndex(m string) int {
	switch m {
	case http.MethodGet:
		return 0
	case http.MethodHead:
		return 1
	case http.MethodPost:
		return 2
	case http.MethodPut:
		return 3
	case http.MethodPatch:
		return 4
	case http.MethodDelete:
		return 5
	case http.MethodOptions:
		return 6
	case http.MethodConnect:
		return 7
	case http.MethodTrace:
		return 8
	}
	return len(methodLabels) - 1
}

// routeSeries are the bound children of jwtgate_http_requests_total and
// jwtgate_http_request_duration_seconds for one route template, by method.
type routeSeries struct {
	methods [len(methodLabels)]methodSeries
}

// methodSeries are the bound children of one route template and method.
type methodSeries struct {
	duration atomic.Pointer[prometheus.Observer]
	codes    byCode[prometheus.Counter]
}

// observeRequest counts a request to route with method m that was answered
// with status, and records how long it took.
func (m *metrics) observeRequest(route, method string, status int, elapsed time.Duration) {
	rs, ok := m.routes.Load(route)
	if !ok {
		// A route's first request: the routes are the router's templates and
		// unmatchedRoute, so this happens a bounded number of times.
		rs, _ = m.routes.LoadOrStore(route, &routeSeries{})
	}
	i := methodIndex(method)
	ms := &rs.(*routeSeries).methods[i]
	method = methodLabels[i]
	ms.codes.get(status, func(code string) prometheus.Counter {
		return m.requests.WithLabelValues(route, method, code)
	}).Inc()
	obs := ms.duration.Load()
	if obs == nil {
		o := m.duration.WithLabelValues(route, method)
		ms.duration.CompareAndSwap(nil, &o)
		obs = ms.duration.Load()
	}
	(*obs).Observe(elapsed.Seconds())
}

// observeDuration records the upstream's answer with status code after d.
func (u *upstreamMetrics) observeDuration(code int, d time.Duration) {
	u.codes.get(code, func(code string) prometheus.Observer {
		return u.duration.WithLabelValues(code)
	}).Observe(d.Seconds())
}

// byCode holds the bound children of a vector for each status code seen so
// far. The list is replaced whole under mu when a code is added and read
// without a lock: a route answers with a handful of codes.
type byCode[T any] struct {
	mu   sync.Mutex
	list atomic.Pointer[[]codeChild[T]]
}

type codeChild[T any] struct {
	code  int
	child T
}

// get returns the child of code, binding it with bind (given the code as a
// label value) the first time.
func (b *byCode[T]) get(code int, bind func(code string) T) T {
	if l := b.list.Load(); l != nil {
		for _, e := range *l {
			if e.code == code {
				return e.child
			}
		}
	}
	return b.add(code, bind)
}

func (b *byCode[T]) add(code int, bind func(code string) T) T {
	b.mu.Lock()
	defer b.mu.Unlock()
	var old []codeChild[T]
	if l := b.list.Load(); l != nil {
		old = *l
		for _, e := range old {
			if e.code == code {
				return e.child
			}
		}
	}
	child := bind(strconv.Itoa(code))
	l := append(append(make([]codeChild[T], 0, len(old)+1), old...), codeChild[T]{code, child})
	b.list.Store(&l)
	return child
}
