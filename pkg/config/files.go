package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/viper"
)

// maxFileBytes bounds the configuration file and every secret or key file, so a
// path pointing at something huge (or at /dev/zero) fails instead of filling memory.
const maxFileBytes = 1 << 20

// readConfigFile reads the YAML file at path into v.
func readConfigFile(v *viper.Viper, path string) error {
	b, err := readFileLimited(path)
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewReader(b)); err != nil {
		// Only the line number of the parser's message is kept and the error is
		// deliberately not wrapped: see yamlErrorLine.
		return fmt.Errorf("parsing config file %q: not valid YAML%s", path, yamlErrorLine(err.Error()))
	}
	return nil
}

// yamlErrorLine returns " (line N)" from a YAML parser message, or "". Nothing
// else of the message is kept: the parser quotes the input in many ways (between
// backquotes, in anchor and tag names, after "invalid map key"), and the input
// may be a secret, say a secret file passed as --config by mistake.
func yamlErrorLine(msg string) string {
	i := strings.Index(msg, "line ")
	if i < 0 {
		return ""
	}
	j := i + len("line ")
	for j < len(msg) && msg[j] >= '0' && msg[j] <= '9' {
		j++
	}
	if j == i+len("line ") {
		return ""
	}
	return " (" + msg[i:j] + ")"
}

// readFileLimited reads a whole file of at most maxFileBytes. Its errors name
// the path (through *os.PathError) but never contain the file's bytes.
func readFileLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading %q: %w", path, err)
	}
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("file %q is larger than %d bytes", path, maxFileBytes)
	}
	return b, nil
}

// readFiles reads the secret and key files the configuration names into the
// matching Secret fields. Setting both a secret and its file is an error.
func (c *Config) readFiles() error {
	var errs []error
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	add(readSecret("jwt.secret", &c.JWT.Secret, c.JWT.SecretFile))
	add(readSecret("jwt.seal_secret", &c.JWT.SealSecret, c.JWT.SealSecretFile))
	add(readSecret("dpop.nonce_secret", &c.DPoP.NonceSecret, c.DPoP.NonceSecretFile))
	for i := range c.JWT.Keys {
		k := &c.JWT.Keys[i]
		prefix := fmt.Sprintf("jwt.keys[%d]", i)
		add(readSecret(prefix+".secret", &k.Secret, k.SecretFile))
		if k.PrivateKeyFile != "" {
			b, err := readKeyFile(prefix+".private_key_file", k.PrivateKeyFile)
			add(err)
			k.PrivateKeyPEM = Secret(b)
		}
	}
	return errors.Join(errs...)
}

// readSecret fills *dst from path (key + "_file"), dropping one trailing newline.
func readSecret(key string, dst *Secret, path string) error {
	if path == "" {
		return nil
	}
	fileKey := key + "_file"
	if *dst != "" {
		return fmt.Errorf("%s and %s are both set; set only one", key, fileKey)
	}
	b, err := readKeyFile(fileKey, path)
	if err != nil {
		return err
	}
	s, ok := strings.CutSuffix(string(b), "\r\n")
	if !ok {
		s = strings.TrimSuffix(s, "\n")
	}
	if s == "" {
		return fmt.Errorf("%s: file %q holds no secret", fileKey, path)
	}
	*dst = Secret(s)
	return nil
}

// readKeyFile reads the file named by configuration key key; an empty file is an
// error, since it would otherwise mean "no secret" and a random key.
func readKeyFile(key, path string) ([]byte, error) {
	b, err := readFileLimited(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", key, err)
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("%s: file %q is empty", key, path)
	}
	return b, nil
}

// Files returns every file c was read from besides the configuration file itself:
// secret files, private key files and TLS files, in a stable order. A running
// server watches them (and the configuration file) to reload on change.
func (c Config) Files() []string {
	var out []string
	add := func(p string) {
		if p != "" {
			out = append(out, p)
		}
	}
	add(c.JWT.SecretFile)
	add(c.JWT.SealSecretFile)
	for _, k := range c.JWT.Keys {
		add(k.SecretFile)
		add(k.PrivateKeyFile)
	}
	add(c.DPoP.NonceSecretFile)
	add(c.Server.TLSCertFile)
	add(c.Server.TLSKeyFile)
	return out
}
