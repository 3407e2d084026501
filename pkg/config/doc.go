// Package config loads jwtgate's configuration from flags, the environment
// (JWTGATE_ + the key in upper case, "." replaced by "_"), a YAML file and defaults,
// in that order of precedence, and validates it into a typed [Config].
//
// Only the command line touches this package; everything below it receives plain,
// validated values.
package config
