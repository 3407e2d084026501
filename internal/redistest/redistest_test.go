package redistest_test

import (
	"bufio"
	"crypto/tls"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/jwtgate/jwtgate/internal/redistest"
)

// ping sends PING over a fresh connection and returns the first reply line.
func ping(t *testing.T, s *redistest.Server, auth string) (string, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", s.Addr(), 2*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if pool := s.RootCAs(); pool != nil {
		conn = tls.Client(conn, &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12})
	}
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	if auth != "" {
		if _, err := conn.Write([]byte("AUTH " + auth + "\r\n")); err != nil {
			return "", err
		}
		if _, err := r.ReadString('\n'); err != nil {
			return "", err
		}
	}
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	return strings.TrimSpace(line), err
}

func TestStartKillRestart(t *testing.T) {
	s := redistest.Start(t)
	if got, err := ping(t, s, ""); err != nil || got != "+PONG" {
		t.Fatalf("PING: %q, %v", got, err)
	}
	if !strings.HasPrefix(s.URL(), "redis://127.0.0.1:") {
		t.Errorf("URL %q", s.URL())
	}
	s.Kill()
	if _, err := ping(t, s, ""); err == nil {
		t.Fatal("the server still answers after Kill")
	}
	s.Restart()
	if got, err := ping(t, s, ""); err != nil || got != "+PONG" {
		t.Fatalf("PING after Restart: %q, %v", got, err)
	}
}

func TestPasswordAndTLS(t *testing.T) {
	s := redistest.Start(t, redistest.WithPassword("pw-1"), redistest.WithTLS())
	if got, _ := ping(t, s, ""); !strings.HasPrefix(got, "-NOAUTH") {
		t.Errorf("PING without the password: %q, want NOAUTH", got)
	}
	if got, err := ping(t, s, "pw-1"); err != nil || got != "+PONG" {
		t.Errorf("PING with the password: %q, %v", got, err)
	}
	if !strings.HasPrefix(s.URL(), "rediss://:pw-1@127.0.0.1:") {
		t.Errorf("URL %q", s.URL())
	}
}
