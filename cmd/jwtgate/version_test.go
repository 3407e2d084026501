package main

import (
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "command", args: []string{"version"}, want: "jwtgate dev go"},
		{name: "flag", args: []string{"--version"}, want: "jwtgate dev\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustRun(t, "", tt.args...)
			if !strings.HasPrefix(r.stdout, tt.want) {
				t.Errorf("stdout = %q, want prefix %q", r.stdout, tt.want)
			}
			if r.stderr != "" {
				t.Errorf("stderr = %q, want empty", r.stderr)
			}
		})
	}
}

func TestUnknownCommandFails(t *testing.T) {
	r := run(t, "", "no-such-command")
	if r.err == nil {
		t.Fatal("unknown command: want an error")
	}
	if n := strings.Count(r.stderr, "Error:"); n != 1 {
		t.Errorf("stderr has %d error lines, want 1:\n%s", n, r.stderr)
	}
	if strings.Contains(r.stderr, "Usage:") {
		t.Errorf("stderr has usage text, want only the error:\n%s", r.stderr)
	}
}
