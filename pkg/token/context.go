package token

import "context"

type ctxKey struct{}

// NewContext returns a copy of ctx that carries c.
func NewContext(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, &c)
}

// FromContext returns a copy of the claims stored in ctx by [NewContext] or
// [SetClaims], if any: a handler that changes its copy changes nothing for
// anyone else.
func FromContext(ctx context.Context) (Claims, bool) {
	for ctx != nil {
		switch v := ctx.Value(ctxKey{}).(type) {
		case *Claims:
			if v == nil {
				return Claims{}, false
			}
			return *v, true
		case *Slot:
			if v.claims != nil {
				return *v.claims, true
			}
			ctx = v.Context // an empty slot: whatever its parent carries
		default:
			return Claims{}, false
		}
	}
	return Claims{}, false
}

// Slot is a context with room for the claims of a token that is verified
// later in the request's handling. A middleware that runs before
// authentication and derives the request's context anyway (jwtgate's access
// log does, for its per-request record) derives it from a Slot; the
// authentication middleware then stores the claims in it with [SetClaims]
// instead of deriving a context of its own with [NewContext], which saves a
// copy of the request per request. [FromContext] reports the claims of a
// filled Slot, and whatever the parent carries while it is empty.
//
// The embedded Context is the parent and must be set before use:
// &token.Slot{Context: parent}, or a Slot embedded in a larger per-request
// value, so that one allocation holds both (the embedding type may answer
// keys of its own in a Value method that passes the others to the Slot's).
// A Slot belongs to one request: it is filled by the goroutine serving it,
// before anything else can read it, and filled once.
type Slot struct {
	context.Context
	// claims is nil until SetClaims: the claims take a separate allocation,
	// so that a request that carries no token (a health check) does not
	// allocate room for them.
	claims *Claims
}

// Value returns the value for key: the slot itself for this package's claims
// key, else what the parent has.
func (s *Slot) Value(key any) any {
	if _, ok := key.(ctxKey); ok {
		return s
	}
	return s.Context.Value(key)
}

// SetClaims stores a copy of c in the empty [Slot] that ctx carries, when the
// nearest holder of claims in ctx is one, and reports whether it did. When it
// reports false nothing has changed, and the caller derives a context with
// [NewContext] instead (a Slot is filled once: a second verification in the
// same request, by a second middleware, gets a context of its own).
func SetClaims(ctx context.Context, c Claims) bool {
	s, ok := ctx.Value(ctxKey{}).(*Slot)
	if !ok || s.claims != nil {
		return false
	}
	s.claims = &c
	return true
}
