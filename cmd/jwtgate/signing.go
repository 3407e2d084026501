package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// randomKeyLen is the size of the in-memory HMAC secret used when none is configured.
const randomKeyLen = 32

// keySource says where the signing keys come from, for logs and for commands that
// refuse to work with a random key.
type keySource string

const (
	keySourceKeys   keySource = "jwt.keys"
	keySourceSecret keySource = "jwt.secret"
	keySourceRandom keySource = "random"
)

// configuredKeySource reports which of jwt.keys, jwt.secret (filled from
// jwt.secret_file by config.Load) or nothing the configuration uses.
func configuredKeySource(cfg config.Config) keySource {
	switch {
	case len(cfg.JWT.Keys) > 0:
		return keySourceKeys
	case cfg.JWT.Secret != "":
		return keySourceSecret
	default:
		return keySourceRandom
	}
}

// buildTokens builds the key set, issuer and verifier described by cfg.JWT.
//
// With jwt.keys set, each entry becomes a key (HMAC from its secret, asymmetric from
// its PKCS#8 PEM) and jwt.signing_key picks the signer; otherwise jwt.secret is one
// HMAC key; with neither, a random in-memory HS256 key is made and a warning logged,
// since tokens then die with the process and no other replica accepts them. The
// signing kid and key fingerprint are logged, never key material.
func buildTokens(cfg config.Config, logger *slog.Logger) (*token.KeySet, *token.Issuer, *token.Verifier, error) {
	j := cfg.JWT
	var (
		keys    []*token.Key
		signing string
	)
	source := configuredKeySource(cfg)
	switch source {
	case keySourceKeys:
		for i, kc := range j.Keys {
			k, err := newConfiguredKey(kc)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("jwt.keys[%d] (kid %q): %w", i, kc.KID, err)
			}
			keys = append(keys, k)
		}
		signing = j.SigningKey
		if signing != "" && !slices.ContainsFunc(keys, func(k *token.Key) bool { return k.ID() == signing }) {
			return nil, nil, nil, fmt.Errorf("jwt.signing_key: %w: %q is not a kid in jwt.keys", token.ErrKeySetInvalid, signing)
		}
	case keySourceSecret:
		k, err := token.NewHMACKey(j.KeyID, j.Algorithm, []byte(j.Secret))
		if err != nil {
			return nil, nil, nil, fmt.Errorf("jwt.secret: %w", err)
		}
		keys = append(keys, k)
	default:
		secret := make([]byte, randomKeyLen)
		rand.Read(secret) // never fails (crypto/rand, Go 1.24+)
		k, err := token.NewHMACKey("", token.HS256, secret)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("making a random key: %w", err)
		}
		keys = append(keys, k)
		logger.Warn("no jwt.secret, jwt.secret_file or jwt.keys configured: signing with a random in-memory key; "+
			"tokens will not survive a restart nor be accepted by other replicas",
			slog.String("kid", k.ID()))
	}

	var ksOpts []token.KeySetOption
	if j.SealSecret != "" {
		ksOpts = append(ksOpts, token.WithSealSecret([]byte(j.SealSecret)))
	}
	ks, err := token.NewKeySet(signing, keys, ksOpts...)
	if err != nil {
		key := "jwt.keys"
		if errors.Is(err, token.ErrSealSecretShort) {
			key = "jwt.seal_secret"
		}
		return nil, nil, nil, fmt.Errorf("%s: %w", key, err)
	}

	iss, ver, err := newIssuerVerifier(ks, j)
	if err != nil {
		return nil, nil, nil, err
	}

	sk := ks.SigningKey()
	logger.Info("signing key",
		slog.String("source", string(source)),
		slog.String("kid", sk.ID()),
		slog.String("alg", sk.Alg()),
		slog.String("fingerprint", sk.Fingerprint()),
		slog.Int("keys", len(keys)),
		slog.Bool("seal_secret", j.SealSecret != ""),
	)
	return ks, iss, ver, nil
}

// newIssuerVerifier builds the issuer and verifier of ks with the jwt.* settings
// other than the keys.
func newIssuerVerifier(ks *token.KeySet, j config.JWT) (*token.Issuer, *token.Verifier, error) {
	// jwt.max_ttl bounds both: the issuer caps lifetimes at it, and the verifier
	// refuses a token living longer (only a leaked signing key could make one).
	maxTTL := token.WithMaxTTL(j.MaxTTL)
	iss, err := token.NewIssuer(ks, j.Issuer, j.Audience,
		maxTTL,
		token.WithTTL(j.TTL),
		token.WithMaxSessionAge(j.MaxSessionAge),
		token.WithPlainAPIKey(strings.EqualFold(j.APIKeyClaim, "plain")),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("building the issuer: %w", err)
	}
	ver, err := token.NewVerifier(ks, j.Issuer, j.Audience,
		maxTTL,
		token.WithLeeway(j.Leeway),
		token.WithNotBefore(j.NotBefore),
		// jwt.verify_cache_size: repeated requests with one token skip the signature
		// check; exp and nbf are still checked on every hit (0: off).
		token.WithCache(j.VerifyCacheSize),
	)
	if err != nil {
		return nil, nil, fmt.Errorf("building the verifier: %w", err)
	}
	return iss, ver, nil
}

// newConfiguredKey builds one jwt.keys entry: asymmetric when it has a private key
// file, HMAC otherwise. The algorithm stays pinned to what the entry names.
func newConfiguredKey(kc config.Key) (*token.Key, error) {
	if kc.PrivateKeyPEM != "" {
		return token.ParsePrivateKeyPEM(kc.KID, kc.Alg, []byte(kc.PrivateKeyPEM))
	}
	return token.NewHMACKey(kc.KID, kc.Alg, []byte(kc.Secret))
}
