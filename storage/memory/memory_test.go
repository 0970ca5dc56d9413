package memory_test

import (
	"testing"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t testing.TB) storage.Store {
		s := memory.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// TestCheckpointTampering rewrites the log behind the store's back; signed
// checkpoints must expose what the plain chain cannot.
func TestCheckpointTampering(t *testing.T) {
	s := memory.New()
	defer s.Close()
	storagetest.CheckpointTampering(t, s, storagetest.Tamper{
		Rewrite: func(t *testing.T, evs []eventlog.Event) {
			if n := memory.RewriteEvents(s, evs); n != len(evs) {
				t.Fatalf("rewrote %d of %d events", n, len(evs))
			}
		},
		Delete: func(t *testing.T, company string, seqs ...int64) {
			if n := memory.DeleteEvents(s, company, seqs...); n != len(seqs) {
				t.Fatalf("deleted %d of %d events", n, len(seqs))
			}
		},
	})
}
