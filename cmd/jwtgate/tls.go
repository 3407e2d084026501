package main

import (
	"crypto/tls"
	"fmt"
	"sync/atomic"
)

// certReloader holds the server's TLS certificate and swaps it on reload, so a
// renewed certificate is picked up (on SIGHUP) without dropping connections.
type certReloader struct {
	certFile, keyFile string
	cert              atomic.Pointer[tls.Certificate]
}

// newCertReloader loads the key pair from server.tls_cert_file and
// server.tls_key_file.
func newCertReloader(certFile, keyFile string) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return r, nil
}

// reload reads the key pair again. On error the current certificate stays.
func (r *certReloader) reload() error {
	cert, err := loadKeyPair(r.certFile, r.keyFile)
	if err != nil {
		return err
	}
	r.cert.Store(cert)
	return nil
}

// loadKeyPair reads server.tls_cert_file and server.tls_key_file. The error names
// the files, never their contents.
func loadKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("server.tls_cert_file, server.tls_key_file: loading the key pair: %w", err)
	}
	return &cert, nil
}

// getCertificate implements tls.Config.GetCertificate.
func (r *certReloader) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// tlsConfig returns the server's TLS settings: TLS 1.2 and up, with the
// certificate from r.
func (r *certReloader) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.getCertificate,
	}
}
