// Package storagetest is the conformance suite of licensekit's storage seam. Every
// storage.Store implementation must pass it unchanged: the in-memory store, SQLite,
// PostgreSQL, and any store (or wrapper) a team writes itself.
//
// A store's test file is a few lines:
//
//	func TestConformance(t *testing.T) {
//		storagetest.Run(t, func(t testing.TB) storage.Store { return memory.New() })
//	}
//
// Run executes record-level tests of the seam (Get, Put, Insert, List, Unique,
// events, rollback) and the behaviour and rapid property suites that each domain
// package registers (pools, billing, top-up, ...), each on a fresh store from the
// factory; many of them also wrap that store in [Faulty], the fault-injecting
// wrapper, to prove that a failed operation leaves nothing behind. Failure messages name the suite, the
// step and the invariant that broke.
package storagetest

import (
	"sort"
	"sync"
	"testing"

	"github.com/licensekit/licensekit/storage"
)

// Factory returns a fresh, empty store for one test. It should register its own
// cleanup with t.Cleanup (closing the store, dropping a database).
type Factory func(t testing.TB) storage.Store

// Features says what a store can do, so one suite serves stores of different power.
type Features struct {
	// Parallel: the store lets transactions on different records run at once
	// (PostgreSQL). Tests that need real parallelism skip the parts that assume it
	// otherwise; invariants are checked either way.
	Parallel bool
	// Short runs fewer rapid checks (for slow, durable stores in -short mode).
	Short bool
}

// Test is one conformance test.
type Test struct {
	Name string
	Run  func(t *testing.T, newStore Factory, f Features)
}

var (
	regMu  sync.Mutex
	suites = map[string][]Test{}
)

// Register adds the tests of one suite (for example "pool") to the conformance
// suite. Domain suites call it from init; it panics on a duplicate suite name.
func Register(suite string, tests ...Test) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := suites[suite]; dup {
		panic("storagetest: suite " + suite + " registered twice")
	}
	suites[suite] = tests
}

// Suites returns the registered suite names in order.
func Suites() []string {
	regMu.Lock()
	defer regMu.Unlock()
	names := make([]string, 0, len(suites))
	for n := range suites {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Run runs every registered suite against stores from newStore.
func Run(t *testing.T, newStore Factory) { RunWith(t, newStore, Features{}) }

// RunWith is Run with the store's Features.
func RunWith(t *testing.T, newStore Factory, f Features) {
	for _, name := range Suites() {
		RunSuite(t, name, newStore, f)
	}
}

// RunSuite runs one registered suite (see Suites) as a subtest.
func RunSuite(t *testing.T, suite string, newStore Factory, f Features) {
	regMu.Lock()
	tests := suites[suite]
	regMu.Unlock()
	if tests == nil {
		t.Fatalf("storagetest: no suite named %q (have %v)", suite, Suites())
	}
	t.Run(suite, func(t *testing.T) {
		for _, tc := range tests {
			t.Run(tc.Name, func(t *testing.T) { tc.Run(t, newStore, f) })
		}
	})
}
