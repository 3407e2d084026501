package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// rsaBits is the modulus size of generated RS256 keys.
const rsaBits = 3072

// hmacRandomBytes returns how many random bytes an HMAC secret file holds for alg
// (at least the hash output size, never under 48) before base64url encoding, and
// false for a non-HMAC alg. The file's text is itself the secret, used as raw bytes,
// so the encoded length (64 or 86 characters) always clears the 32/48/64-byte minimum.
func hmacRandomBytes(alg string) (int, bool) {
	minLen, ok := token.HMACMinLen(alg)
	if !ok {
		return 0, false
	}
	return max(minLen, 48), true
}

func newKeysCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keys",
		Short: "Generate signing keys and print the public key set",
	}
	cmd.AddCommand(newKeysGenerateCommand(), newKeysJWKSCommand())
	return cmd
}

func newKeysGenerateCommand() *cobra.Command {
	var (
		alg   string
		out   string
		force bool
	)
	cmd := &cobra.Command{
		Use:   "generate --alg ALG --out FILE",
		Short: "Write a new random signing key to a file (mode 0600)",
		Long: `Write a new random signing key to FILE, readable by its owner only.

HS256, HS384 and HS512 write a random secret as base64url text, for jwt.secret_file
or a jwt.keys entry's secret_file. EdDSA, ES256 and RS256 (3072 bits) write a
PKCS#8 PEM private key, for a jwt.keys entry's private_key_file.

An existing FILE is never overwritten unless --force is given.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			data, err := generateKey(alg)
			if err != nil {
				return err
			}
			if err := writeKeyFile(out, data, force); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "wrote a new %s key to %s\n", alg, out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&alg, "alg", token.HS256, "algorithm: HS256, HS384, HS512, EdDSA, ES256 or RS256")
	f.StringVar(&out, "out", "", "file to write (created with mode 0600)")
	f.BoolVar(&force, "force", false, "replace FILE if it exists")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

// generateKey returns the file contents of a new key for alg.
func generateKey(alg string) ([]byte, error) {
	if n, ok := hmacRandomBytes(alg); ok {
		b := make([]byte, n)
		rand.Read(b) // never fails (crypto/rand, Go 1.24+)
		return []byte(base64.RawURLEncoding.EncodeToString(b) + "\n"), nil
	}
	var (
		priv crypto.Signer
		err  error
	)
	switch alg {
	case token.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case token.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case token.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaBits)
	default:
		return nil, fmt.Errorf("--alg: %w: %q (want HS256, HS384, HS512, EdDSA, ES256 or RS256)", token.ErrAlgUnsupported, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("generating a %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("encoding the %s key: %w", alg, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeKeyFile writes data to path with mode 0600. Without force an existing file is
// an error; with force it is replaced atomically (a temporary file in the same
// directory, renamed over it), so a reader never sees a half-written key.
func writeKeyFile(path string, data []byte, force bool) error {
	if path == "" {
		return errors.New("--out: a file name is required")
	}
	if !force {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("--out: %s exists; pass --force to replace it", path)
		}
		if err != nil {
			return fmt.Errorf("creating key file: %w", err)
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = os.Remove(path)
			return fmt.Errorf("writing key file: %w", err)
		}
		return nil
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("creating key file: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, already gone
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(data)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("writing key file: %w", err)
	}
	return nil
}

func newKeysJWKSCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "jwks",
		Short: "Print the JWKS (public keys) of the configured key set",
		Long: `Print the JSON Web Key Set of the configured keys, as GET /.well-known/jwks.json
serves it. Only public keys appear: HMAC secrets have no public part, so a key set
of HMAC keys only prints {"keys": []}.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			if configuredKeySource(cfg) == keySourceRandom {
				return errNoConfiguredKey("keys jwks")
			}
			logger, err := newCLILogger(cmd.ErrOrStderr(), cfg.Log)
			if err != nil {
				return err
			}
			ks, _, _, err := buildTokens(cfg, logger)
			if err != nil {
				return err
			}
			doc, err := ks.JWKS()
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			if err := json.Indent(&buf, doc, "", "  "); err != nil {
				return fmt.Errorf("formatting JWKS: %w", err)
			}
			buf.WriteByte('\n')
			_, err = cmd.OutOrStdout().Write(buf.Bytes())
			return err
		},
	}
	registerOfflineFlags(cmd.Flags())
	return cmd
}
