package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// loadgen streams opens many long server-sent-event streams at once and
// measures how late each event arrives:
//
//	loadgen streams -url U -n 10000 [-ramp 2000] [-settle 3s] -d 10s [-pid P] ...
//
// Each of -n connections sends the request once (-method, -header, -body as in
// a load run) and reads its stream. Events must carry "seq" and
// "sent_unix_ns" (bench/upstream's stamp=1): an event's delay is the wall clock
// when its last byte was read less sent_unix_ns, and an event whose seq is not
// the last one's plus one counts as out of order. Streams are opened -ramp a
// second; once all are open and -settle has passed, delays are recorded for -d,
// then every connection is closed. With -pid, that process's resident memory
// (VmRSS of /proc/<pid>/status) is read before the first stream opens and in
// the middle of the measured window, and its CPU time over the window is
// reported per event received. One JSON line is printed.

// Limits of the streams mode.
const (
	maxStreams      = 20000
	streamShards    = 64 // histograms shared by streams, so memory stays fixed
	streamBufSize   = 4 << 10
	streamMaxHeader = 64 << 10
)

// streamsResult is the JSON line of loadgen streams.
type streamsResult struct {
	Name        string  `json:"name"`
	Streams     int     `json:"streams"`
	Open        int64   `json:"open_at_end"` // streams still open when the window closed
	Failed      int64   `json:"failed"`      // streams that did not open or broke before the end
	Events      uint64  `json:"events"`
	EventsPerS  float64 `json:"events_per_s"`
	DelayP50ms  float64 `json:"delay_p50_ms"`
	DelayP90ms  float64 `json:"delay_p90_ms"`
	DelayP99ms  float64 `json:"delay_p99_ms"`
	DelayP999ms float64 `json:"delay_p999_ms"`
	DelayMaxms  float64 `json:"delay_max_ms"`
	OutOfOrder  uint64  `json:"out_of_order"`
	Seconds     float64 `json:"seconds"`
	OpenSeconds float64 `json:"open_seconds"` // time to open every stream
	CPU         float64 `json:"cpu"`          // cores the generator used in the window
	// Of -pid: resident memory before the streams and with all of them open,
	// the difference per open stream, and CPU per event received.
	RSSIdleKiB      int64   `json:"rss_idle_kib,omitempty"`
	RSSOpenKiB      int64   `json:"rss_open_kib,omitempty"`
	RSSPerStreamKiB float64 `json:"rss_per_stream_kib,omitempty"`
	PIDCores        float64 `json:"pid_cores,omitempty"`
	PIDCPUPerEvent  float64 `json:"pid_cpu_us_per_event,omitempty"`
	FirstError      string  `json:"first_error,omitempty"`
}

type streamsOptions struct {
	options
	n      int
	ramp   int
	settle time.Duration
	pid    int
}

