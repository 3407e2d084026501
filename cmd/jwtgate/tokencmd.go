package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/jwtgate/jwtgate/pkg/config"
	"github.com/jwtgate/jwtgate/pkg/token"
)

// errNoConfiguredKey refuses a command on a random in-memory key: a token it signs is
// accepted by nothing else, and it verifies nothing it did not sign.
func errNoConfiguredKey(command string) error {
	return fmt.Errorf("%s needs jwt.secret, jwt.secret_file or jwt.keys", command)
}

func newTokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Issue and verify session tokens offline, with the server's configuration",
	}
	cmd.AddCommand(newTokenIssueCommand(), newTokenVerifyCommand())
	return cmd
}

func newTokenIssueCommand() *cobra.Command {
	var (
		apiKey  string
		subject string
		ttl     time.Duration
		limits  string
	)
	cmd := &cobra.Command{
		Use:   "issue --api-key KEY [--subject S] [--ttl 10m] [--limits JSON]",
		Short: "Print a session token for an API key",
		Long: `Print a session token for an API key, signed as the server would sign it
(same configuration: flags, JWTGATE_* environment, --config file).

Pass --api-key - to read the key from standard input and keep it out of the
process list and shell history. Only the token is printed, on standard output.

--limits takes the session limits as POST /sessions does, for example
'{"models":["gpt-4o-mini"],"max_output_tokens":1024}'; limits.default and
limits.max apply as they do there. token verify shows them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			if configuredKeySource(cfg) == keySourceRandom {
				return errNoConfiguredKey("token issue")
			}
			if apiKey == "-" {
				k, err := readInput(cmd.InOrStdin(), token.MaxAPIKeyLen)
				if err != nil {
					return fmt.Errorf("reading the API key from standard input: %w", err)
				}
				apiKey = k
			}
			logger, err := newCLILogger(cmd.ErrOrStderr(), cfg.Log)
			if err != nil {
				return err
			}
			lim, err := issueLimits(cfg, limits)
			if err != nil {
				return err
			}
			_, iss, _, err := buildTokens(cfg, logger)
			if err != nil {
				return err
			}
			issued, err := iss.Issue(cmd.Context(), token.Params{APIKey: apiKey, Subject: subject, TTL: ttl, Limits: lim})
			if err != nil {
				return fmt.Errorf("issuing a token: %w", err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), issued.Token)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&apiKey, "api-key", "", `API key the session wraps ("-": read it from standard input)`)
	f.StringVar(&subject, "subject", "", `sub claim (default "apikey:" and the key's fingerprint)`)
	f.DurationVar(&ttl, "ttl", 0, "token lifetime (default jwt.ttl, capped at jwt.max_ttl)")
	f.StringVar(&limits, "limits", "", `session limits as JSON, as POST /sessions takes them (default limits.default)`)
	_ = cmd.MarkFlagRequired("api-key")
	registerOfflineFlags(f)
	return cmd
}

func newTokenVerifyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify [TOKEN | -]",
		Short: "Verify a session token and print its claims as JSON",
		Long: `Verify a session token with the server's configuration and print its claims
as JSON; the API key shows only as its fingerprint. The token comes from the
argument, or from standard input when the argument is "-" or missing.

An invalid token exits with status 1 and the reason on standard error.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(cmd.Flags())
			if err != nil {
				return err
			}
			if configuredKeySource(cfg) == keySourceRandom {
				return errNoConfiguredKey("token verify")
			}
			raw := ""
			if len(args) == 1 && args[0] != "-" {
				raw = strings.TrimSpace(args[0])
			} else {
				t, err := readInput(cmd.InOrStdin(), token.MaxTokenSize)
				if errors.As(err, new(*inputTooLargeError)) {
					return &refusedError{err: fmt.Errorf("%w: %w", token.ErrTokenTooLarge, err)}
				}
				if err != nil {
					return fmt.Errorf("reading the token from standard input: %w", err)
				}
				raw = t
			}
			logger, err := newCLILogger(cmd.ErrOrStderr(), cfg.Log)
			if err != nil {
				return err
			}
			_, _, ver, err := buildTokens(cfg, logger)
			if err != nil {
				return err
			}
			claims, err := ver.Verify(cmd.Context(), raw)
			if err != nil {
				return &refusedError{err: err}
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(newClaimsView(claims))
		},
	}
	registerOfflineFlags(cmd.Flags())
	return cmd
}

// registerOfflineFlags registers the configuration flags for the commands that
// only read the key configuration (token, keys jwks): the listener and upstream
// flags are accepted, so one command line works for serve and for them, but hidden.
func registerOfflineFlags(fs *pflag.FlagSet) {
	config.RegisterFlags(fs)
	for _, name := range []string{"addr", "upstream-url"} {
		if fs.Lookup(name) != nil {
			_ = fs.MarkHidden(name)
		}
	}
}

// refusedError reports a token the verifier refused by its fixed description and
// label (token.Reason), never with the token; it unwraps to the verifier's error.
type refusedError struct{ err error }

func (e *refusedError) Error() string {
	label, desc := token.Reason(e.err)
	return fmt.Sprintf("token refused: %s (%s)", desc, label)
}

func (e *refusedError) Unwrap() error { return e.err }

// claimsView is what token verify prints: the claims with times in RFC 3339 (UTC)
// and the API key only as its fingerprint.
type claimsView struct {
	KeyID             string       `json:"kid"`
	Issuer            string       `json:"iss"`
	Audience          string       `json:"aud"`
	Subject           string       `json:"sub"`
	ID                string       `json:"jti"`
	SessionID         string       `json:"sid"`
	IssuedAt          string       `json:"iat"`
	NotBefore         string       `json:"nbf"`
	ExpiresAt         string       `json:"exp"`
	SessionStart      string       `json:"session_start"`
	APIKeyFingerprint string       `json:"api_key_fingerprint"`
	Limits            token.Limits `json:"limits"`             // {} for none
	DPoPJKT           string       `json:"dpop_jkt,omitempty"` // cnf.jkt of a DPoP-bound token
}

func newClaimsView(c token.Claims) claimsView {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	return claimsView{
		KeyID:             c.KeyID,
		Issuer:            c.Issuer,
		Audience:          c.Audience,
		Subject:           c.Subject,
		ID:                c.ID,
		SessionID:         c.SessionID,
		IssuedAt:          ts(c.IssuedAt),
		NotBefore:         ts(c.NotBefore),
		ExpiresAt:         ts(c.ExpiresAt),
		SessionStart:      ts(c.SessionStart),
		APIKeyFingerprint: c.APIKeyFingerprint,
		Limits:            c.Limits,
		DPoPJKT:           c.JKT,
	}
}

// inputTooLargeError is returned by readInput for a value over its limit.
type inputTooLargeError struct{ limit int }

func (e *inputTooLargeError) Error() string {
	return fmt.Sprintf("input is over %d bytes", e.limit)
}

// readInput reads one value from r: at most limit bytes once surrounding white space
// (a trailing newline, CRLF) is trimmed. A longer value is refused without echoing it.
func readInput(r io.Reader, limit int) (string, error) {
	const slack = 64 // white space allowed around the value
	b, err := io.ReadAll(io.LimitReader(r, int64(limit)+slack+1))
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(b))
	if len(b) > limit+slack || len(s) > limit {
		return "", &inputTooLargeError{limit: limit}
	}
	if s == "" {
		return "", errors.New("input is empty")
	}
	return s, nil
}
