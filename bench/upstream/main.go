// Command upstream is the stand-in chat backend of jwtgate's proxy load runs: it
// answers GET /healthz and POST /v1/chat/completions with a small chat-completions JSON, or with
// "stream": true a server-sent-event stream of -events events (the last one
// "[DONE]") flushed one by one, -event-delay apart. The query parameters events
// (1 to 1000) and event_delay (a Go duration, at most 1s) override the flags for
// one request, so one upstream serves short and long streams alike; with
// stamp=1 every event but [DONE] carries its number ("seq") and the time it was
// written ("sent_unix_ns", the wall clock in nanoseconds), for loadgen streams
// to measure each event's delay. It listens on a loopback address only and
// prints "listening <addr>" on stderr. With -tls-addr it serves the same over
// TLS (HTTP/2 offered, as a provider's API does) on that loopback address too,
// with a self-signed certificate for 127.0.0.1 written to -tls-cert-out (for
// the client's SSL_CERT_FILE), and prints "listening-tls <addr>".
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	events := flag.Int("events", 5, "events in a streamed response, [DONE] included (1 to 100)")
	delay := flag.Duration("event-delay", 10*time.Millisecond, "pause between streamed events (at most 1s)")
	work := flag.Duration("response-delay", 0, "time spent before a non-streamed answer, as a real backend thinks (at most 1s)")
	tlsAddr := flag.String("tls-addr", "", "also serve TLS on this loopback address")
	certOut := flag.String("tls-cert-out", "", "write the TLS certificate (PEM) here (with -tls-addr)")
	flag.Parse()
	if *work < 0 || *work > time.Second {
		return fmt.Errorf("-response-delay %v: want 0 to 1s", *work)
	}
	if *events < 1 || *events > 100 {
		return fmt.Errorf("-events %d: want 1 to 100", *events)
	}
	if *delay < 0 || *delay > time.Second {
		return fmt.Errorf("-event-delay %v: want 0 to 1s", *delay)
	}

	if (*tlsAddr == "") != (*certOut == "") {
		return errors.New("-tls-addr and -tls-cert-out go together")
	}
	ln, err := listenLoopback(*addr)
	if err != nil {
		return fmt.Errorf("-addr: %w", err)
	}
	fmt.Fprintln(os.Stderr, "listening", ln.Addr().String())

	newServer := func() *http.Server {
		return &http.Server{
			Handler:           newHandler(*events, *delay, *work),
			ReadHeaderTimeout: 5 * time.Second,
			IdleTimeout:       2 * time.Minute,
			// Many streams share an HTTP/2 connection, as with a provider.
			HTTP2: &http.HTTP2Config{MaxConcurrentStreams: 1000},
		}
	}
	servers := []*http.Server{newServer()}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 2)
	go func() { errc <- servers[0].Serve(ln) }()
	if *tlsAddr != "" {
		cert, err := selfSigned(*certOut)
		if err != nil {
			return err
		}
		tln, err := listenLoopback(*tlsAddr)
		if err != nil {
			return fmt.Errorf("-tls-addr: %w", err)
		}
		fmt.Fprintln(os.Stderr, "listening-tls", tln.Addr().String())
		ts := newServer()
		ts.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
		servers = append(servers, ts)
		go func() { errc <- ts.Serve(tls.NewListener(tln, ts.TLSConfig)) }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var errs []error
	for _, hs := range servers {
		errs = append(errs, hs.Shutdown(sctx))
	}
	return errors.Join(errs...)
}

// listenLoopback listens on addr, which must be a loopback address.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("%q: only loopback addresses are allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening: %w", err)
	}
	return ln, nil
}

// selfSigned makes a certificate for 127.0.0.1 and ::1, valid for a day, and
// writes it (not its key) as PEM to certOut.
func selfSigned(certOut string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generating a key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(now.UnixNano()),
		Subject:               pkix.Name{CommonName: "jwtgate bench upstream"},
		NotBefore:             now.Add(-time.Minute),
		NotAfter:              now.Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("creating the certificate: %w", err)
	}
	pemCert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	if err := os.WriteFile(certOut, pemCert, 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("writing the certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// completion is the non-streamed answer, written once at start-up.
var completion = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,` +
	`"model":"bench","choices":[{"index":0,"message":{"role":"assistant","content":"pong"},` +
	`"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`)

// chunk is one streamed event before [DONE].
var chunk = []byte(`data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,` +
	`"model":"bench","choices":[{"index":0,"delta":{"content":"pong "},"finish_reason":null}]}` + "\n\n")

func newHandler(events int, delay, work time.Duration) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}` + "\n"))
	})
	mux.HandleFunc("POST /v1/chat/completions", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Stream bool `json:"stream"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		if !req.Stream {
			if work > 0 {
				select {
				case <-r.Context().Done():
					return
				case <-time.After(work):
				}
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(completion)
			return
		}
		events, delay, err := streamShape(r, events, delay)
		if err != nil {
			http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
			return
		}
		stamp := r.URL.Query().Get("stamp") == "1"
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		rc := http.NewResponseController(w)
		timer := time.NewTimer(delay)
		defer timer.Stop()
		var buf []byte
		for i := range events {
			if i > 0 {
				timer.Reset(delay)
				select {
				case <-r.Context().Done():
					return
				case <-timer.C:
				}
			}
			ev := chunk
			switch {
			case i == events-1:
				ev = []byte("data: [DONE]\n\n")
			case stamp:
				buf = stamped(buf[:0], i)
				ev = buf
			}
			if _, err := w.Write(ev); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
	})
	return mux
}

// stamped appends chunk with its number and the time now added.
func stamped(b []byte, seq int) []byte {
	b = append(b, `data: {"seq":`...)
	b = strconv.AppendInt(b, int64(seq), 10)
	b = append(b, `,"sent_unix_ns":`...)
	b = strconv.AppendInt(b, time.Now().UnixNano(), 10)
	b = append(b, ',')
	return append(b, chunk[len("data: {"):]...)
}

// streamShape returns the number of events and the pause between them for r:
// the query's events and event_delay when present, else the flags' values.
func streamShape(r *http.Request, events int, delay time.Duration) (int, time.Duration, error) {
	q := r.URL.Query()
	if v := q.Get("events"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return 0, 0, fmt.Errorf("events %q: want 1 to 1000", v)
		}
		events = n
	}
	if v := q.Get("event_delay"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > time.Second {
			return 0, 0, fmt.Errorf("event_delay %q: want 0 to 1s", v)
		}
		delay = d
	}
	return events, delay, nil
}
