package storagetest

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

func init() {
	Register("checkpoint",
		Test{Name: "UntouchedLogVerifies", Run: testCheckpointUntouched},
		Test{Name: "ForgedCheckpointIsReported", Run: testCheckpointForged},
		Test{Name: "DeletedCheckpointIsReported", Run: testCheckpointDeleted},
	)
}

// checkpointKey is a fixed Ed25519 key, so failures reproduce.
func checkpointKey(seed byte) ed25519.PrivateKey {
	s := make([]byte, ed25519.SeedSize)
	for i := range s {
		s[i] = seed + byte(i)
	}
	return ed25519.NewKeyFromSeed(s)
}

var checkpointAt = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func checkpoint(t *testing.T, s storage.Store, company string, key ed25519.PrivateKey) eventlog.Checkpoint {
	t.Helper()
	cp, _, err := storage.Checkpoint(context.Background(), s, company, key, checkpointAt)
	if err != nil {
		t.Fatalf("checkpoint %s: %v", company, err)
	}
	return cp
}

func verifyCheckpoints(t *testing.T, s storage.Store, company string, key ed25519.PrivateKey) eventlog.Verification {
	t.Helper()
	v, err := storage.VerifyCheckpoints(context.Background(), s, company, []ed25519.PublicKey{key.Public().(ed25519.PublicKey)}, time.Now())
	if err != nil {
		t.Fatalf("verify checkpoints of %s: %v", company, err)
	}
	if v.Checkpoints == nil {
		t.Fatalf("verification without a checkpoint part: %+v", v)
	}
	return v
}

// chainEvents lists company's events in chain order.
func chainEvents(t *testing.T, s storage.Store, company string) []eventlog.Event {
	t.Helper()
	var evs []eventlog.Event
	err := s.View(context.Background(), func(tx storage.Tx) error {
		return tx.Events(context.Background(), eventlog.Filter{Company: company, Sort: eventlog.ColChain}, func(e eventlog.Event) error {
			evs = append(evs, e)
			return nil
		})
	})
	if err != nil {
		t.Fatalf("list events: %v", err)
	}
	return evs
}

// signedLog appends events to a new company with checkpoints after the
// events at chain positions marks (ascending), and then tail unsigned events.
func signedLog(t *testing.T, s storage.Store, key ed25519.PrivateKey, marks []int64, tail int64) string {
	t.Helper()
	c := license.NewID()
	n := int64(0)
	for _, m := range marks {
		appendN(t, s, c, n, m-n)
		n = m
		if cp := checkpoint(t, s, c, key); cp.Chain != m {
			t.Fatalf("checkpoint after %d events signed position %d", m, cp.Chain)
		}
	}
	appendN(t, s, c, n, tail)
	return c
}

func testCheckpointUntouched(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	key := checkpointKey(1)
	ctx := context.Background()

	// An empty log has nothing to sign.
	empty := license.NewID()
	cp, fresh, err := storage.Checkpoint(ctx, s, empty, key, checkpointAt)
	if err != nil || fresh || cp.Chain != 0 {
		t.Fatalf("checkpoint of an empty log: %+v fresh %v err %v; want nothing signed", cp, fresh, err)
	}
	if v := verifyCheckpoints(t, s, empty, key); !v.Intact || v.Checked != 0 || v.Checkpoints.Checked != 0 {
		t.Fatalf("empty log: %+v", v)
	}

	c := signedLog(t, s, key, []int64{2, 4, 6}, 1)
	other := signedLog(t, s, key, []int64{3}, 0)
	v := verifyCheckpoints(t, s, c, key)
	cc := v.Checkpoints
	if !v.Intact || v.Checked != 7 || !cc.Intact || cc.Checked != 3 || cc.VerifiedChain != 6 || cc.Unsigned != 1 || cc.VerifiedAt == nil {
		t.Fatalf("untouched log with checkpoints at 2, 4, 6 and one event after: %+v %+v", v, cc)
	}
	if v.LastHash != chainEvents(t, s, c)[6].Hash {
		t.Fatalf("LastHash %q is not the head", v.LastHash)
	}
	if v := verifyCheckpoints(t, s, other, key); !v.Intact || v.Checkpoints.Checked != 1 {
		t.Fatalf("the other company's log: %+v %+v", v, v.Checkpoints)
	}

	// The same head again: the stored checkpoint, nothing new.
	appendN(t, s, c, 7, 1)
	first, fresh, err := storage.Checkpoint(ctx, s, c, key, checkpointAt)
	if err != nil || !fresh || first.Chain != 8 || first.Prev != 6 {
		t.Fatalf("checkpoint of a moved head: %+v fresh %v err %v", first, fresh, err)
	}
	again, fresh, err := storage.Checkpoint(ctx, s, c, key, checkpointAt.Add(time.Hour))
	if err != nil || fresh || again.Chain != 8 || !again.Time.Equal(first.Time) {
		t.Fatalf("checkpoint of an unchanged head: %+v fresh %v err %v; want the stored one", again, fresh, err)
	}
	if v := verifyCheckpoints(t, s, c, key); !v.Intact || v.Checkpoints.Checked != 4 || v.Checkpoints.Unsigned != 0 {
		t.Fatalf("after the fourth checkpoint: %+v %+v", v, v.Checkpoints)
	}

	// A signer that is not Ed25519 is refused.
	if _, _, err := storage.Checkpoint(ctx, s, c, nil, checkpointAt); !errors.Is(err, license.ErrInvalid) {
		t.Fatalf("checkpoint without a signer: %v; want invalid", err)
	}
}