func parseStreamsFlags(args []string) (streamsOptions, error) {
	fs := flag.NewFlagSet("loadgen streams", flag.ContinueOnError)
	var (
		so      streamsOptions
		rawURL  string
		body    string
		headers headerFlag
	)
	fs.StringVar(&so.name, "name", "streams", "name printed in the result")
	fs.StringVar(&rawURL, "url", "", "stream URL; loopback hosts only, http (required)")
	fs.StringVar(&so.method, "method", http.MethodPost, "HTTP method")
	headers.register(fs)
	fs.StringVar(&body, "body", "", "request body")
	fs.IntVar(&so.n, "n", 1000, "streams open at once (at most 20000)")
	fs.IntVar(&so.ramp, "ramp", 2000, "streams opened per second")
	fs.DurationVar(&so.settle, "settle", 3*time.Second, "wait after the last stream opened before measuring")
	fs.DurationVar(&so.duration, "d", 10*time.Second, "measured window (at most 10m)")
	fs.DurationVar(&so.timeout, "timeout", 10*time.Second, "timeout to connect and to receive the response headers")
	fs.IntVar(&so.pid, "pid", 0, "a process whose memory and CPU are reported (Linux)")
	if err := fs.Parse(args); err != nil {
		return streamsOptions{}, err
	}
	if fs.NArg() > 0 {
		return streamsOptions{}, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	u, err := loopbackURL(rawURL)
	if err != nil {
		return streamsOptions{}, err
	}
	if u.Scheme != "http" {
		return streamsOptions{}, errors.New("streams speak plain http only")
	}
	so.target = u
	so.method = strings.ToUpper(so.method)
	if so.header, err = headers.parse(); err != nil {
		return streamsOptions{}, err
	}
	so.body = []byte(body)
	switch {
	case so.n < 1 || so.n > maxStreams:
		return streamsOptions{}, fmt.Errorf("-n %d: want 1 to %d", so.n, maxStreams)
	case so.ramp < 1:
		return streamsOptions{}, fmt.Errorf("-ramp %d: want at least 1", so.ramp)
	case so.settle < 0 || so.settle > maxWarmup:
		return streamsOptions{}, fmt.Errorf("-settle %v: want 0 to %v", so.settle, maxWarmup)
	case so.duration <= 0 || so.duration > maxDuration:
		return streamsOptions{}, fmt.Errorf("-d %v: want more than 0 and at most %v", so.duration, maxDuration)
	case so.timeout <= 0 || so.timeout > maxDuration:
		return streamsOptions{}, fmt.Errorf("-timeout %v: want more than 0 and at most %v", so.timeout, maxDuration)
	}
	if so.pid != 0 {
		if _, err := procRSSKiB(so.pid); err != nil {
			return streamsOptions{}, fmt.Errorf("-pid %d: %w", so.pid, err)
		}
	}
	return so, nil
}

func runStreams(args []string, stdout io.Writer) error {
	so, err := parseStreamsFlags(args)
	if err != nil {
		return err
	}
	res, err := streams(context.Background(), so)
	if err != nil {
		return err
	}
	if err := json.NewEncoder(stdout).Encode(res); err != nil {
		return fmt.Errorf("writing the result: %w", err)
	}
	return nil
}

// streamShard is one of the histograms the streams record into.
type streamShard struct {
	mu         sync.Mutex
	delay      histogram
	outOfOrder uint64
}

// streamsRun is the state one run's streams share.
type streamsRun struct {
	so        streamsOptions
	req       []byte
	shards    [streamShards]streamShard
	measuring atomic.Bool // between the window's start and end
	open      atomic.Int64
	failed    atomic.Int64
	errOnce   sync.Once
	firstErr  error
}

func (sr *streamsRun) fail(err error) {
	sr.failed.Add(1)
	sr.errOnce.Do(func() { sr.firstErr = err })
}

func streams(ctx context.Context, so streamsOptions) (streamsResult, error) {
	sr := &streamsRun{so: so, req: buildRawRequest(so.options)}
	res := streamsResult{Name: so.name, Streams: so.n}
	if so.pid != 0 {
		rss, err := procRSSKiB(so.pid)
		if err != nil {
			return res, err
		}
		res.RSSIdleKiB = rss
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// A last resort, as in a load run: the process stops whatever happens.
	watchdog := time.AfterFunc(time.Duration(so.n/so.ramp+1)*time.Second+so.settle+so.duration+so.timeout+30*time.Second, func() {
		fmt.Fprintln(os.Stderr, "loadgen streams: watchdog: the run did not stop in time")
		os.Exit(3)
	})
	defer watchdog.Stop()

	dialer := newDialer()
	var wg sync.WaitGroup
	began := time.Now()
	tick := time.Second / time.Duration(so.ramp)
	for i := range so.n {
		if d := time.Until(began.Add(time.Duration(i) * tick)); d > 0 {
			time.Sleep(d)
		}
		shard := &sr.shards[i%streamShards]
		wg.Go(func() { sr.stream(ctx, dialer, shard) })
	}
	res.OpenSeconds = round(time.Since(began).Seconds(), 3)
	select {
	case <-time.After(so.settle):
	case <-ctx.Done():
	}

	cpu0 := cpuTime()
	var pidCPU0 float64
	if so.pid != 0 {
		pidCPU0, _ = procCPUSeconds(so.pid)
	}
	start := time.Now()
	sr.measuring.Store(true)
	time.Sleep(so.duration / 2)
	if so.pid != 0 {
		if rss, err := procRSSKiB(so.pid); err == nil {
			res.RSSOpenKiB = rss
		}
	}
	time.Sleep(so.duration - so.duration/2)
	sr.measuring.Store(false)
	elapsed := time.Since(start)
	var pidCPU1 float64
	if so.pid != 0 {
		pidCPU1, _ = procCPUSeconds(so.pid)
	}
	res.Open = sr.open.Load()
	cpuUsed := cpuTime() - cpu0
	cancel()
	wg.Wait()

	var all histogram
	for i := range sr.shards {
		s := &sr.shards[i]
		s.mu.Lock()
		all.merge(&s.delay)
		res.OutOfOrder += s.outOfOrder
		s.mu.Unlock()
	}
	res.Events = all.n
	res.Seconds = round(elapsed.Seconds(), 3)
	res.EventsPerS = round(float64(all.n)/elapsed.Seconds(), 1)
	res.DelayP50ms = ms(all.quantile(0.50))
	res.DelayP90ms = ms(all.quantile(0.90))
	res.DelayP99ms = ms(all.quantile(0.99))
	res.DelayP999ms = ms(all.quantile(0.999))
	res.DelayMaxms = ms(all.max)
	res.CPU = round(cpuUsed.Seconds()/elapsed.Seconds(), 2)
	res.Failed = sr.failed.Load()
	if so.pid != 0 {
		used := pidCPU1 - pidCPU0
		res.PIDCores = round(used/elapsed.Seconds(), 2)
		if all.n > 0 {
			res.PIDCPUPerEvent = round(used*1e6/float64(all.n), 2)
		}
		if res.RSSOpenKiB > 0 {
			res.RSSPerStreamKiB = round(float64(res.RSSOpenKiB-res.RSSIdleKiB)/float64(so.n), 2)
		}
	}
	if sr.firstErr != nil {
		res.FirstError = sr.firstErr.Error()
	}
	return res, nil
}

// stream opens one stream and reads its events until ctx ends.
func (sr *streamsRun) stream(ctx context.Context, dialer *net.Dialer, shard *streamShard) {
	dctx, cancel := context.WithTimeout(ctx, sr.so.timeout)
	conn, err := dialer.DialContext(dctx, "tcp", sr.so.target.Host)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			sr.fail(fmt.Errorf("dialing: %w", err))
		}
		return
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(sr.so.timeout))
	if _, err := conn.Write(sr.req); err != nil {
		sr.fail(fmt.Errorf("writing the request: %w", err))
		return
	}
	br := bufio.NewReaderSize(conn, streamBufSize)
	chunked, err := readStreamHeader(br)
	if err != nil {
		if ctx.Err() == nil {
			sr.fail(err)
		}
		return
	}
	_ = conn.SetDeadline(time.Time{})
	sr.open.Add(1)
	defer sr.open.Add(-1)
	last := int64(-1)
	err = readEvents(br, chunked, func(ev []byte, at time.Time) {
		seq, sent, ok := eventStamp(ev)
		if !ok {
			return
		}
		inOrder := last < 0 || seq == last+1
		last = seq
		if !sr.measuring.Load() {
			return
		}
		shard.mu.Lock()
		shard.delay.record(at.Sub(time.Unix(0, sent)))
		if !inOrder {
			shard.outOfOrder++
		}
		shard.mu.Unlock()
	})
	switch {
	case ctx.Err() != nil:
		// The run ended: the connection was closed under the reader.
	case errors.Is(err, errStreamDone):
		if sr.measuring.Load() {
			sr.fail(errors.New("a stream ended inside the measured window: ask the upstream for more events"))
		}
	default:
		sr.fail(fmt.Errorf("reading the stream: %w", err))
	}
}

