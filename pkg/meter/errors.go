package meter

import "errors"

// ErrInvalidRedisURL is wrapped by the errors of [ParseRedisURL] and [New]
// for a Redis URL that cannot be used. No error quotes the URL.
var ErrInvalidRedisURL = errors.New("invalid redis URL")
