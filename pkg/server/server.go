package server

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/jwtgate/jwtgate/pkg/token"
)

// Issuer is the part of *token.Issuer the server uses.
type Issuer interface {
	Issue(ctx context.Context, p token.Params) (*token.Issued, error)
	Refresh(ctx context.Context, c *token.Claims, ttl time.Duration) (*token.Issued, error)
	MaxTTL() time.Duration
}

// Verifier is the part of *token.Verifier the server uses.
type Verifier interface {
	Verify(ctx context.Context, raw string) (*token.Claims, error)
	KeySet() *token.KeySet
}

var (
	_ Issuer   = (*token.Issuer)(nil)
	_ Verifier = (*token.Verifier)(nil)
)

// Deps are the server's collaborators.
type Deps struct {
	Issuer   Issuer
	Verifier Verifier
	Logger   *slog.Logger
}

// Server is jwtgate's HTTP handler.
type Server struct {
	h http.Handler
}

// New returns the server for cfg and d. (Stub: being written.)
func New(cfg Config, d Deps) (*Server, error) {
	return &Server{h: http.NotFoundHandler()}, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

// SetReady sets what /readyz reports; the binary sets it false while shutting down.
func (s *Server) SetReady(ready bool) {}