// errStreamDone is the clean end of a stream: "data: [DONE]" or the end of its body.
var errStreamDone = errors.New("the stream ended")

// readStreamHeader reads the response's status line and headers, and reports
// whether the body is chunked. A status other than 200 is an error.
func readStreamHeader(br *bufio.Reader) (chunked bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return false, fmt.Errorf("reading the response: %w", err)
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return false, errMalformedResponse
	}
	if status := string(line[9:12]); status != "200" {
		return false, fmt.Errorf("status %s, want 200", status)
	}
	size := len(line)
	for {
		h, err := readLine(br)
		if err != nil {
			return false, fmt.Errorf("reading the response: %w", err)
		}
		if size += len(h); size > streamMaxHeader {
			return false, errHeaderTooLarge
		}
		if len(h) == 0 {
			return chunked, nil
		}
		name, value, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return false, errMalformedResponse
		}
		if bytes.EqualFold(name, []byte("Transfer-Encoding")) {
			chunked = bytes.EqualFold(bytes.TrimSpace(value), []byte("chunked"))
		}
	}
}

// readLine reads one line without its CRLF or LF.
func readLine(br *bufio.Reader) ([]byte, error) {
	l, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return nil, errHeaderTooLarge
	}
	if err != nil {
		return nil, err
	}
	return bytes.TrimRight(l, "\r\n"), nil
}

