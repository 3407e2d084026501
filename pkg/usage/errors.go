package usage

import "errors"

// ErrNotJSONObject is returned by [IncludeStreamUsage] for a body that is not
// one JSON object (with unique member names, in UTF-8). Its text never quotes
// the body.
var ErrNotJSONObject = errors.New("request body is not a JSON object")
