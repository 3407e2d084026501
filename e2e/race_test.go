//go:build race

package e2e

// raceEnabled builds the binary under test with -race when the tests run with it,
// so a data race in the server fails the end-to-end tests too.
const raceEnabled = true