// checkpointRecords lists company's checkpoint records with what they hold.
func checkpointRecords(t *testing.T, tx storage.Tx, company string) ([]storage.Record, []eventlog.Checkpoint) {
	t.Helper()
	rs, err := tx.List(context.Background(), storage.ListQuery{Company: company, Kind: storage.KindCheckpoint})
	if err != nil {
		t.Fatalf("list checkpoints: %v", err)
	}
	cps := make([]eventlog.Checkpoint, len(rs))
	for i, r := range rs {
		if err := json.Unmarshal(r.Data, &cps[i]); err != nil {
			t.Fatalf("checkpoint record %s: %v", r.ID, err)
		}
	}
	return rs, cps
}

// changeCheckpoint rewrites the stored checkpoint at chain position pos
// through the seam, as someone who can write to the database could.
func changeCheckpoint(t *testing.T, s storage.Store, company string, pos int64, change func(*storage.Record, *eventlog.Checkpoint)) {
	t.Helper()
	err := s.Update(context.Background(), func(tx storage.Tx) error {
		rs, cps := checkpointRecords(t, tx, company)
		for i := range rs {
			if cps[i].Chain == pos {
				change(&rs[i], &cps[i])
				if rs[i].Data == nil {
					return tx.Delete(context.Background(), company, storage.KindCheckpoint, rs[i].ID)
				}
				if string(rs[i].Data) == "keep" {
					rs[i].Data = nil
					return storage.Save(context.Background(), tx, rs[i], cps[i])
				}
				return tx.Put(context.Background(), rs[i])
			}
		}
		return errors.New("no such checkpoint")
	})
	if err != nil {
		t.Fatalf("change checkpoint %d: %v", pos, err)
	}
}

// keepData marks a record to be saved with the changed checkpoint.
var keepData = []byte("keep")

func testCheckpointForged(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	key, mallory := checkpointKey(1), checkpointKey(100)
	cases := []struct {
		name   string
		change func(*storage.Record, *eventlog.Checkpoint)
		reason string
	}{
		{"signature altered", func(r *storage.Record, cp *eventlog.Checkpoint) {
			cp.Signature[0] ^= 1
			r.Data = keepData
		}, "signature"},
		{"hash changed to fit a rewritten chain", func(r *storage.Record, cp *eventlog.Checkpoint) {
			cp.Hash = storage.ChainHash("x", eventlog.Event{})
			r.Data = keepData
		}, "signature"},
		{"re-signed with another key", func(r *storage.Record, cp *eventlog.Checkpoint) {
			*cp, _ = cp.Sign(mallory)
			r.Data = keepData
		}, "signature"},
		{"record not readable", func(r *storage.Record, _ *eventlog.Checkpoint) {
			r.Data = []byte(`{"chain":"four"}`)
		}, "signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := signedLog(t, s, key, []int64{2, 4, 6}, 0)
			changeCheckpoint(t, s, c, 4, tc.change)
			plain, err := storage.VerifyChain(context.Background(), s, c, time.Now())
			if err != nil || !plain.Intact {
				t.Fatalf("the events were not touched, the plain chain must verify: %+v %v", plain, err)
			}
			v := verifyCheckpoints(t, s, c, key)
			cc := v.Checkpoints
			if v.Intact || cc.Intact || cc.BrokenChain != 4 || cc.VerifiedChain != 2 || !strings.Contains(cc.Reason, tc.reason) {
				t.Fatalf("a forged checkpoint at 4 went unreported: %+v %+v", v, cc)
			}
			if want := chainEvents(t, s, c)[3].Seq; tc.name != "record not readable" && cc.BrokenSeq != want {
				t.Fatalf("BrokenSeq %d, want %d (the checkpoint's head)", cc.BrokenSeq, want)
			}
		})
	}
	// A checkpoint copied from another company does not vouch for this one.
	t.Run("copied from another company", func(t *testing.T) {
		a := signedLog(t, s, key, []int64{1}, 0)
		b := signedLog(t, s, key, []int64{1}, 0)
		err := s.Update(context.Background(), func(tx storage.Tx) error {
			rs, _ := checkpointRecords(t, tx, a)
			r := rs[0]
			r.Company = b
			return tx.Put(context.Background(), r)
		})
		if err != nil {
			t.Fatal(err)
		}
		if v := verifyCheckpoints(t, s, b, key); v.Intact || !strings.Contains(v.Checkpoints.Reason, "another company") {
			t.Fatalf("a checkpoint of company a accepted for b: %+v %+v", v, v.Checkpoints)
		}
	})
	// Verifying with the wrong public key reports every checkpoint as not
	// signed by it.
	t.Run("wrong verification key", func(t *testing.T) {
		c := signedLog(t, s, key, []int64{1}, 0)
		if v := verifyCheckpoints(t, s, c, mallory); v.Intact || v.Checkpoints.BrokenChain != 1 {
			t.Fatalf("checkpoints verified with a key that did not sign them: %+v %+v", v, v.Checkpoints)
		}
	})
}

