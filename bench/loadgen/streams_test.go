package main

import (
	"bufio"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// stampServer streams events with seq and sent_unix_ns every 20ms, skipping
// the numbers in skip, until the client goes away.
func stampServer(t *testing.T, skip map[int]bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for seq := 0; ; seq++ {
			if !skip[seq] {
				fmt.Fprintf(w, "data: {\"seq\":%d,\"sent_unix_ns\":%d,\"x\":1}\n\n", seq, time.Now().UnixNano())
				if rc.Flush() != nil {
					return
				}
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestStreams(t *testing.T) {
	for _, tc := range []struct {
		name     string
		skip     map[int]bool
		disorder bool
	}{
		{"in order", nil, false},
		{"a gap", map[int]bool{20: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := stampServer(t, tc.skip)
			so, err := parseStreamsFlags([]string{"-url", srv.URL + "/s", "-n", "8", "-ramp", "1000",
				"-settle", "50ms", "-d", "700ms", "-body", `{"stream":true}`})
			if err != nil {
				t.Fatal(err)
			}
			res, err := streams(t.Context(), so)
			if err != nil {
				t.Fatal(err)
			}
			if res.Failed != 0 || res.Open != 8 {
				t.Fatalf("failed %d (%s), open %d: want 0 and 8", res.Failed, res.FirstError, res.Open)
			}
			if res.Events == 0 || res.DelayMaxms < 0 || res.DelayP99ms < res.DelayP50ms {
				t.Errorf("events %d, delays p50 %v p99 %v max %v", res.Events, res.DelayP50ms, res.DelayP99ms, res.DelayMaxms)
			}
			if got := res.OutOfOrder > 0; got != tc.disorder {
				t.Errorf("out_of_order = %d, want some: %v", res.OutOfOrder, tc.disorder)
			}
		})
	}
}

func TestReadEvents(t *testing.T) {
	// Two events split across chunks, a comment line, then [DONE].
	body := "7\r\ndata: {\r\n" + "1f\r\n\"seq\":1,\"sent_unix_ns\":5}\n\n: x\n\r\n" + "d\r\ndata: [DONE]\n\r\n" + "0\r\n\r\n"
	var got []string
	err := readEvents(bufio.NewReader(strings.NewReader(body)), true, func(ev []byte, _ time.Time) {
		got = append(got, string(ev))
	})
	if err != errStreamDone || len(got) != 1 || got[0] != `{"seq":1,"sent_unix_ns":5}` {
		t.Fatalf("readEvents = %q, %v; want one event and errStreamDone", got, err)
	}
	seq, sent, ok := eventStamp([]byte(got[0]))
	if !ok || seq != 1 || sent != 5 {
		t.Errorf("eventStamp = %d, %d, %v", seq, sent, ok)
	}
	if _, _, ok := eventStamp([]byte(`{"seq":1}`)); ok {
		t.Error("eventStamp found a stamp in an event without sent_unix_ns")
	}
}

func TestParseStreamsFlagsRejects(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"-url", "http://10.0.0.1/"},
		{"-url", "https://127.0.0.1/"},
		{"-url", "http://127.0.0.1:1/", "-n", "0"},
		{"-url", "http://127.0.0.1:1/", "-n", "20001"},
		{"-url", "http://127.0.0.1:1/", "-ramp", "0"},
		{"-url", "http://127.0.0.1:1/", "-d", "0s"},
	} {
		if _, err := parseStreamsFlags(args); err == nil {
			t.Errorf("parseStreamsFlags(%q) succeeded, want an error", args)
		}
	}
}
