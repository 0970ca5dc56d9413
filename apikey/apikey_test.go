package apikey_test

import (
	"testing"

	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/storage/storagetest"
)

// The apikey conformance suite (roles, replays, expiry, revocation,
// bootstrap, last use) on the memory store; the SQLite and PostgreSQL
// packages run it on theirs.
func TestSuiteOnMemory(t *testing.T) {
	storagetest.RunSuite(t, "apikey", func(testing.TB) storage.Store { return memory.New() }, storagetest.Features{})
}
