package server

import (
	"strings"
	"unicode"
)

// Path safety of the chat routes: what a path after /chat must look like before
// anything is forwarded. A path that cleaning would change is refused, never
// rewritten.

// validRest reports whether rest, the decoded path after /chat, is already
// clean: it starts with a slash and has no empty segments and no segment made of
// dots and white space only ("." and "..", but also "...", ".. " and "..\u00a0",
// which upstreams that trim segments turn into ".."; a ";parameter" does not hide
// one), no backslash, no percent sign and no control character. A path that cleaning would change is refused, never
// rewritten, so nothing reaches the upstream other than what the client named.
func validRest(rest string) bool {
	if rest == "" || rest[0] != '/' {
		return false
	}
	if strings.ContainsAny(rest, "\\%") || hasControl(rest) {
		return false
	}
	segs := rest[1:]
	for {
		seg, more, found := strings.Cut(segs, "/")
		if name, _, _ := strings.Cut(seg, ";"); isDotSegment(name) {
			return false
		}
		if !found {
			return true // the last segment may be empty: a trailing slash
		}
		if seg == "" {
			return false
		}
		segs = more
	}
}

// validEscapedPath reports whether the request's escaped path is free of
// percent-encoded dots, slashes, backslashes, percent signs and control
// characters, which upstreams and intermediaries decode in different ways.
func validEscapedPath(p string) bool {
	if strings.IndexByte(p, '\\') >= 0 {
		return false
	}
	for i := strings.IndexByte(p, '%'); i >= 0; i = strings.IndexByte(p, '%') {
		if i+2 >= len(p) {
			return false
		}
		hi, ok1 := unhex(p[i+1])
		lo, ok2 := unhex(p[i+2])
		if !ok1 || !ok2 {
			return false
		}
		switch b := hi<<4 | lo; {
		case b == '.', b == '/', b == '\\', b == '%', b < 0x20, b == 0x7f:
			return false
		}
		p = p[i+3:]
	}
	return true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			return true
		}
	}
	return false
}

// isDotSegment reports whether a path segment consists of dots and white space
// only, with at least one dot.
func isDotSegment(seg string) bool {
	dot := false
	for _, r := range seg {
		switch {
		case r == '.':
			dot = true
		case unicode.IsSpace(r):
		default:
			return false
		}
	}
	return dot
}
