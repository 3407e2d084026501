package config_test

import (
	"slices"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/config"
)

func TestFiles(t *testing.T) {
	c := config.Default()
	if got := c.Files(); len(got) != 0 {
		t.Errorf("Files() of the defaults = %v, want none", got)
	}
	c.JWT.SecretFile = "/s/secret"
	c.JWT.SealSecretFile = "/s/seal"
	c.JWT.Keys = []config.Key{{KID: "a", SecretFile: "/s/a"}, {KID: "b", PrivateKeyFile: "/s/b.pem"}}
	c.Server.TLSCertFile, c.Server.TLSKeyFile = "/t/cert.pem", "/t/key.pem"
	want := []string{"/s/secret", "/s/seal", "/s/a", "/s/b.pem", "/t/cert.pem", "/t/key.pem"}
	if got := c.Files(); !slices.Equal(got, want) {
		t.Errorf("Files() = %v, want %v", got, want)
	}
}

func TestPath(t *testing.T) {
	t.Setenv("JWTGATE_CONFIG", "/etc/jwtgate/env.yaml")
	if got := config.Path(nil); got != "/etc/jwtgate/env.yaml" {
		t.Errorf("Path(nil) = %q", got)
	}
	fs := mustFlags(t, "--config", "/etc/jwtgate/flag.yaml")
	if got := config.Path(fs); got != "/etc/jwtgate/flag.yaml" {
		t.Errorf("Path(--config) = %q", got)
	}
}
