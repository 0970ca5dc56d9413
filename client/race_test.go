//go:build race

package client_test

// raceEnabled says the tests run with -race, so the server binary they build
// is built with it too (and reuses the race-built packages of the cache).
const raceEnabled = true
