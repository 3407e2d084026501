package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestDescribeUpstreamErrorCarriesNoSecret feeds errors whose text holds the key
// (in a URL, in a wrapped message) and checks the description keeps only the kind.
func TestDescribeUpstreamErrorCarriesNoSecret(t *testing.T) {
	const key = "k" // a short key: scrubbing by substring would mangle ordinary words
	urlErr := &url.Error{Op: "Post", URL: "http://127.0.0.1:1/v1?key=" + key, Err: &net.OpError{
		Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"refused", urlErr, "dial tcp: connection refused"},
		{"broken pipe", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.EPIPE)}, "write tcp: broken pipe"},
		{"dns", &net.DNSError{Err: "no such host", Name: "backend-" + key}, "name resolution failed"},
		{"deadline", fmt.Errorf("waiting for %s: %w", key, context.DeadlineExceeded), "deadline exceeded"},
		{"canceled", fmt.Errorf("%s: %w", key, context.Canceled), "canceled"},
		{"too large", &http.MaxBytesError{Limit: 10}, "request body too large"},
		{"other", errors.New("the key is " + key), "upstream call failed (*errors.errorString)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := describeUpstreamError(tt.err)
			if got != tt.want {
				t.Errorf("describeUpstreamError = %q, want %q", got, tt.want)
			}
			if strings.Contains(got, "key=") || strings.Contains(got, "backend-") || strings.Contains(got, "[api key]") {
				t.Errorf("description carries caller data: %q", got)
			}
		})
	}
}
