package crossorigin

import "errors"

// Reasons an entry is refused. Errors from [ParseOrigin] and [ParseHeader] wrap
// one of them and quote the entry; they never hold anything but the entry.
var (
	ErrInvalidOrigin = errors.New("invalid CORS origin")
	ErrInvalidHeader = errors.New("invalid CORS header name")
)
