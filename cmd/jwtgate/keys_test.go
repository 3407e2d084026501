package main

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/token"
)

func TestKeysGenerate(t *testing.T) {
	tests := []struct {
		alg     string
		minSize int // HMAC: smallest secret the algorithm accepts
	}{
		{alg: token.HS256, minSize: 32},
		{alg: token.HS384, minSize: 48},
		{alg: token.HS512, minSize: 64},
		{alg: token.EdDSA},
		{alg: token.ES256},
		{alg: token.RS256},
	}
	for _, tt := range tests {
		t.Run(tt.alg, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "key")
			r := mustRun(t, "", "keys", "generate", "--alg", tt.alg, "--out", out)
			if !strings.Contains(r.stdout, out) {
				t.Errorf("stdout = %q, want it to name %s", r.stdout, out)
			}
			fi, err := os.Stat(out)
			if err != nil {
				t.Fatal(err)
			}
			if mode := fi.Mode().Perm(); mode != 0o600 {
				t.Errorf("mode = %v, want 0600", mode)
			}
			data, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			assertNotContains(t, "stdout", r.stdout, strings.TrimSpace(string(data)))

			if tt.minSize > 0 {
				// config.Load drops one trailing newline from a secret file.
				secret := strings.TrimSuffix(string(data), "\n")
				if len(secret) < tt.minSize {
					t.Fatalf("secret is %d bytes, want at least %d", len(secret), tt.minSize)
				}
				k, err := token.NewHMACKey("", tt.alg, []byte(secret))
				if err != nil {
					t.Fatalf("NewHMACKey: %v", err)
				}
				if k.Alg() != tt.alg {
					t.Errorf("alg = %s, want %s", k.Alg(), tt.alg)
				}
				return
			}
			k, err := token.ParsePrivateKeyPEM("", "", data)
			if err != nil {
				t.Fatalf("ParsePrivateKeyPEM: %v", err)
			}
			if k.Alg() != tt.alg {
				t.Errorf("alg = %s, want %s", k.Alg(), tt.alg)
			}
			if tt.alg == token.RS256 {
				block, _ := pem.Decode(data)
				priv, err := x509.ParsePKCS8PrivateKey(block.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				if bits := priv.(*rsa.PrivateKey).N.BitLen(); bits != rsaBits {
					t.Errorf("RSA key has %d bits, want %d", bits, rsaBits)
				}
			}
		})
	}
}

func TestKeysGenerateIsRandom(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
	mustRun(t, "", "keys", "generate", "--out", a)
	mustRun(t, "", "keys", "generate", "--out", b)
	da, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	db, err := os.ReadFile(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(da) == string(db) {
		t.Error("two generated secrets are equal")
	}
}

func TestKeysGenerateRefusesOverwrite(t *testing.T) {
	out := filepath.Join(t.TempDir(), "key")
	const old = "keep me\n"
	if err := os.WriteFile(out, []byte(old), 0o644); err != nil {
		t.Fatal(err)
	}

	r := run(t, "", "keys", "generate", "--alg", token.HS256, "--out", out)
	if r.err == nil {
		t.Fatal("generate over an existing file: want an error")
	}
	if !strings.Contains(r.err.Error(), "--force") {
		t.Errorf("error = %q, want it to mention --force", r.err)
	}
	if got, _ := os.ReadFile(out); string(got) != old {
		t.Errorf("existing file changed to %q", got)
	}

	mustRun(t, "", "keys", "generate", "--alg", token.EdDSA, "--out", out, "--force")
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := token.ParsePrivateKeyPEM("", token.EdDSA, data); err != nil {
		t.Errorf("replaced file does not parse: %v", err)
	}
	fi, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Errorf("mode after --force = %v, want 0600", mode)
	}
	entries, err := os.ReadDir(filepath.Dir(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d files after --force, want 1 (no temporary left)", len(entries))
	}
}

func TestKeysGenerateBadInput(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantErr error  // checked with errors.Is when set
		wantMsg string // substring of the error
	}{
		{name: "unknown alg", args: []string{"--alg", "none", "--out", filepath.Join(dir, "a")}, wantErr: token.ErrAlgUnsupported},
		{name: "lower-case alg", args: []string{"--alg", "hs256", "--out", filepath.Join(dir, "b")}, wantErr: token.ErrAlgUnsupported},
		{name: "no out", args: []string{"--alg", token.HS256}, wantMsg: "out"},
		{name: "missing directory", args: []string{"--out", filepath.Join(dir, "nope", "key")}, wantErr: os.ErrNotExist},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, "", append([]string{"keys", "generate"}, tt.args...)...)
			if r.err == nil {
				t.Fatal("want an error")
			}
			if tt.wantErr != nil && !errors.Is(r.err, tt.wantErr) {
				t.Errorf("error = %v, want %v", r.err, tt.wantErr)
			}
			if !strings.Contains(r.err.Error(), tt.wantMsg) {
				t.Errorf("error = %q, want it to contain %q", r.err, tt.wantMsg)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed runs left %d files behind", len(entries))
	}
}

func TestKeysJWKS(t *testing.T) {
	cleanEnv(t)
	dir := t.TempDir()
	ed := filepath.Join(dir, "ed.pem")
	mustRun(t, "", "keys", "generate", "--alg", token.EdDSA, "--out", ed)
	secret := newSecret(t)
	cfgFile := filepath.Join(dir, "jwtgate.yaml")
	yaml := "jwt:\n  keys:\n" +
		"    - kid: ed-1\n      alg: EdDSA\n      private_key_file: " + ed + "\n" +
		"    - kid: hs-1\n      alg: HS256\n      secret: " + secret + "\n"
	if err := os.WriteFile(cfgFile, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, "", "keys", "jwks", "--config", cfgFile)
	for _, want := range []string{`"kid": "ed-1"`, `"kty": "OKP"`, `"crv": "Ed25519"`} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("JWKS lacks %s:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "hs-1") {
		t.Errorf("JWKS lists the HMAC key:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, `"d"`) {
		t.Errorf("JWKS has a private part:\n%s", r.stdout)
	}
	assertNotContains(t, "output", r.stdout+r.stderr, secret)
}
