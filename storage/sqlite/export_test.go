package sqlite

import "time"

// QueuedWriters is how many Updates wait for the writer.
func QueuedWriters(s *Store) int {
	s.gc.mu.Lock()
	defer s.gc.mu.Unlock()
	return len(s.gc.queue)
}

// GroupCommits is how many shared COMMITs succeeded.
func GroupCommits(s *Store) int64 { return s.commits.Load() }

// FailCommits makes every group COMMIT fail with err until called with nil.
func FailCommits(s *Store, err error) {
	if err == nil {
		s.failCommit.Store(nil)
		return
	}
	s.failCommit.Store(&err)
}

// AdmitForever lifts the bound on the time a batch admits callers, so that
// tests can hold a batch open as long as they need.
func AdmitForever(s *Store) { s.batchAge = time.Hour }

// WriterCacheHits is how many point reads the writer cache served.
func WriterCacheHits(s *Store) int64 {
	if s.cache == nil {
		return 0
	}
	return s.cache.hits.Load()
}
