package h1

import (
	"context"
	"errors"
)

// Errors of [Transport.RoundTrip] and of the response bodies it returns. Every
// error that refuses a request wraps one of the first four.
var (
	ErrInvalidHeader      = errors.New("h1: invalid header")
	ErrInvalidTrailer     = errors.New("h1: invalid trailer")
	ErrInvalidMethod      = errors.New("h1: invalid method")
	ErrMissingHost        = errors.New("h1: no Host in request URL")
	ErrHeadersTooLarge    = errors.New("h1: server response headers too large")
	ErrBodyReadAfterClose = errors.New("h1: read on closed response body")
	// ErrResponseHeaderTimeout is returned when the response headers did not
	// arrive within Config.ResponseHeaderTimeout of the request being
	// written. It reports Timeout() and matches context.DeadlineExceeded
	// with errors.Is, as net/http's error for the same case does.
	ErrResponseHeaderTimeout error = &timeoutError{"h1: timeout awaiting response headers"}
)

// timeoutError is a timeout that errors.Is matches to context.DeadlineExceeded.
type timeoutError struct{ msg string }

func (e *timeoutError) Error() string { return e.msg }

// Timeout reports true: the error is a timeout.
func (e *timeoutError) Timeout() bool { return true }

// Temporary reports true, as net/http's timeout error does.
func (e *timeoutError) Temporary() bool { return true }

// Is matches context.DeadlineExceeded.
func (e *timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// nothingWrittenError marks a failure on a connection before any byte of the
// request reached it: the request can be sent again on another connection if
// its body can be.
type nothingWrittenError struct{ err error }

func (e nothingWrittenError) Error() string { return e.err.Error() }
func (e nothingWrittenError) Unwrap() error { return e.err }

// readFromServerError marks a failure to read the first byte of the response:
// on a reused connection that is usually the server closing it as idle just as
// the request went out.
type readFromServerError struct{ err error }

func (e readFromServerError) Error() string { return e.err.Error() }
func (e readFromServerError) Unwrap() error { return e.err }
