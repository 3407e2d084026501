package main

import (
	"crypto/rand"
	"fmt"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/dpop"
	"github.com/jwtgate/jwtgate/pkg/server"
)

// dpopConfig hands the server the dpop.* settings (with jwt.leeway for a proof's
// iat). With dpop.require_nonce it builds the nonce source: from
// dpop.nonce_secret, else from what every replica of one deployment holds
// already (see nonceSecret), so that replicas accept each other's nonces without
// more configuration. random is the process's own secret for when nothing is
// configured, kept across reloads like the random signing key.
func dpopConfig(cfg config.Config, random []byte) (server.DPoPConfig, error) {
	d := cfg.DPoP
	c := server.DPoPConfig{
		Required:        d.Required,
		MaxAge:          d.MaxAge,
		Leeway:          cfg.JWT.Leeway,
		ReplayCacheSize: d.ReplayCacheSize,
	}
	if !d.RequireNonce {
		return c, nil
	}
	ns, err := dpop.NewNonceSource(nonceSecret(cfg, random), d.NonceWindow)
	if err != nil {
		return server.DPoPConfig{}, fmt.Errorf("dpop: %w", err)
	}
	c.Nonces = ns
	return c, nil
}

// nonceSecret is the input the nonce key is derived from: dpop.nonce_secret; else
// jwt.seal_secret; else the signing key's own material (jwt.secret, or the
// secret or private key of jwt.keys' signing entry); else, with the random
// in-memory signing key, random. NewNonceSource derives its MAC key from it with
// HKDF under a label of its own, so the nonce key is neither the signing nor the
// seal key, and a nonce (which clients see) tells nothing about either.
func nonceSecret(cfg config.Config, random []byte) []byte {
	j := cfg.JWT
	switch {
	case cfg.DPoP.NonceSecret != "":
		return []byte(cfg.DPoP.NonceSecret)
	case j.SealSecret != "":
		return []byte(j.SealSecret)
	}
	switch configuredKeySource(cfg) { // which of jwt.keys and jwt.secret signs
	case keySourceKeys:
		k := j.Keys[0]
		for _, kc := range j.Keys {
			if kc.KID == j.SigningKey {
				k = kc
			}
		}
		if k.PrivateKeyPEM != "" {
			return []byte(k.PrivateKeyPEM)
		}
		return []byte(k.Secret)
	case keySourceSecret:
		return []byte(j.Secret)
	}
	return random
}

// newRandomNonceSecret returns a process-local secret for nonceSecret.
func newRandomNonceSecret() []byte {
	b := make([]byte, dpop.MinNonceSecretLen)
	rand.Read(b) // never fails (crypto/rand, Go 1.24+)
	return b
}
