package crossorigin_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/jwtgate/jwtgate/pkg/crossorigin"
)

func TestParseHeader(t *testing.T) {
	for _, tt := range []struct {
		entry      string
		wantString string
		wantPrefix bool
		wantErr    string // part of the reason; "" means valid
	}{
		{entry: "X-Trace", wantString: "x-trace"},
		{entry: "x-myco-*", wantString: "x-myco-*", wantPrefix: true},
		{entry: "Anthropic-Beta", wantString: "anthropic-beta"},
		{entry: "", wantErr: "empty"},
		{entry: "*", wantErr: "every request header"},
		{entry: "x-*-id", wantErr: "may only end a prefix"},
		{entry: "x-**", wantErr: "may only end a prefix"},
		{entry: "X Trace", wantErr: "not a valid header name"},
		{entry: "x-trace:", wantErr: "not a valid header name"},
		{entry: "x-trace\n", wantErr: "not a valid header name"},
	} {
		t.Run(tt.entry, func(t *testing.T) {
			p, err := crossorigin.ParseHeader(tt.entry)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseHeader(%q) = %v, want success", tt.entry, err)
				}
				if p.String() != tt.wantString || p.IsPrefix() != tt.wantPrefix {
					t.Errorf("ParseHeader(%q) = %q (prefix %v), want %q (prefix %v)",
						tt.entry, p, p.IsPrefix(), tt.wantString, tt.wantPrefix)
				}
				return
			}
			if !errors.Is(err, crossorigin.ErrInvalidHeader) {
				t.Fatalf("ParseHeader(%q) = %v, want ErrInvalidHeader", tt.entry, err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), strconv.Quote(tt.entry)) {
				t.Errorf("error %q does not quote the entry and say %q", err, tt.wantErr)
			}
		})
	}
}

func TestHeadersAllow(t *testing.T) {
	var ps []crossorigin.HeaderPattern
	for _, e := range []string{"Authorization", "x-stainless-*", "OpenAI-*", "anthropic-version"} {
		p, err := crossorigin.ParseHeader(e)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	h := crossorigin.NewHeaders(ps...)
	for _, tt := range []struct {
		name string
		want bool
	}{
		{"authorization", true},
		{"AUTHORIZATION", true},
		{"x-stainless-os", true},
		{"X-Stainless-Retry-Count", true},
		{"x-stainless-some-future-name", true},
		{"openai-organization", true},
		{"OpenAI-Beta", true},
		{"anthropic-version", true},
		{"anthropic-beta", false},
		{"x-stainless", false},
		{"authorization-extra", false},
		{"cookie", false},
		{"", false},
		{"x-stainless-\"quoted\"", false},
	} {
		if got := h.Allow(tt.name); got != tt.want {
			t.Errorf("Allow(%q) = %v, want %v", tt.name, got, tt.want)
		}
	}
	var none *crossorigin.Headers
	if none.Allow("authorization") {
		t.Error("a nil Headers allows authorization")
	}
}
