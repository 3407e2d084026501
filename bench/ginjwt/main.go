// Command ginjwt is the comparison server of jwtgate's load runs: a gin app with
// the standard appleboy/gin-jwt v2 setup (LoginHandler and MiddlewareFunc), doing
// what jwtgate's session routes do, so both can be measured in the same run.
//
// Routes:
//
//	POST /login             gin-jwt's LoginHandler; any non-empty API key from the
//	                        X-API-Key header or the JSON body {"api_key": "..."}
//	GET  /sessions/current  behind MiddlewareFunc; a small JSON of the claims
//	GET  /healthz           unprotected
//
// gin runs in release mode without the logger middleware. The server listens
// on a loopback address only and prints "listening <addr>" on stderr.
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	jwt "github.com/appleboy/gin-jwt/v2"
	"github.com/gin-gonic/gin"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "ginjwt:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback only)")
	ttl := flag.Duration("ttl", 15*time.Minute, "token lifetime")
	flag.Parse()

	// GINJWT_SECRET sets the HMAC key; without it a random one is used.
	secret := []byte(os.Getenv("GINJWT_SECRET"))
	if len(secret) == 0 {
		secret = make([]byte, 32)
		if _, err := rand.Read(secret); err != nil {
			return fmt.Errorf("generating a secret: %w", err)
		}
	}

	handler, err := newHandler(secret, *ttl)
	if err != nil {
		return err
	}
	ln, err := listenLoopback(*addr)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "listening", ln.Addr().String())

	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 2 * time.Minute}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}

// listenLoopback listens on addr after checking that its host is a loopback IP.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("-addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, fmt.Errorf("-addr %q: only loopback addresses are allowed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening: %w", err)
	}
	return ln, nil
}

// login is what the authenticator reads from the request body.
type login struct {
	APIKey  string `json:"api_key"`
	Subject string `json:"subject"`
}

// user is the identity the authenticator hands to PayloadFunc.
type user struct {
	subject     string
	fingerprint string
}

const (
	claimSubject     = "sub"
	claimFingerprint = "fp"
)

// newHandler returns the gin engine with gin-jwt set up the way its README shows.
func newHandler(secret []byte, ttl time.Duration) (http.Handler, error) {
	gin.SetMode(gin.ReleaseMode)
	mw, err := jwt.New(&jwt.GinJWTMiddleware{
		Realm:       "ginjwt",
		Key:         secret,
		Timeout:     ttl,
		IdentityKey: claimSubject,
		Authenticator: func(c *gin.Context) (any, error) {
			var in login
			in.APIKey = c.GetHeader("X-API-Key")
			if in.APIKey == "" {
				if err := c.ShouldBindJSON(&in); err != nil {
					return nil, jwt.ErrMissingLoginValues
				}
			}
			if in.APIKey == "" {
				return nil, jwt.ErrMissingLoginValues
			}
			if in.Subject == "" {
				in.Subject = "anonymous"
			}
			return &user{subject: in.Subject, fingerprint: fingerprint(in.APIKey)}, nil
		},
		PayloadFunc: func(data any) jwt.MapClaims {
			u, ok := data.(*user)
			if !ok {
				return jwt.MapClaims{}
			}
			return jwt.MapClaims{claimSubject: u.subject, claimFingerprint: u.fingerprint}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("setting up gin-jwt: %w", err)
	}

	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/healthz", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
	})
	r.POST("/login", mw.LoginHandler)
	auth := r.Group("/sessions", mw.MiddlewareFunc())
	auth.GET("/current", func(c *gin.Context) {
		claims := jwt.ExtractClaims(c)
		c.JSON(http.StatusOK, gin.H{
			"subject":             claims[claimSubject],
			"expires_at":          claims["exp"],
			"issued_at":           claims["orig_iat"],
			"api_key_fingerprint": claims[claimFingerprint],
		})
	})
	return r, nil
}

// fingerprint is a short SHA-256 prefix of key, so no claim carries the key.
func fingerprint(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}
