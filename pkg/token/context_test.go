package token_test

import (
	"context"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/token"
)

type otherKey struct{}

func TestSlot(t *testing.T) {
	outer := token.Claims{ID: "outer", Subject: "a"}
	inner := token.Claims{ID: "inner", Subject: "b"}

	t.Run("empty slot reports the parent's claims", func(t *testing.T) {
		s := &token.Slot{Context: context.Background()}
		if _, ok := token.FromContext(s); ok {
			t.Fatal("FromContext of an empty slot over no claims reported claims")
		}
		s = &token.Slot{Context: token.NewContext(context.Background(), outer)}
		if got, ok := token.FromContext(s); !ok || got.ID != "outer" {
			t.Fatalf("FromContext = %v, %v; want the parent's claims", got, ok)
		}
	})
	t.Run("SetClaims fills the slot once", func(t *testing.T) {
		s := &token.Slot{Context: token.NewContext(context.Background(), outer)}
		ctx := context.WithValue(s, otherKey{}, 1) // derived before the claims are known
		if !token.SetClaims(ctx, inner) {
			t.Fatal("SetClaims on an empty slot reported false")
		}
		for _, c := range []context.Context{s, ctx} {
			if got, ok := token.FromContext(c); !ok || got.ID != "inner" {
				t.Fatalf("FromContext = %v, %v; want the slot's claims", got, ok)
			}
		}
		if token.SetClaims(ctx, outer) {
			t.Fatal("SetClaims on a filled slot reported true")
		}
		if got, _ := token.FromContext(ctx); got.ID != "inner" {
			t.Fatalf("a second SetClaims changed the slot: %v", got)
		}
		if ctx.Value(otherKey{}) != 1 {
			t.Fatal("the slot hid its descendants' values")
		}
	})
	t.Run("nearer claims win", func(t *testing.T) {
		s := &token.Slot{Context: context.Background()}
		ctx := token.NewContext(s, outer)
		if token.SetClaims(ctx, inner) {
			t.Fatal("SetClaims filled a slot hidden behind nearer claims")
		}
		if _, ok := token.FromContext(s); ok {
			t.Fatal("the hidden slot was filled")
		}
		if !token.SetClaims(s, inner) {
			t.Fatal("SetClaims on the slot itself reported false")
		}
		if got, _ := token.FromContext(ctx); got.ID != "outer" {
			t.Fatalf("FromContext = %v; want the nearer claims", got)
		}
	})
	t.Run("no slot", func(t *testing.T) {
		if token.SetClaims(context.Background(), inner) {
			t.Fatal("SetClaims without a slot reported true")
		}
	})
	t.Run("copies", func(t *testing.T) {
		s := &token.Slot{Context: context.Background()}
		c := inner
		token.SetClaims(s, c)
		c.Subject = "changed by the caller"
		got, _ := token.FromContext(s)
		got.Subject = "changed by a reader"
		if again, _ := token.FromContext(s); again.Subject != "b" {
			t.Fatalf("the slot's claims changed: %q", again.Subject)
		}
	})
	t.Run("deadline and cancellation are the parent's", func(t *testing.T) {
		parent, cancel := context.WithCancel(context.Background())
		s := &token.Slot{Context: parent}
		child, stop := context.WithCancel(s)
		defer stop()
		cancel()
		<-child.Done()
		if s.Err() != context.Canceled {
			t.Fatalf("Err = %v", s.Err())
		}
	})
}
