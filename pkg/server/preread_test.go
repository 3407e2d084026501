package server

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

// TestPrereadBody checks which bodies the proxy reads ahead (known length, at
// most maxPrereadBody), that they come back whole as io.NopCloser of a
// *bytes.Reader (what the transport takes for an in-memory body), and that a
// body shorter than its Content-Length is the client's fault.
func TestPrereadBody(t *testing.T) {
	inMemory := reflect.TypeOf(io.NopCloser(bytes.NewReader(nil)))
	for _, tc := range []struct {
		name     string
		body     string
		length   int64
		preread  bool
		wantFail bool
	}{
		{"small", `{"model":"m"}`, 13, true, false},
		{"at the limit", strings.Repeat("a", maxPrereadBody), maxPrereadBody, true, false},
		{"over the limit", strings.Repeat("a", maxPrereadBody+1), maxPrereadBody + 1, false, false},
		{"unknown length", "chunked", -1, false, false},
		{"cut short", "abc", 10, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := &clientBody{rc: io.NopCloser(strings.NewReader(tc.body))}
			r := &http.Request{Method: http.MethodPost, ContentLength: tc.length, Body: in}
			buf, err := prereadBody(r)
			if tc.wantFail {
				var be *clientBodyError
				if !errors.As(err, &be) || !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("prereadBody = %v, want a clientBodyError wrapping io.ErrUnexpectedEOF", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (buf != nil) != tc.preread || (tc.preread && string(buf) != tc.body) {
				t.Fatalf("prereadBody returned %d bytes, want the body: %v", len(buf), tc.preread)
			}
			if replaced := r.Body != io.ReadCloser(in); replaced != tc.preread {
				t.Fatalf("body replaced = %v, want %v", replaced, tc.preread)
			}
			if tc.preread && reflect.TypeOf(r.Body) != inMemory {
				t.Fatalf("body is %T, want %v", r.Body, inMemory)
			}
			got, err := io.ReadAll(r.Body)
			if err != nil || string(got) != tc.body {
				t.Errorf("body read back: %d bytes, %v; want the %d sent", len(got), err, len(tc.body))
			}
		})
	}
	r := &http.Request{Method: http.MethodGet, Body: http.NoBody}
	if buf, err := prereadBody(r); buf != nil || err != nil || r.Body != http.NoBody {
		t.Errorf("no body: %v, %T; want nil and http.NoBody", err, r.Body)
	}
}

// TestPrereadBodyTakesHeldBody checks that a body the limits step holds whole
// is forwarded from its own bytes, not a copy, also behind the proxy's
// clientBody, and that a spliced body is copied whole.
func TestPrereadBodyTakesHeldBody(t *testing.T) {
	const body = `{"model":"m"}`
	held := []byte(body)
	r := httptest.NewRequest(http.MethodPost, "/chat/v1/chat/completions", nil)
	setBody(r, &memBody{parts: [3][]byte{held}})
	r.Body = &clientBody{rc: r.Body}
	buf, err := prereadBody(r)
	if err != nil || string(buf) != body || &buf[0] != &held[0] {
		t.Fatalf("prereadBody = %q, %v; want the held bytes themselves", buf, err)
	}

	spliced := &memBody{parts: [3][]byte{[]byte(`{"model":"m"`), []byte(`,"max_tokens":5`), []byte(`}`)}}
	r = httptest.NewRequest(http.MethodPost, "/chat/v1/chat/completions", nil)
	setBody(r, spliced)
	buf, err = prereadBody(r)
	if want := `{"model":"m","max_tokens":5}`; err != nil || string(buf) != want {
		t.Fatalf("prereadBody = %q, %v; want %q", buf, err, want)
	}
}
