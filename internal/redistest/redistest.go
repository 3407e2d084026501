// Package redistest runs real redis-server processes for tests: each on a free
// loopback port, with persistence off, its files in the test's temporary
// directory, and stopped when the test ends. It can require a password and
// serve TLS only, with a certificate authority it makes for the test.
//
// redis-server must be on PATH (Debian's package; `make deps` installs it).
// A missing server fails the test: nothing is skipped.
package redistest

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// startTimeout bounds how long a server may take to answer after starting.
const startTimeout = 20 * time.Second

// Server is one redis-server process.
type Server struct {
	t        testing.TB
	bin      string
	dir      string
	port     int
	password string
	tls      *tlsFiles

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	out  *syncBuffer
}

type tlsFiles struct {
	cert, key, ca string
	pool          *x509.CertPool
}

// Option configures [Start].
type Option func(*Server)

// WithPassword makes the server require password (requirepass).
func WithPassword(password string) Option { return func(s *Server) { s.password = password } }

// WithTLS makes the server speak TLS only, with a certificate for 127.0.0.1
// and localhost signed by an authority made for the test ([Server.RootCAs]).
func WithTLS() Option { return func(s *Server) { s.tls = &tlsFiles{} } }

// Start starts a redis-server and stops it when the test ends.
func Start(t testing.TB, opts ...Option) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed: run `make deps` (or apt-get install redis-server)")
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir()}
	for _, o := range opts {
		o(s)
	}
	if s.tls != nil {
		s.makeCerts()
	}
	t.Cleanup(s.Kill)
	// A free port can be taken between finding and binding it; try a few.
	for attempt := 0; ; attempt++ {
		s.port = freePort(t)
		err := s.start()
		if err == nil {
			return s
		}
		if attempt == 4 {
			t.Fatalf("starting redis-server: %v\n%s", err, s.output())
		}
	}
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is a redis:// (or, with TLS, rediss://) URL of the server, with its
// password if it has one.
func (s *Server) URL() string {
	u := url.URL{Scheme: "redis", Host: s.Addr(), Path: "/0"}
	if s.tls != nil {
		u.Scheme = "rediss"
	}
	if s.password != "" {
		u.User = url.UserPassword("", s.password)
	}
	return u.String()
}

// CAFile is the PEM file of the authority that signed a TLS server's
// certificate, for a process that reads its roots from a file (SSL_CERT_FILE);
// "" without [WithTLS].
func (s *Server) CAFile() string {
	if s.tls == nil {
		return ""
	}
	return s.tls.ca
}

// RootCAs holds the authority that signed a TLS server's certificate (nil
// without [WithTLS]).
func (s *Server) RootCAs() *x509.CertPool {
	if s.tls == nil {
		return nil
	}
	return s.tls.pool
}

// Kill ends the server at once (SIGKILL), as a crash would, and waits for it.
// It does nothing if the server is not running.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-done
}

// Restart starts the server again on the same port, after [Server.Kill]. Its
// data is gone: persistence is off.
func (s *Server) Restart() {
	s.t.Helper()
	s.Kill()
	var err error
	for attempt := 0; attempt < 10; attempt++ { // the port may linger briefly
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("restarting redis-server on port %d: %v\n%s", s.port, err, s.output())
}

func (s *Server) start() error {
	args := []string{
		"--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
	}
	if s.tls != nil {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(s.port),
			"--tls-cert-file", s.tls.cert, "--tls-key-file", s.tls.key,
			"--tls-ca-cert-file", s.tls.ca, "--tls-auth-clients", "no")
	} else {
		args = append(args, "--port", strconv.Itoa(s.port))
	}
	if s.password != "" {
		args = append(args, "--requirepass", s.password)
	}
	cmd := exec.Command(s.bin, args...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("running %s: %w", s.bin, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	s.mu.Lock()
	s.cmd, s.done, s.out = cmd, done, out
	s.mu.Unlock()
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			s.mu.Lock()
			s.cmd = nil
			s.mu.Unlock()
			return fmt.Errorf("redis-server exited at start")
		default:
		}
		if s.answers() {
			return nil
		}
		if time.Now().After(deadline) {
			s.Kill()
			return fmt.Errorf("redis-server did not answer within %s", startTimeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// answers reports whether the server replies to PING (an authentication
// error is a reply too).
func (s *Server) answers() bool {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.Dial("tcp", s.Addr())
	if err != nil {
		return false
	}
	defer conn.Close()
	if s.tls != nil {
		tc := tls.Client(conn, &tls.Config{RootCAs: s.tls.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
		conn = tc
	}
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return false
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return err == nil && (strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH"))
}

// output is what the server printed, for failure messages.
func (s *Server) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.out == nil {
		return ""
	}
	return s.out.String()
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// makeCerts writes a certificate authority and a server certificate it signs.
func (s *Server) makeCerts() {
	t := s.t
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "redistest CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	s.tls.ca = writePEM(t, s.dir, "ca.pem", "CERTIFICATE", caDER)
	s.tls.cert = writePEM(t, s.dir, "server.pem", "CERTIFICATE", der)
	s.tls.key = writePEM(t, s.dir, "server-key.pem", "EC PRIVATE KEY", keyDER)
	s.tls.pool = x509.NewCertPool()
	s.tls.pool.AddCert(caCert)
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// syncBuffer is a bytes.Buffer that the process's output and the test can
// use at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
