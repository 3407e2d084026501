package e2e

import (
	"bufio"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var b64url = base64.RawURLEncoding

// hsSign signs header.payload (raw JSON) with HMAC-SHA-256/384/512 under secret,
// the way an attacker who knows (or guesses) the secret would.
func hsSign(alg string, secret []byte, header, payload string) string {
	si := b64url.EncodeToString([]byte(header)) + "." + b64url.EncodeToString([]byte(payload))
	return si + "." + b64url.EncodeToString(hsSum(alg, secret, si))
}

func hsSum(alg string, secret []byte, si string) []byte {
	var h func() hash.Hash
	switch alg {
	case "HS384":
		h = sha512.New384
	case "HS512":
		h = sha512.New
	default:
		h = sha256.New
	}
	m := hmac.New(h, secret)
	m.Write([]byte(si))
	return m.Sum(nil)
}

// edSign signs header.payload (raw JSON) with an Ed25519 key.
func edSign(priv ed25519.PrivateKey, header, payload string) string {
	si := b64url.EncodeToString([]byte(header)) + "." + b64url.EncodeToString([]byte(payload))
	return si + "." + b64url.EncodeToString(ed25519.Sign(priv, []byte(si)))
}

// unsigned returns header.payload. with an empty signature.
func unsigned(header, payload string) string {
	return b64url.EncodeToString([]byte(header)) + "." + b64url.EncodeToString([]byte(payload)) + "."
}

// newEd25519 returns a fresh Ed25519 key.
func newEd25519(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return priv
}

// writeEd25519PEM writes priv as a PKCS#8 PEM file in dir and returns its path.
func writeEd25519PEM(t *testing.T, dir string, priv ed25519.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ed1.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// claimsOf decodes a token's payload into a map that keeps numbers exact.
func claimsOf(t *testing.T, tok string) map[string]any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(tokenPayload(t, tok)))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("payload is not a JSON object: %v", err)
	}
	return m
}

// withClaims returns a JSON object of m with kv applied: pairs of name and value,
// a nil value deleting the name.
func withClaims(t *testing.T, m map[string]any, kv ...any) string {
	t.Helper()
	c := make(map[string]any, len(m))
	for k, v := range m {
		c[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// trapListener is a loopback TCP listener that counts the connections it gets.
// Tokens point their jku, x5u, jwk and x5c headers at it; the server must never
// connect.
type trapListener struct {
	ln    net.Listener
	conns atomic.Int64
}

func newTrapListener(t *testing.T) *trapListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tl := &trapListener{ln: ln}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			tl.conns.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return tl
}

// URL returns an http URL on the listener with the given path.
func (tl *trapListener) URL(path string) string { return "http://" + tl.ln.Addr().String() + path }

// Connections returns how many connections the listener accepted so far.
func (tl *trapListener) Connections() int64 { return tl.conns.Load() }

// rawResponse sends a raw HTTP/1.1 request on its own connection and reads the
// status line and headers of the answer. The request is written from a separate
// goroutine, so a server that answers before reading all of it (a 431 on a huge
// header) is heard even if the rest of the write fails.
func rawResponse(t *testing.T, addr, req string) *http.Response {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = io.WriteString(conn, req) }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("reading the answer to a %d-byte request: %v", len(req), err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body = io.NopCloser(strings.NewReader(string(body)))
	return resp
}

// secretForms returns s and the encodings under which it could show up in a
// log or a response: base64 (standard and URL alphabets, padded or not) and hex.
func secretForms(s string) []string {
	b := []byte(s)
	return []string{
		s,
		base64.StdEncoding.EncodeToString(b),
		base64.RawStdEncoding.EncodeToString(b),
		base64.URLEncoding.EncodeToString(b),
		base64.RawURLEncoding.EncodeToString(b),
		hex.EncodeToString(b),
	}
}

// errTimeout reports whether err is a network timeout.
func errTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
