package server

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// TestReadAll: whatever length a body declares, readAll returns exactly what
// io.ReadAll returns, in one read or many, and passes on a read error.
func TestReadAll(t *testing.T) {
	for _, body := range []string{"", "x", `{"api_key":"k"}`, strings.Repeat("y", 4096)} {
		for _, declared := range []int64{-1, 0, 1, int64(len(body)) - 1, int64(len(body)), int64(len(body)) + 1, 2 * int64(len(body)), maxPresized + 1} {
			for name, r := range map[string]func() io.Reader{
				"whole":    func() io.Reader { return strings.NewReader(body) },
				"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(body)) },
				"data+EOF": func() io.Reader { return iotest.DataErrReader(strings.NewReader(body)) },
			} {
				got, err := readAll(r(), declared)
				if err != nil || !bytes.Equal(got, []byte(body)) {
					t.Fatalf("%s, %d bytes declared %d: got %d bytes, %v", name, len(body), declared, len(got), err)
				}
			}
		}
	}
	boom := errors.New("boom")
	_, err := readAll(io.MultiReader(strings.NewReader("abc"), iotest.ErrReader(boom)), 10)
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
}
