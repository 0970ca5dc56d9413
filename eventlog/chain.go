package eventlog

import (
	"context"
	"fmt"
	"time"

	"github.com/licensekit/licensekit/internal/eventcore"
)

// The event log is tamper-evident: the store sets each event's PrevHash to the
// Hash of the previous event of the same company in chain order ("" for the
// first) and its Hash to hashEvent(PrevHash, event). The memory and SQLite
// stores link an event in the transaction that appends it; PostgreSQL links
// committed events at the end of a later transaction of the same company, so
// that a company's writers do not queue on one chain head (storage.Sealer). Editing, deleting, inserting or reordering a stored event breaks
// the chain at that point, and Verify reports the first broken link. Rewriting
// an event and recomputing every later hash is caught only by signed
// checkpoints (see Checkpoint and VerifyCheckpoints).

// hashEvent returns the hex SHA-256 chain hash of e after prev. It covers every
// field of the event except Seq, Chain, PrevHash and Hash (prev is hashed
// instead), each length-prefixed so that no two different events encode alike.
// The stores link events with the same rule.
func hashEvent(prev string, e Event) string { return eventcore.Hash(prev, e.fields()) }

// ChainReader is what Verify needs: a storage.Tx satisfies it.
type ChainReader interface {
	Events(ctx context.Context, f Filter, fn func(Event) error) error
}

// Verification is the outcome of Verify.
type Verification struct {
	Company string `json:"company"`
	Checked int64  `json:"checked"` // events checked
	Intact  bool   `json:"intact"`
	// BrokenSeq and BrokenID name the first event whose link fails, with Reason.
	BrokenSeq int64     `json:"broken_seq,omitempty"`
	BrokenID  string    `json:"broken_id,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	LastHash  string    `json:"last_hash,omitempty"` // head of the chain when intact
	CheckedAt time.Time `json:"checked_at"`
	// Checkpoints is the check of the signed checkpoints (VerifyCheckpoints
	// only; nil from Verify).
	Checkpoints *CheckpointCheck `json:"checkpoints,omitempty"`
}

// linkProblem says why e does not link after an event whose Hash is prev, or
// "" when it does.
func linkProblem(prev string, e Event) string {
	switch {
	case e.PrevHash != prev:
		return "its link to the previous event does not match (an event before it was changed, removed or inserted)"
	case e.Hash != hashEvent(e.PrevHash, e):
		return "its content does not match its hash (the event was changed)"
	}
	return ""
}

// Verify walks company's events in chain order and checks every link: each
// event's PrevHash must equal the previous event's Hash, and its Hash must equal
// hashEvent(PrevHash, event). It reads with flat memory and stops at the first
// broken link.
func Verify(ctx context.Context, r ChainReader, company string, now time.Time) (Verification, error) {
	v := Verification{Company: company, Intact: true, CheckedAt: now.UTC()}
	prev := ""
	stop := fmt.Errorf("stop")
	err := r.Events(ctx, Filter{Company: company, Sort: ColChain}, func(e Event) error {
		v.Checked++
		if reason := linkProblem(prev, e); reason != "" {
			v.Intact, v.Reason, v.BrokenSeq, v.BrokenID = false, reason, e.Seq, e.ID
			return stop
		}
		prev = e.Hash
		return nil
	})
	if err != nil && err != stop {
		return v, err
	}
	if v.Intact {
		v.LastHash = prev
	}
	return v, nil
}
