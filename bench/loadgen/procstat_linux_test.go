//go:build linux

package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"testing"
)

func TestParseProcStat(t *testing.T) {
	// A command name with spaces and a parenthesis, as a process may choose.
	line := []byte("4242 (a (b) c) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 75 0 0 20 0 7 0 1234 0 0\n")
	got, err := parseProcStat(line)
	if err != nil {
		t.Fatal(err)
	}
	if want := 3.25; got != want {
		t.Errorf("parseProcStat = %v s, want %v (325 ticks)", got, want)
	}
	for _, bad := range []string{"", "4242 (x) S 1 2", "4242 (x) S 1 2 3 4 5 6 7 8 x 9"} {
		if _, err := parseProcStat([]byte(bad)); err == nil {
			t.Errorf("parseProcStat(%q) succeeded, want an error", bad)
		}
	}
}

// TestGeneratePIDCPU checks that -pid reports one CPU figure per process, here
// the test process itself, which serves the requests.
func TestGeneratePIDCPU(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	pid := strconv.Itoa(os.Getpid())
	o, err := parseFlags([]string{"-url", srv.URL, "-c", "2", "-d", "300ms", "-warmup", "50ms", "-pid", pid, "-pid", pid})
	if err != nil {
		t.Fatal(err)
	}
	res, err := generate(t.Context(), o)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || len(res.PIDCPUPerReq) != 2 || len(res.PIDCores) != 2 {
		t.Fatalf("requests %d, pid_cpu_us_per_req %v, pid_cores %v: want two entries each", res.Requests, res.PIDCPUPerReq, res.PIDCores)
	}
	for i, v := range res.PIDCPUPerReq {
		if v < 0 || res.PIDCores[i] < 0 {
			t.Errorf("entry %d: %v us per request, %v cores: want no negative figure", i, v, res.PIDCores[i])
		}
	}
	if _, err := parseFlags([]string{"-url", srv.URL, "-pid", "0"}); err == nil {
		t.Error("-pid 0 accepted")
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tjwtgate\nVmPeak:\t  900 kB\nVmRSS:\t   12345 kB\nThreads:\t7\n"
	if got, err := parseVmRSS([]byte(status)); err != nil || got != 12345 {
		t.Errorf("parseVmRSS = %d, %v; want 12345", got, err)
	}
	if _, err := parseVmRSS([]byte("Name:\tx\n")); err == nil {
		t.Error("parseVmRSS without a VmRSS line succeeded")
	}
	if rss, err := procRSSKiB(os.Getpid()); err != nil || rss <= 0 {
		t.Errorf("procRSSKiB(self) = %d, %v", rss, err)
	}
}
