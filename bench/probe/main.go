// Command probe holds the small steps of scripts/loadtest.sh that would otherwise
// need curl and jq, all against loopback addresses only:
//
//	probe freeport                       print a free 127.0.0.1 TCP port
//	probe wait  -url U [-timeout 15s]    wait until GET U answers 200
//	probe json  -url U [-method M] [-header "K: V"]... [-body B] -field F
//	                                     send one request and print the string field F
//	                                     of the JSON response (a 2xx status required)
//	probe metric -url U -name N          print the value of the Prometheus sample N
package main

import (
	"bufio"
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
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("want a command: freeport, wait, json or metric")
	}
	cmd, args := args[0], args[1:]
	switch cmd {
	case "freeport", "wait", "json", "metric":
	default:
		return fmt.Errorf("unknown command %q: want freeport, wait, json or metric", cmd)
	}
	fs := flag.NewFlagSet("probe "+cmd, flag.ContinueOnError)
	rawURL := fs.String("url", "", "loopback URL")
	timeout := fs.Duration("timeout", 15*time.Second, "give up after this long")
	method := fs.String("method", http.MethodGet, "HTTP method (json)")
	body := fs.String("body", "", "request body (json)")
	field := fs.String("field", "", "JSON string field to print (json)")
	name := fs.String("name", "", "metric sample name (metric)")
	var headers []string
	fs.Func("header", `request header "Name: value", repeatable (json)`, func(s string) error {
		headers = append(headers, s)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if *timeout <= 0 || *timeout > 5*time.Minute {
		return fmt.Errorf("-timeout %v: want more than 0 and at most 5m", *timeout)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	if cmd == "freeport" {
		port, err := freePort()
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, port)
		return err
	}
	u, err := loopbackURL(*rawURL)
	if err != nil {
		return err
	}
	client := newClient()
	switch cmd {
	case "wait":
		return wait(ctx, client, u)
	case "json":
		if *field == "" {
			return errors.New("-field is required")
		}
		v, err := jsonField(ctx, client, u, *method, headers, *body, *field)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, v)
		return err
	default: // "metric"
		if *name == "" {
			return errors.New("-name is required")
		}
		v, err := metric(ctx, client, u, *name)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(stdout, v)
		return err
	}
}

// freePort asks the kernel for a free loopback port. Another process may take
// it before the caller binds it; the script retries start-up in that case.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("finding a free port: unexpected address %v", ln.Addr())
	}
	return addr.Port, nil
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
	host := u.Hostname()
	if u.Scheme != "http" && u.Scheme != "https" || u.User != nil {
		return nil, fmt.Errorf("-url %q: want an http or https URL without credentials", raw)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("-url %q: only loopback hosts are allowed", raw)
	}
	return u, nil
}

func newClient() *http.Client {
	d := &net.Dialer{Timeout: 2 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("dialing %q: %w", address, err)
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("dialing %s: not a loopback address", address)
		}
		return nil
	}}
	return &http.Client{
		Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// wait polls u until it answers 200 or ctx ends.
func wait(ctx context.Context, client *http.Client, u *url.URL) error {
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		res, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", res.StatusCode)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", u.Redacted(), last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// jsonField sends one request and returns the string field of its JSON body.
func jsonField(ctx context.Context, client *http.Client, u *url.URL, method string, headers []string, body, field string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, strings.ToUpper(method), u.String(), strings.NewReader(body))
	if err != nil {
		return "", err
	}
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			return "", fmt.Errorf(`-header %q: want "Name: value"`, h)
		}
		req.Header.Add(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	res, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("reading the response: %w", err)
	}
	if res.StatusCode < 200 || res.StatusCode > 299 {
		// The body of an error response holds no token; show it for diagnosis.
		return "", fmt.Errorf("%s %s: status %d: %s", req.Method, u.Path, res.StatusCode, strings.TrimSpace(string(b)))
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return "", fmt.Errorf("%s %s: decoding the response: %w", req.Method, u.Path, err)
	}
	s, ok := m[field].(string)
	if !ok || s == "" {
		return "", fmt.Errorf("%s %s: no string field %q in the response", req.Method, u.Path, field)
	}
	return s, nil
}

// metric returns the value of the first sample named name (without labels) in
// the Prometheus text exposition at u.
func metric(ctx context.Context, client *http.Client, u *url.URL, name string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	// Ask for the plain text format.
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	res, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET %s: status %d", u.Path, res.StatusCode)
	}
	sc := bufio.NewScanner(io.LimitReader(res.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name+" ")
		if ok {
			return strings.TrimSpace(rest), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading metrics: %w", err)
	}
	return "", fmt.Errorf("no sample %q at %s", name, u.Path)
}