func testCheckpointDeleted(t *testing.T, newStore Factory, _ Features) {
	s := newStore(t)
	key := checkpointKey(1)
	deleteCheckpoint := func(c string, pos int64) {
		changeCheckpoint(t, s, c, pos, func(r *storage.Record, _ *eventlog.Checkpoint) { r.Data = nil })
	}

	// A checkpoint between two others: the next one names it as its Prev.
	c := signedLog(t, s, key, []int64{2, 4, 6}, 0)
	deleteCheckpoint(c, 4)
	v := verifyCheckpoints(t, s, c, key)
	if v.Intact || v.Checkpoints.BrokenChain != 6 || v.Checkpoints.VerifiedChain != 2 || !strings.Contains(v.Checkpoints.Reason, "missing") {
		t.Fatalf("a deleted middle checkpoint went unreported: %+v %+v", v, v.Checkpoints)
	}

	// The first one: the next names it.
	c = signedLog(t, s, key, []int64{2, 4}, 0)
	deleteCheckpoint(c, 2)
	if v := verifyCheckpoints(t, s, c, key); v.Intact || v.Checkpoints.BrokenChain != 4 {
		t.Fatalf("a deleted first checkpoint went unreported: %+v %+v", v, v.Checkpoints)
	}

	// The latest one cannot be told from the database alone: no later
	// checkpoint names it. The log still verifies, with the events after
	// the remaining checkpoint counted as unsigned.
	c = signedLog(t, s, key, []int64{2, 4}, 0)
	deleteCheckpoint(c, 4)
	if v := verifyCheckpoints(t, s, c, key); !v.Intact || v.Checkpoints.VerifiedChain != 2 || v.Checkpoints.Unsigned != 2 {
		t.Fatalf("deleting the latest checkpoint: %+v %+v", v, v.Checkpoints)
	}
	// Nor can deleting all of them.
	c = signedLog(t, s, key, []int64{3}, 0)
	deleteCheckpoint(c, 3)
	if v := verifyCheckpoints(t, s, c, key); !v.Intact || v.Checkpoints.Checked != 0 || v.Checkpoints.Unsigned != 3 {
		t.Fatalf("deleting every checkpoint: %+v %+v", v, v.Checkpoints)
	}
}

// Tamper writes to a store behind its back, as someone with write access to
// its database (but not to the checkpoint key) could. Stores provide it to
// CheckpointTampering.
type Tamper struct {
	// Rewrite stores each event's Count, PrevHash and Hash over those of the
	// stored event of the same Company and Seq.
	Rewrite func(t *testing.T, evs []eventlog.Event)
	// Delete removes company's events with these Seqs.
	Delete func(t *testing.T, company string, seqs ...int64)
}

