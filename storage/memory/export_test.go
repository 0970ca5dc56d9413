package memory

import "github.com/licensekit/licensekit/eventlog"

// RewriteEvents stores each event's Count, PrevHash and Hash over those of
// the stored event with the same Company and Seq, behind the store's back.
func RewriteEvents(s *Store, evs []eventlog.Event) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range evs {
		for _, i := range s.byCompany[e.Company] {
			if s.event(i).Seq == e.Seq {
				ev := s.event(i)
				ev.Count, ev.PrevHash, ev.Hash = e.Count, e.PrevHash, e.Hash
				n++
			}
		}
	}
	return n
}

// DeleteEvents removes company's events with these Seqs, behind the store's back.
func DeleteEvents(s *Store, company string, seqs ...int64) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	gone := map[int64]bool{}
	for _, q := range seqs {
		gone[q] = true
	}
	var keep []int
	for _, i := range s.byCompany[company] {
		if !gone[s.event(i).Seq] {
			keep = append(keep, i)
		}
	}
	n := len(s.byCompany[company]) - len(keep)
	s.byCompany[company] = keep
	return n
}
