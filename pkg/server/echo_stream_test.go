package server_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// echoStreams are the three streamed surfaces, each with a request for the
// reply "one two three" and the name of the event that carries a word
// (chat's chunks have no names: "").
var echoStreams = []struct {
	name, path, body, wordEvent, finalEvent string
}{
	{"chat completions", "/chat/chat/completions", `{"stream":true,"messages":[{"role":"user","content":"one two three"}]}`, "", ""},
	{"responses", "/chat/responses", `{"stream":true,"input":"one two three"}`, "response.output_text.delta", "response.completed"},
	{"messages", "/chat/v1/messages", `{"stream":true,"max_tokens":64,"messages":[{"role":"user","content":"one two three"}]}`, "content_block_delta", "message_stop"},
}

// readToFirstWord reads events up to and including the first that carries a
// word, and returns how many it read.
func readToFirstWord(t *testing.T, r *bufio.Reader, wordEvent string) int {
	t.Helper()
	for n := 1; ; n++ {
		ev, err := nextEvent(r)
		if err != nil {
			t.Fatalf("event %d: %v", n, err)
		}
		if ev.name == wordEvent && strings.Contains(ev.data, `"one"`) {
			return n
		}
	}
}

// TestEchoStreamsEventByEvent checks that each event reaches the client when it
// is written: with an hour between words, the first word is readable while the
// stream is still open, and a client that goes away ends the handler, waiting
// for the next word, at once.
func TestEchoStreamsEventByEvent(t *testing.T) {
	for _, s := range echoStreams {
		t.Run(s.name, func(t *testing.T) {
			ts := newTestServer(t, func(o *testOptions) { o.cfg.Chat.EchoDelay = time.Hour })
			tok := ts.createSession(t, "").AccessToken
			front := httptest.NewServer(ts.srv)
			t.Cleanup(front.Close)

			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			resp := postStream(t, ctx, front.Client(), front.URL+s.path, tok, s.body)
			defer resp.Body.Close()
			readToFirstWord(t, bufio.NewReader(resp.Body), s.wordEvent)
			if strings.Contains(ts.logs.String(), `"route":"/chat/*path"`) {
				t.Fatal("the handler finished before the client read the first word")
			}
			cancel()

			// The handler, waiting an hour for the next word, must notice the
			// client left and return; its access log line shows that it did.
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(ts.logs.String(), `"route":"/chat/*path"`) {
				if time.Now().After(deadline) {
					t.Fatal("stream handler still running after the client disconnected")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if strings.Contains(ts.logs.String(), "ended by jwtgate") {
				t.Errorf("a client that left is logged as a stream jwtgate ended:\n%s", ts.logs)
			}
		})
	}
}

// TestEchoMaxStreamDuration runs in a bubble, with an hour between words and a
// ten-minute chat.max_stream_duration: after the first word the stream is cut
// off, aborted as the proxy aborts one (the client reads io.ErrUnexpectedEOF,
// not a finished stream), and logged.
func TestEchoMaxStreamDuration(t *testing.T) {
	for _, s := range echoStreams {
		t.Run(s.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ts := newTestServer(t, func(o *testOptions) {
					o.cfg.Chat.EchoDelay = time.Hour
					o.cfg.Chat.MaxStreamDuration = 10 * time.Minute
				})
				tok := ts.createSession(t, "").AccessToken
				client, base := servePipe(t, ts)

				resp := postStream(t, t.Context(), client, base+s.path, tok, s.body)
				defer resp.Body.Close()
				r := bufio.NewReader(resp.Body)
				readToFirstWord(t, r, s.wordEvent)
				ev, err := nextEvent(r)
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("after the first word: event %+v, %v; want the stream aborted (io.ErrUnexpectedEOF)", ev, err)
				}
				synctest.Wait()
				if logs := ts.logs.String(); !strings.Contains(logs, `"msg":"chat echo stream ended by jwtgate","reason":"max_stream_duration"`) || !strings.Contains(logs, `"ending":"max_stream_duration"`) {
					t.Errorf("the cut is not logged:\n%s", logs)
				}
			})
		})
	}
}

// TestEchoStalledClient runs in a bubble over a pipe, which holds no bytes: a
// client that reads the first event and then nothing more blocks the echo's
// next write, which fails after chat.idle_timeout and ends the handler.
func TestEchoStalledClient(t *testing.T) {
	for _, s := range echoStreams {
		t.Run(s.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ts := newTestServer(t, func(o *testOptions) {
					o.cfg.Chat.EchoDelay = 0
					o.cfg.Chat.IdleTimeout = time.Minute
				})
				tok := ts.createSession(t, "").AccessToken
				client, base := servePipe(t, ts)

				resp := postStream(t, t.Context(), client, base+s.path, tok, s.body)
				defer resp.Body.Close()
				if _, err := nextEvent(bufio.NewReader(resp.Body)); err != nil {
					t.Fatal(err)
				}
				synctest.Wait() // the echo is blocked writing the next event
				if strings.Contains(ts.logs.String(), `"route":"/chat/*path"`) {
					t.Fatal("the handler finished although the client read one event only")
				}
				time.Sleep(2 * time.Minute) // the client reads nothing for longer than chat.idle_timeout
				synctest.Wait()
				logs := ts.logs.String()
				if !strings.Contains(logs, `"msg":"chat echo stream ended by jwtgate","reason":"client_idle_timeout"`) || !strings.Contains(logs, `"ending":"client_idle_timeout"`) {
					t.Errorf("the stalled client is not logged:\n%s", logs)
				}
				if !strings.Contains(logs, `"route":"/chat/*path"`) {
					t.Error("the handler is still running after chat.idle_timeout")
				}
			})
		})
	}
}

// TestEchoStalledClientWhole is TestEchoStalledClient for a whole (not
// streamed) reply too large for one write: the client reads the headers only.
func TestEchoStalledClientWhole(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ts := newTestServer(t, func(o *testOptions) {
			o.cfg.Chat.IdleTimeout = time.Minute
			o.cfg.Chat.MaxBodyBytes = 1 << 20
		})
		tok := ts.createSession(t, "").AccessToken
		client, base := servePipe(t, ts)

		text := strings.Repeat("word ", 50_000)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, base+"/chat/chat/completions",
			strings.NewReader(`{"messages":[{"role":"user","content":"`+text+`"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req) // reads the headers, not the body
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		synctest.Wait()
		if strings.Contains(ts.logs.String(), `"route":"/chat/*path"`) {
			t.Fatal("the handler finished although the client read none of the body")
		}
		time.Sleep(2 * time.Minute)
		synctest.Wait()
		if !strings.Contains(ts.logs.String(), `"route":"/chat/*path"`) {
			t.Error("the handler is still running after chat.idle_timeout")
		}
	})
}