// CheckpointTampering checks, on a fresh store s, that signed checkpoints
// expose what the plain hash chain cannot: an event rewritten with every
// later hash recomputed (the plain chain still verifies), and events removed
// from the end of the chain past a checkpoint.
func CheckpointTampering(t *testing.T, s storage.Store, tamper Tamper) {
	key := checkpointKey(7)
	ctx := context.Background()
	// rewrite changes the event at chain position pos and recomputes the
	// chain after it.
	rewrite := func(c string, pos int) []eventlog.Event {
		evs := chainEvents(t, s, c)
		evs[pos-1].Count += 1000
		for i := pos - 1; i < len(evs); i++ {
			if i > 0 {
				evs[i].PrevHash = evs[i-1].Hash
			}
			evs[i].Hash = storage.ChainHash(evs[i].PrevHash, evs[i])
		}
		tamper.Rewrite(t, evs[pos-1:])
		return evs
	}
	plainIntact := func(c string) {
		t.Helper()
		v, err := storage.VerifyChain(ctx, s, c, time.Now())
		if err != nil || !v.Intact {
			t.Fatalf("the rewrite must be consistent enough for the plain chain: %+v %v", v, err)
		}
	}

	t.Run("rewritten between checkpoints", func(t *testing.T) {
		c := signedLog(t, s, key, []int64{2, 4, 6}, 1)
		bystander := signedLog(t, s, key, []int64{2}, 0)
		evs := rewrite(c, 3)
		plainIntact(c)
		v := verifyCheckpoints(t, s, c, key)
		cc := v.Checkpoints
		if v.Intact || cc.Intact || cc.BrokenChain != 4 || cc.BrokenSeq != evs[3].Seq || v.BrokenSeq != evs[3].Seq || cc.VerifiedChain != 2 {
			t.Fatalf("event 3 rewritten: want the checkpoint at 4 (seq %d) broken after the one at 2: %+v %+v", evs[3].Seq, v, cc)
		}
		// A new checkpoint refuses to vouch for the rewritten chain: it no
		// longer continues from the latest checkpoint's head.
		appendN(t, s, c, 7, 1)
		if _, _, err := storage.Checkpoint(ctx, s, c, key, checkpointAt); !errors.Is(err, license.ErrConflict) {
			t.Fatalf("checkpoint over a rewritten chain: %v; want conflict", err)
		}
		if v := verifyCheckpoints(t, s, bystander, key); !v.Intact {
			t.Fatalf("another company's log was reported: %+v %+v", v, v.Checkpoints)
		}
	})

	t.Run("rewritten with a checkpoint at every event", func(t *testing.T) {
		c := signedLog(t, s, key, []int64{1, 2, 3, 4, 5}, 0)
		evs := rewrite(c, 3)
		plainIntact(c)
		v := verifyCheckpoints(t, s, c, key)
		if v.Intact || v.Checkpoints.BrokenChain != 3 || v.BrokenSeq != evs[2].Seq || v.Checkpoints.VerifiedChain != 2 {
			t.Fatalf("want the rewritten event itself (seq %d) reported: %+v %+v", evs[2].Seq, v, v.Checkpoints)
		}
	})

	t.Run("rewritten in the unsigned tail", func(t *testing.T) {
		// After the last checkpoint only the plain chain protects the
		// events: a consistent rewrite there is not detected.
		c := signedLog(t, s, key, []int64{2}, 2)
		rewrite(c, 3)
		plainIntact(c)
		if v := verifyCheckpoints(t, s, c, key); !v.Intact || v.Checkpoints.Unsigned != 2 {
			t.Fatalf("%+v %+v", v, v.Checkpoints)
		}
	})

	t.Run("truncated past a checkpoint", func(t *testing.T) {
		c := signedLog(t, s, key, []int64{2, 4}, 1)
		evs := chainEvents(t, s, c)
		tamper.Delete(t, c, evs[3].Seq, evs[4].Seq)
		plainIntact(c)
		v := verifyCheckpoints(t, s, c, key)
		if v.Intact || v.Checkpoints.BrokenChain != 4 || !strings.Contains(v.Checkpoints.Reason, "removed") {
			t.Fatalf("events removed past the checkpoint at 4: %+v %+v", v, v.Checkpoints)
		}
		// And a new checkpoint refuses to vouch for the shorter chain.
		if _, _, err := storage.Checkpoint(ctx, s, c, key, checkpointAt); !errors.Is(err, license.ErrConflict) {
			t.Fatalf("checkpoint of a truncated chain: %v; want conflict", err)
		}
	})

	t.Run("untouched", func(t *testing.T) {
		c := signedLog(t, s, key, []int64{3, 5}, 2)
		if v := verifyCheckpoints(t, s, c, key); !v.Intact || v.Checkpoints.Checked != 2 || v.Checkpoints.Unsigned != 2 {
			t.Fatalf("%+v %+v", v, v.Checkpoints)
		}
	})
}