// readEvents reads a server-sent-event body (chunked, or up to the close)
// and calls onEvent with each event's data line, the moment its last byte was
// read. It returns errStreamDone at "data: [DONE]" or the body's end.
func readEvents(br *bufio.Reader, chunked bool, onEvent func(ev []byte, at time.Time)) error {
	body := io.Reader(br)
	if chunked {
		body = &chunkReader{br: br}
	}
	ev := bufio.NewReaderSize(body, streamBufSize)
	for {
		line, err := ev.ReadSlice('\n')
		if err != nil {
			if errors.Is(err, io.EOF) {
				return errStreamDone
			}
			return err
		}
		data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("data: "))
		if !ok {
			continue
		}
		if bytes.Equal(data, []byte("[DONE]")) {
			return errStreamDone
		}
		onEvent(data, time.Now())
	}
}

// chunkReader reads the data of a chunked body; it returns io.EOF at the last
// chunk.
type chunkReader struct {
	br   *bufio.Reader
	left int64 // bytes left in the current chunk
	done bool
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if c.done {
		return 0, io.EOF
	}
	if c.left == 0 {
		line, err := readLine(c.br)
		if err != nil {
			return 0, err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || n < 0 {
			return 0, errMalformedResponse
		}
		if n == 0 {
			c.done = true
			return 0, io.EOF
		}
		c.left = n
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.br.Read(p)
	c.left -= int64(n)
	if c.left == 0 && err == nil {
		if crlf, err := readLine(c.br); err != nil || len(crlf) != 0 {
			return n, errMalformedResponse
		}
	}
	return n, err
}

// eventStamp finds "seq" and "sent_unix_ns" in an event's JSON without
// decoding the whole of it.
func eventStamp(ev []byte) (seq, sent int64, ok bool) {
	seq, ok1 := jsonInt(ev, `"seq":`)
	sent, ok2 := jsonInt(ev, `"sent_unix_ns":`)
	return seq, sent, ok1 && ok2
}

func jsonInt(b []byte, key string) (int64, bool) {
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	b = b[i+len(key):]
	j := 0
	for j < len(b) && '0' <= b[j] && b[j] <= '9' {
		j++
	}
	v, err := strconv.ParseInt(string(b[:j]), 10, 64)
	return v, err == nil
}
