package usage_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"

	"github.com/jwtgate/jwtgate/pkg/usage"
)

// mustRead returns the contents of testdata/name.
func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pieces is a body that returns its parts one Read each, as a network
// connection hands over what has arrived.
type pieces struct {
	parts [][]byte
	err   error // returned after the parts; io.EOF when nil
}

func (p *pieces) Read(b []byte) (int, error) {
	for len(p.parts) > 0 && len(p.parts[0]) == 0 {
		p.parts = p.parts[1:]
	}
	if len(p.parts) == 0 {
		if p.err != nil {
			return 0, p.err
		}
		return 0, io.EOF
	}
	n := copy(b, p.parts[0])
	p.parts[0] = p.parts[0][n:]
	return n, nil
}

func (p *pieces) Close() error { return nil }

// splitAt returns a body that delivers data in two reads, cut at k.
func splitAt(data []byte, k int) *pieces {
	return &pieces{parts: [][]byte{data[:k:k], data[k:]}}
}

// readThrough reads body through a Reader and returns what came out and the result.
func readThrough(t testing.TB, body io.ReadCloser, s usage.Surface, f usage.Format, opts ...usage.ReaderOption) ([]byte, usage.Result) {
	t.Helper()
	r := usage.NewReader(body, s, f, opts...)
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("reading through the usage reader: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return out, r.Result()
}

// readings are the ways a test delivers a body: whole, a byte per read (with
// the caller reading a byte at a time too), and cut in two at every position
// (every line end of a CRLF stream).
func readings(t *testing.T, data []byte, s usage.Surface, f usage.Format, opts []usage.ReaderOption,
	check func(t *testing.T, how string, out []byte, res usage.Result)) {
	t.Helper()
	out, res := readThrough(t, io.NopCloser(bytes.NewReader(data)), s, f, opts...)
	check(t, "whole", out, res)

	r := usage.NewReader(io.NopCloser(iotest.OneByteReader(bytes.NewReader(data))), s, f, opts...)
	out, err := io.ReadAll(iotest.OneByteReader(r))
	if err != nil {
		t.Fatal(err)
	}
	check(t, "one byte per read", out, r.Result())

	// A CRLF stream is cut at every line end only: its other cuts are those of
	// the LF stream, which the tests read too.
	crlfOnly := bytes.Contains(data, []byte("\r\n"))
	for k := 1; k < len(data); k++ {
		if crlfOnly && data[k-1] != '\r' && data[k] != '\r' {
			continue
		}
		out, res := readThrough(t, splitAt(data, k), s, f, opts...)
		check(t, "split at "+itoa(k), out, res)
		if t.Failed() {
			return
		}
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// crlf returns data with every LF turned into CRLF.
func crlf(data []byte) []byte { return bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n")) }
