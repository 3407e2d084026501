package token

import "context"

type ctxKey struct{}

// NewContext returns a copy of ctx that carries c.
func NewContext(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, &c)
}

// FromContext returns a copy of the claims stored in ctx by [NewContext], if any:
// a handler that changes its copy changes nothing for anyone else.
func FromContext(ctx context.Context) (Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Claims)
	if !ok || c == nil {
		return Claims{}, false
	}
	return *c, true
}
