package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sseEvent is one server-sent event: its "event:" name (empty when the stream
// names none) and its data.
type sseEvent struct {
	name, data string
}

// nextEvent reads one event. It returns the error that ended the stream
// instead (io.EOF at a clean end).
func nextEvent(r *bufio.Reader) (sseEvent, error) {
	var ev sseEvent
	seen := false
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF && (seen || line != "") {
				err = io.ErrUnexpectedEOF // an event cut in the middle
			}
			return ev, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && seen:
			return ev, nil
		case line == "":
		case strings.HasPrefix(line, "event: ") && !seen:
			ev.name, seen = strings.TrimPrefix(line, "event: "), true
		case strings.HasPrefix(line, "data: "):
			ev.data, seen = strings.TrimPrefix(line, "data: "), true
		default:
			return ev, errors.New("unexpected line in event stream: " + line)
		}
	}
}

// readAllEvents reads events until the stream ends, failing the test unless it
// ends cleanly.
func readAllEvents(t testing.TB, r *bufio.Reader) []sseEvent {
	t.Helper()
	var events []sseEvent
	for {
		ev, err := nextEvent(r)
		if err == io.EOF {
			return events
		}
		if err != nil {
			t.Fatalf("after %d events: %v", len(events), err)
		}
		events = append(events, ev)
	}
}

// postStream sends a JSON POST to url with the session token and returns the
// response, whose body the test closes.
func postStream(t testing.TB, ctx context.Context, client *http.Client, url, tok, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("POST %s = %d, body %s", url, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Errorf("Content-Type = %q, want text/event-stream", ct)
	}
	return resp
}

// echoIDPattern matches the random ids of echo replies (a prefix and
// crypto/rand.Text), which canonJSON replaces by the prefix and "*".
var echoIDPattern = regexp.MustCompile(`^(chatcmpl-|resp_|msg_)[A-Z2-7]{26}$`)

// canonJSON returns s in a canonical form for comparing shapes exactly: object
// members sorted, random ids as "<prefix>*", and positive "created" and
// "created_at" times as 1 (a time that is not positive stays, and fails the
// comparison).
func canonJSON(t testing.TB, s string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%q is not JSON: %v", s, err)
	}
	var walk func(v any) any
	walk = func(v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, m := range x {
				if n, ok := m.(float64); ok && (k == "created" || k == "created_at") && n > 0 {
					x[k] = 1
					continue
				}
				x[k] = walk(m)
			}
		case []any:
			for i := range x {
				x[i] = walk(x[i])
			}
		case string:
			if m := echoIDPattern.FindStringSubmatch(x); m != nil {
				return m[1] + "*"
			}
		}
		return v
	}
	b, err := json.Marshal(walk(v))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// jsonString returns the string member name of the JSON object data.
func jsonString(t testing.TB, data, name string) string {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(data), &m); err != nil {
		t.Fatalf("%q is not a JSON object: %v", data, err)
	}
	s, ok := m[name].(string)
	if !ok {
		t.Fatalf("%s has no string member %q", data, name)
	}
	return s
}

// wantJSON compares got with want, both canonicalized.
func wantJSON(t testing.TB, what, got, want string) {
	t.Helper()
	if diff := cmp.Diff(canonJSON(t, want), canonJSON(t, got)); diff != "" {
		t.Errorf("%s (-want +got):\n%s", what, diff)
	}
}

// wantEvents compares a stream with the events wanted, their data canonicalized.
func wantEvents(t testing.TB, got, want []sseEvent) {
	t.Helper()
	canon := func(evs []sseEvent) []string {
		out := make([]string, len(evs))
		for i, ev := range evs {
			data := ev.data
			if data != "[DONE]" {
				data = canonJSON(t, data)
			}
			out[i] = ev.name + " " + data
		}
		return out
	}
	if diff := cmp.Diff(canon(want), canon(got)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

// pipeNet is an in-memory network for tests in a synctest bubble: a listener
// whose connections are net.Pipe ends, and the dialer for the other ends. A
// pipe has no buffer, so a client that stops reading stops the server's next
// write at once.
type pipeNet struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newPipeNet() *pipeNet {
	return &pipeNet{conns: make(chan net.Conn), done: make(chan struct{})}
}

func (n *pipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-n.conns:
		return c, nil
	case <-n.done:
		return nil, net.ErrClosed
	}
}

func (n *pipeNet) Close() error {
	n.once.Do(func() { close(n.done) })
	return nil
}

func (n *pipeNet) Addr() net.Addr { return pipeAddr{} }

func (n *pipeNet) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	server, client := net.Pipe()
	select {
	case n.conns <- server:
		return client, nil
	case <-n.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// servePipe serves ts over a pipeNet, for a test inside a synctest bubble, and
// returns a client for it and the base URL to use. Everything is shut down when
// the test ends.
func servePipe(t *testing.T, ts *testServer) (*http.Client, string) {
	t.Helper()
	pn := newPipeNet()
	hs := &http.Server{Handler: ts.srv}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = hs.Serve(pn)
	}()
	tr := &http.Transport{DialContext: pn.DialContext}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = hs.Close()
		<-served
	})
	return &http.Client{Transport: tr}, "http://jwtgate.test"
}
