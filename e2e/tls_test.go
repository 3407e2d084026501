package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate for 127.0.0.1 with the given serial
// number to certFile and keyFile, and returns it.
func writeCert(t *testing.T, certFile, keyFile string, serial int64) *x509.Certificate {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "jwtgate e2e"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// servedSerial returns the serial number of the certificate s presents.
func servedSerial(t *testing.T, s *server, roots *x509.CertPool) int64 {
	t.Helper()
	d := tls.Dialer{Config: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(t.Context(), "tcp", s.Addr)
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer conn.Close()
	return conn.(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// TestTLSWithCertificateReload serves HTTPS, swaps the certificate files, sends
// SIGHUP and expects the new certificate, with the process still running.
func TestTLSWithCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	roots := x509.NewCertPool()
	roots.AddCert(writeCert(t, certFile, keyFile, 1))
	apiKey := newAPIKey(t)

	s := startTLSServer(t, roots, []string{
		"JWTGATE_JWT_SECRET=" + newSecret(t),
		"JWTGATE_SERVER_TLS_CERT_FILE=" + certFile,
		"JWTGATE_SERVER_TLS_KEY_FILE=" + keyFile,
	})
	tok := s.createSession(t, apiKey).AccessToken
	s.currentSession(t, tok)
	if got := servedSerial(t, s, roots); got != 1 {
		t.Fatalf("served certificate serial = %d, want 1", got)
	}

	roots.AddCert(writeCert(t, certFile, keyFile, 2))
	s.Signal(t, syscall.SIGHUP)
	deadline := time.Now().Add(30 * time.Second)
	for servedSerial(t, s, roots) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate was not served within 30s of SIGHUP")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Still the same process and the same keys: the old token is still good.
	s.currentSession(t, tok)
	if !strings.Contains(s.Logs(), "TLS certificate reloaded") {
		t.Error("logs do not mention the reload")
	}

	if code := s.Stop(t); code != 0 {
		t.Errorf("exit code = %d, want 0", code)
	}
	assertNoLeak(t, "logs", s.Logs(), apiKey, tok)
}

// TestMetrics checks that /metrics serves Prometheus text with jwtgate's series.
func TestMetrics(t *testing.T) {
	s := startServer(t, []string{"JWTGATE_JWT_SECRET=" + newSecret(t)})
	s.createSession(t, newAPIKey(t))
	resp := s.do(t, request{Method: http.MethodGet, Path: "/metrics"})
	if resp.Status != http.StatusOK {
		t.Fatalf("GET /metrics = %d", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want Prometheus text", ct)
	}
	if body := string(resp.Body); !strings.Contains(body, "jwtgate_build_info") || !strings.Contains(body, `version="e2e"`) {
		t.Errorf("metrics lack jwtgate_build_info with the binary's version:\n%.2000s", body)
	}
}
