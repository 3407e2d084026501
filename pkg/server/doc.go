// Package server wires jwtgate's HTTP API: the /sessions handlers, the chat routes
// (built-in echo backend or reverse proxy), health, metrics and JWKS.
//
// It receives typed, validated values and never reads flags, files or the environment.
package server
