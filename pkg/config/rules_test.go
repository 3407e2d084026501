package config_test

import (
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// TestValidateAgreesWithToken checks that configuration accepts a key, a kid or an
// allowlist entry exactly when pkg/token does: the rules live in pkg/token, and a
// configuration that validates but does not build would fail later, at start-up
// or, worse, only on the next restart.
func TestValidateAgreesWithToken(t *testing.T) {
	t.Run("HMAC secret lengths", func(t *testing.T) {
		for _, alg := range []string{token.HS256, token.HS384, token.HS512} {
			for n := 30; n <= 66; n++ {
				secret := strings.Repeat("s", n)
				_, tokenErr := token.NewHMACKey("k", alg, []byte(secret))
				single := config.Default()
				single.JWT.Algorithm, single.JWT.Secret = alg, config.Secret(secret)
				set := config.Default()
				set.JWT.Keys = []config.Key{{KID: "k", Alg: alg, Secret: config.Secret(secret)}}
				for name, c := range map[string]config.Config{"jwt.secret": single, "jwt.keys": set} {
					if cfgErr := c.Validate(); (cfgErr == nil) != (tokenErr == nil) {
						t.Errorf("%s %s of %d bytes: Validate = %v, NewHMACKey = %v", name, alg, n, cfgErr, tokenErr)
					}
				}
			}
		}
	})
	t.Run("kids", func(t *testing.T) {
		for _, kid := range []string{"k", "2026-11", "a b", `a"b`, `a\b`, "k\x00", "kï", "\x7f", strings.Repeat("k", token.MaxKeyIDLen), strings.Repeat("k", token.MaxKeyIDLen+1)} {
			_, tokenErr := token.NewHMACKey(kid, token.HS256, []byte(secret32))
			single := config.Default()
			single.JWT.Secret, single.JWT.KeyID = secret32, kid
			set := config.Default()
			set.JWT.Keys = []config.Key{{KID: kid, Alg: token.HS256, Secret: secret32}}
			for name, c := range map[string]config.Config{"jwt.key_id": single, "jwt.keys": set} {
				if cfgErr := c.Validate(); (cfgErr == nil) != (tokenErr == nil) {
					t.Errorf("%s %q: Validate = %v, NewHMACKey = %v", name, kid, cfgErr, tokenErr)
				}
			}
		}
	})
	t.Run("seal secret", func(t *testing.T) {
		key, err := token.NewHMACKey("k", token.HS256, []byte(secret32))
		if err != nil {
			t.Fatal(err)
		}
		for n := 1; n <= 40; n++ {
			seal := strings.Repeat("x", n)
			_, tokenErr := token.NewKeySet("", []*token.Key{key}, token.WithSealSecret([]byte(seal)))
			c := config.Default()
			c.JWT.Secret, c.JWT.SealSecret = secret32, config.Secret(seal)
			if cfgErr := c.Validate(); (cfgErr == nil) != (tokenErr == nil) {
				t.Errorf("seal secret of %d bytes: Validate = %v, NewKeySet = %v", n, cfgErr, tokenErr)
			}
		}
	})
	t.Run("allowlist entries", func(t *testing.T) {
		hex64 := strings.Repeat("0a", 32)
		for _, e := range []string{"sk-1", "", "sha256:", "sha256:" + hex64, "sha256:" + strings.ToUpper(hex64), "sha256:" + hex64[:63], "sha256:" + hex64 + "0", "sha256:" + strings.Repeat("z", 64), "SHA256:x"} {
			_, tokenErr := token.ParseAllowedKey(e)
			c := config.Default()
			c.APIKeys.Allowed = []config.Secret{config.Secret(e)}
			if cfgErr := c.Validate(); (cfgErr == nil) != (tokenErr == nil) {
				t.Errorf("entry %q: Validate = %v, ParseAllowedKey = %v", e, cfgErr, tokenErr)
			}
		}
	})
	if got := config.Default().JWT.VerifyCacheSize; got != token.DefaultCacheSize {
		t.Errorf("default jwt.verify_cache_size = %d, want token.DefaultCacheSize %d", got, token.DefaultCacheSize)
	}
}
