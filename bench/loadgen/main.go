// Command loadgen is the closed-loop HTTP load generator of jwtgate's load runs.
//
// Each of -c workers sends a request, reads the whole response and sends the
// next, over keep-alive connections (one per worker). After -warmup it records
// every completed response for -d, then prints one JSON line:
//
//	{"name":"...","requests":N,"rps":R,"p50_ms":A,"p99_ms":B,"errors":E,"non2xx":F,...}
//
// It connects only to loopback addresses (127.0.0.0/8, ::1, localhost resolving
// to them), never follows redirects or proxies, and stops itself after -d or -n
// measured requests, whichever comes first. With -first-byte the latency is the
// time to the first byte of the response body (time to first event of a stream)
// and the time to the end of the body is reported as total_p50_ms/total_p99_ms.
// -client raw (the default for http) is a lean HTTP/1.1 client of its own, so
// that the generator's core is not the limit; -client std uses net/http.
// "loadgen streams" holds many event streams open at once and measures each
// event's delay instead (streams.go).
//
// The cpu field is the number of cores the generator itself kept busy while
// measuring: close to the cores it may use, the generator and not the server
// limited the run. Each -pid names a server process whose CPU time (utime +
// stime from /proc/<pid>/stat, all threads) is read when measuring starts and
// when it ends: pid_cpu_us_per_req is that time per measured request and
// pid_cores the cores it kept busy, one entry per -pid in order.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits that keep a mistyped flag from turning into a runaway process.
const (
	maxConns    = 1024
	maxDuration = 10 * time.Minute
	maxWarmup   = time.Minute
	maxBody     = 1 << 20
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// options are the parsed command-line flags.
type options struct {
	name      string
	target    *url.URL
	method    string
	header    http.Header
	dpop      *dpopConfig  // -dpop: a bound token and a proof per request (dpop.go)
	proofs    *proofSource // the run's proofs, set by generate when dpop is set
	body      []byte
	conns     int
	duration  time.Duration
	warmup    time.Duration
	maxReqs   int64
	timeout   time.Duration
	firstByte bool
	client    string // "raw" or "std"
	pids      []int  // server processes whose CPU time is measured
}

// result is the JSON line loadgen prints.
type result struct {
	Name       string  `json:"name"`
	Requests   uint64  `json:"requests"`
	RPS        float64 `json:"rps"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	Errors     uint64  `json:"errors"`
	Non2xx     uint64  `json:"non2xx"`
	P90ms      float64 `json:"p90_ms"`
	MaxMs      float64 `json:"max_ms"`
	TotalP50ms float64 `json:"total_p50_ms,omitempty"`
	TotalP99ms float64 `json:"total_p99_ms,omitempty"`
	Conns      int     `json:"conns"`
	Seconds    float64 `json:"seconds"`
	CPU        float64 `json:"cpu"` // cores the load generator itself used while measuring
	DPoP       dpopSum `json:"dpop,omitzero"`
	FirstByte  bool    `json:"first_byte,omitempty"`
	Client     string  `json:"client"`
	FirstError string  `json:"first_error,omitempty"`
	// PIDCPUPerReq and PIDCores are the CPU time per measured request (in
	// microseconds) and the cores used of each -pid, in order.
	PIDCPUPerReq []float64 `json:"pid_cpu_us_per_req,omitempty"`
	PIDCores     []float64 `json:"pid_cores,omitempty"`
}

func run(args []string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "streams" {
		return runStreams(args[1:], stdout)
	}
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	res, err := generate(context.Background(), o)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(stdout)
	if err := enc.Encode(res); err != nil {
		return fmt.Errorf("writing the result: %w", err)
	}
	if res.Requests == 0 {
		return fmt.Errorf("%s: no request completed (errors %d, first error: %s)", o.name, res.Errors, res.FirstError)
	}
	return nil
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	var (
		o        options
		rawURL   string
		body     string
		bodyFile string
		headers  headerFlag
	)
	fs.StringVar(&o.name, "name", "", "name printed in the result (default: method and URL path)")
	fs.StringVar(&rawURL, "url", "", "target URL; loopback hosts only (required)")
	fs.StringVar(&o.method, "method", http.MethodGet, "HTTP method")
	headers.register(fs)
	fs.StringVar(&body, "body", "", "request body")
	fs.StringVar(&bodyFile, "body-file", "", "read the request body from this file")
	dpopFlags := registerDPoPFlags(fs)
	fs.IntVar(&o.conns, "c", 32, "concurrent workers, each with its own keep-alive connection")
	fs.DurationVar(&o.duration, "d", 10*time.Second, "measured duration (at most 10m)")
	fs.DurationVar(&o.warmup, "warmup", 2*time.Second, "unmeasured warm-up before -d (at most 1m)")
	fs.Int64Var(&o.maxReqs, "n", 50_000_000, "stop after this many measured requests")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "timeout of one request")
	fs.BoolVar(&o.firstByte, "first-byte", false, "measure the time to the first body byte (streams)")
	fs.Func("pid", "a server process whose CPU time per request is reported (repeatable; Linux)", func(s string) error {
		pid, err := strconv.Atoi(s)
		if err != nil || pid < 1 {
			return fmt.Errorf("want a process id, got %q", s)
		}
		o.pids = append(o.pids, pid)
		return nil
	})
	fs.StringVar(&o.client, "client", "", `"raw" (a lean HTTP/1.1 client; http only) or "std" (net/http); default raw for http, std for https`)
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if fs.NArg() > 0 {
		return options{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}

	u, err := loopbackURL(rawURL)
	if err != nil {
		return options{}, err
	}
	o.target = u
	o.method = strings.ToUpper(o.method)
	if o.name == "" {
		o.name = o.method + " " + u.Path
	}
	if o.header, err = headers.parse(); err != nil {
		return options{}, err
	}
	switch {
	case body != "" && bodyFile != "":
		return options{}, errors.New("use -body or -body-file, not both")
	case bodyFile != "":
		b, err := os.ReadFile(bodyFile)
		if err != nil {
			return options{}, fmt.Errorf("reading -body-file: %w", err)
		}
		o.body = b
	default:
		o.body = []byte(body)
	}
	if len(o.body) > maxBody {
		return options{}, fmt.Errorf("the body is larger than %d bytes", maxBody)
	}
	if o.dpop, err = dpopFlags.config(o); err != nil {
		return options{}, err
	}
	switch {
	case o.client == "":
		o.client = map[bool]string{true: "std", false: "raw"}[u.Scheme == "https"]
	case o.client == "raw" && u.Scheme == "https":
		return options{}, errors.New("-client raw speaks plain http only; use -client std for https")
	case o.client != "raw" && o.client != "std":
		return options{}, fmt.Errorf("-client %q: want raw or std", o.client)
	}
	switch {
	case o.conns < 1 || o.conns > maxConns:
		return options{}, fmt.Errorf("-c %d: want 1 to %d", o.conns, maxConns)
	case o.duration <= 0 || o.duration > maxDuration:
		return options{}, fmt.Errorf("-d %v: want more than 0 and at most %v", o.duration, maxDuration)
	case o.warmup < 0 || o.warmup > maxWarmup:
		return options{}, fmt.Errorf("-warmup %v: want 0 to %v", o.warmup, maxWarmup)
	case o.maxReqs < 1:
		return options{}, fmt.Errorf("-n %d: want at least 1", o.maxReqs)
	case o.timeout <= 0 || o.timeout > maxDuration:
		return options{}, fmt.Errorf("-timeout %v: want more than 0 and at most %v", o.timeout, maxDuration)
	}
	for _, pid := range o.pids {
		if _, err := procCPUSeconds(pid); err != nil {
			return options{}, fmt.Errorf("-pid %d: %w", pid, err)
		}
	}
	return o, nil
}

// headerFlag collects the repeatable -header flag of both commands; parse
// reads it once the flags are parsed and the URL is checked.
type headerFlag []string

func (h *headerFlag) register(fs *flag.FlagSet) {
	fs.Func("header", `request header "Name: value" (repeatable)`, func(s string) error {
		*h = append(*h, s)
		return nil
	})
}

// parse returns the headers, refusing a line that is not "Name: value".
func (h headerFlag) parse() (http.Header, error) {
	header := make(http.Header)
	for _, line := range h {
		k, v, ok := strings.Cut(line, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf(`-header %q: want "Name: value"`, line)
		}
		header.Add(k, strings.TrimSpace(v))
	}
	return header, nil
}

// loopbackURL parses raw and refuses anything but http(s) to a loopback host.
func loopbackURL(raw string) (*url.URL, error) {
	if raw == "" {
		return nil, errors.New("-url is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("-url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("-url %q: want an http or https URL", raw)
	}
	if u.User != nil {
		return nil, fmt.Errorf("-url %q: credentials in the URL are not supported", raw)
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("-url %q: only loopback hosts (127.0.0.1, ::1, localhost) are allowed", raw)
	}
	return u, nil
}

// dialLoopbackOnly refuses, at connect time, any address that is not loopback,
// whatever a name resolved to.
func dialLoopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("dialing %q: %w", address, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("dialing %s: not a loopback address", address)
	}
	return nil
}

func newDialer() *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second, Control: dialLoopbackOnly}
}

func newClient(o options) *http.Client {
	d := newDialer()
	tr := &http.Transport{
		Proxy:               nil, // never send load through a proxy from the environment
		DialContext:         d.DialContext,
		MaxIdleConns:        o.conns,
		MaxIdleConnsPerHost: o.conns,
		MaxConnsPerHost:     o.conns,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &http.Client{
		Transport: tr,
		Timeout:   o.timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// workerStats is what one worker saw; merged after the run.
type workerStats struct {
	lat      histogram // latency: whole response, or first body byte with -first-byte
	total    histogram // whole response, kept only with -first-byte
	errors   uint64
	non2xx   uint64
	firstErr error
}

func generate(ctx context.Context, o options) (result, error) {
	client := newClient(o)
	defer client.CloseIdleConnections()
	proofs, err := startProofs(ctx, o, client)
	if err != nil {
		return result{}, err
	}
	defer proofs.stop()
	o.proofs = proofs

	begin := time.Now()
	measureFrom := begin.Add(o.warmup)
	end := measureFrom.Add(o.duration)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()

	// Every request is a shallow copy of tmpl, so it carries the run's deadline.
	tmpl, err := http.NewRequestWithContext(ctx, o.method, o.target.String(), nil)
	if err != nil {
		return result{}, fmt.Errorf("building the request: %w", err)
	}
	tmpl.Header = o.header
	if host := o.header.Get("Host"); host != "" {
		tmpl.Host = host
	}
	// A last resort in case a response never ends: the client timeout and the
	// deadline above should always win, but the process must stop regardless.
	watchdog := time.AfterFunc(o.warmup+o.duration+o.timeout+10*time.Second, func() {
		fmt.Fprintln(os.Stderr, "loadgen: watchdog: the run did not stop in time")
		os.Exit(3)
	})
	defer watchdog.Stop()

	// The generator's own CPU use over the measured window tells whether it,
	// rather than the server, was the limit.
	var cpuAtStart atomic.Int64
	pidsAtStart := make([]float64, len(o.pids))
	var pidsRead sync.WaitGroup
	pidsRead.Add(1)
	cpuTimer := time.AfterFunc(o.warmup, func() {
		defer pidsRead.Done()
		cpuAtStart.Store(int64(cpuTime()))
		for i, pid := range o.pids {
			pidsAtStart[i], _ = procCPUSeconds(pid)
		}
	})
	defer cpuTimer.Stop()

	var (
		measured atomic.Int64
		stopped  atomic.Int64 // unix nanos when -n was reached; 0 otherwise
		wg       sync.WaitGroup
	)
	stats := make([]*workerStats, o.conns)
	for i := range stats {
		ws := &workerStats{}
		stats[i] = ws
		rt, release := newRoundTrip(ctx, o, client, tmpl)
		wg.Go(func() {
			defer release()
			work(ctx, rt, o, ws, measureFrom, func() {
				if measured.Add(1) == o.maxReqs {
					stopped.Store(time.Now().UnixNano())
					cancel()
				}
			})
		})
	}
	wg.Wait()
	cpuUsed := cpuTime() - time.Duration(cpuAtStart.Load())
	// A timer that can no longer be stopped has run, or runs now: wait for its
	// readings before taking the ones at the end.
	pidsStarted := !cpuTimer.Stop()
	if pidsStarted {
		pidsRead.Wait()
	}
	pidsUsed := make([]float64, len(o.pids))
	for i, pid := range o.pids {
		end, err := procCPUSeconds(pid)
		if err != nil {
			return result{}, fmt.Errorf("-pid %d: %w", pid, err)
		}
		pidsUsed[i] = end
	}

	stop := end
	if ns := stopped.Load(); ns != 0 {
		stop = time.Unix(0, ns)
	}
	elapsed := stop.Sub(measureFrom)
	var all workerStats
	for _, ws := range stats {
		all.lat.merge(&ws.lat)
		all.total.merge(&ws.total)
		all.errors += ws.errors
		all.non2xx += ws.non2xx
		if all.firstErr == nil {
			all.firstErr = ws.firstErr
		}
	}
	res := result{
		Name:      o.name,
		Requests:  all.lat.n,
		P50ms:     ms(all.lat.quantile(0.50)),
		P90ms:     ms(all.lat.quantile(0.90)),
		P99ms:     ms(all.lat.quantile(0.99)),
		MaxMs:     ms(all.lat.max),
		Errors:    all.errors,
		Non2xx:    all.non2xx,
		Conns:     o.conns,
		Seconds:   round(elapsed.Seconds(), 3),
		FirstByte: o.firstByte,
		Client:    o.client,
		DPoP:      proofs.report(),
	}
	if elapsed > 0 {
		res.RPS = round(float64(all.lat.n)/elapsed.Seconds(), 1)
		if cpuAtStart.Load() != 0 {
			res.CPU = round(cpuUsed.Seconds()/elapsed.Seconds(), 2)
		}
	}
	if pidsStarted && elapsed > 0 && all.lat.n > 0 {
		for i := range o.pids {
			used := pidsUsed[i] - pidsAtStart[i]
			res.PIDCPUPerReq = append(res.PIDCPUPerReq, round(used*1e6/float64(all.lat.n), 2))
			res.PIDCores = append(res.PIDCores, round(used/elapsed.Seconds(), 2))
		}
	}
	if o.firstByte {
		res.TotalP50ms = ms(all.total.quantile(0.50))
		res.TotalP99ms = ms(all.total.quantile(0.99))
	}
	if all.firstErr != nil {
		res.FirstError = all.firstErr.Error()
	}
	return res, nil
}

// roundTrip sends one request and reads the whole response, returning when its
// first body byte arrived (with firstByte) and the status code.
type roundTrip func(ctx context.Context, firstByte bool) (time.Time, int, error)

// newRoundTrip returns the worker's way of sending requests and a function that
// releases what it holds.
func newRoundTrip(ctx context.Context, o options, client *http.Client, tmpl *http.Request) (roundTrip, func()) {
	if o.proofs != nil {
		return o.proofs.newRoundTrip(ctx, o, client, tmpl)
	}
	if o.client == "raw" {
		c, stop := newRawConn(ctx, o, newDialer())
		return c.roundTrip, func() { stop(); c.close() }
	}
	buf := make([]byte, 32<<10)
	return func(_ context.Context, firstByte bool) (time.Time, int, error) {
		req := new(http.Request)
		*req = *tmpl
		if len(o.body) > 0 {
			// A fresh reader each time: the transport may still hold the last one.
			req.Body = io.NopCloser(bytes.NewReader(o.body))
			req.ContentLength = int64(len(o.body))
		}
		return do(client, req, buf, firstByte)
	}, func() {}
}

// work sends requests one after another until ctx ends, recording those that
// complete after measureFrom.
func work(ctx context.Context, rt roundTrip, o options, ws *workerStats, measureFrom time.Time, counted func()) {
	for ctx.Err() == nil {
		start := time.Now()
		first, status, err := rt(ctx, o.firstByte)
		done := time.Now()
		if ctx.Err() != nil {
			return // cut off by the end of the run, not a failure
		}
		if done.Before(measureFrom) {
			continue
		}
		if err != nil {
			ws.errors++
			if ws.firstErr == nil {
				ws.firstErr = err
			}
			continue
		}
		if status < 200 || status > 299 {
			ws.non2xx++
		}
		if o.firstByte {
			ws.lat.record(first.Sub(start))
			ws.total.record(done.Sub(start))
		} else {
			ws.lat.record(done.Sub(start))
		}
		counted()
	}
}

// do sends req and reads the whole response body, returning when its first
// byte arrived (when firstByte is set) and the status code.
func do(client *http.Client, req *http.Request, buf []byte, firstByte bool) (time.Time, int, error) {
	resp, err := client.Do(req)
	if err != nil {
		return time.Time{}, 0, err
	}
	defer resp.Body.Close()
	var first time.Time
	if firstByte {
		for {
			n, err := resp.Body.Read(buf)
			if n > 0 {
				first = time.Now()
				break
			}
			if err == io.EOF {
				first = time.Now() // an empty body: its end is its first byte
				break
			}
			if err != nil {
				return time.Time{}, 0, fmt.Errorf("reading the response: %w", err)
			}
		}
	}
	if _, err := io.CopyBuffer(io.Discard, resp.Body, buf); err != nil {
		return time.Time{}, 0, fmt.Errorf("reading the response: %w", err)
	}
	return first, resp.StatusCode, nil
}

func ms(d time.Duration) float64 {
	return round(float64(d)/float64(time.Millisecond), 3)
}

func round(x float64, places int) float64 {
	p := 1.0
	for range places {
		p *= 10
	}
	return float64(int64(x*p+0.5)) / p
}
