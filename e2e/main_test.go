// Package e2e tests the jwtgate binary from the outside: it builds it once, starts
// it on free loopback ports and talks HTTP to it, as a user following the README would.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binary is the path of the jwtgate binary under test. TestMain sets it once,
// before any test runs; nothing changes it afterwards.
var binary string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	dir, err := os.MkdirTemp("", "jwtgate-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := buildBinary(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	binary = bin
	return m.Run()
}

// buildBinary builds ./cmd/jwtgate from the module root into dir.
func buildBinary(dir string) (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("finding the go command: %w", err)
	}
	bin := filepath.Join(dir, "jwtgate")
	args := []string{"build", "-o", bin, "-ldflags", "-X main.version=e2e"}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/jwtgate")
	cmd := exec.Command(goTool, args...)
	cmd.Dir = ".." // the module root: go test runs in the package directory
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go %v: %w\n%s", args, err, out)
	}
	return bin, nil
}
