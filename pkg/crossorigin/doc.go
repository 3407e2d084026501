// Package crossorigin holds jwtgate's rules for cross-origin (CORS) access: which
// browser origins an entry of cors.allowed_origins allows, and which request
// header names an entry of cors.allowed_headers allows.
//
// Configuration validation and the server's CORS middleware both parse entries
// here, so what start-up accepts is exactly what requests are matched against.
// Parsing happens once; [Origins.Allow] and [Headers.Allow] only compare.
package crossorigin
