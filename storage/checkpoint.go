package storage

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
)

// The kinds that hold a company's signed event-chain checkpoints.
const (
	// KindCheckpoint is one eventlog.Checkpoint; ID is its chain position as
	// 20 decimal digits, so that ID order is chain order.
	KindCheckpoint Kind = "event_checkpoint"
	// KindCheckpointHead is the company's latest checkpoint position (ID
	// "head"); Checkpoint locks it, so that checkpoints of a company are
	// made one at a time and each names the one before it.
	KindCheckpointHead Kind = "event_checkpoint_head"
)

const checkpointHeadID = "head"

// checkpointHead locates the latest checkpoint: its chain position, and the
// chain sort key of its head event (CursorKey), from which the next
// checkpoint walks on. It is not signed; a wrong one makes the next
// checkpoint refuse, and verification does not use it.
type checkpointHead struct {
	Chain int64  `json:"chain"`
	Key   string `json:"key"`
}

func checkpointID(chain int64) string { return fmt.Sprintf("%020d", chain) }

// Checkpoint signs company's current chain head with signer (an
// ed25519.PrivateKey or another crypto.Signer over an Ed25519 key, held
// outside the store) and stores the checkpoint as a KindCheckpoint record.
// It links pending events first when s is a Sealer.
//
// Before signing it checks the chain from the latest checkpoint's head to
// the current head (the whole chain for the first checkpoint), so a
// checkpoint vouches only for a chain that links: when a link is broken, the
// chain no longer reaches the latest checkpoint's head, or that head was
// changed, it refuses with Conflict (field "chain") rather than sign over the
// change. The work is proportional to the events since the latest checkpoint.
//
// When the head is the one the latest checkpoint signed, it returns that
// checkpoint and fresh false, storing nothing; when the log is empty it
// returns a zero Checkpoint and fresh false.
//
// Errors: invalid (signer); conflict (chain, or a concurrent first
// checkpoint of the company); the store's.
func Checkpoint(ctx context.Context, s Store, company string, signer crypto.Signer, now time.Time) (cp eventlog.Checkpoint, fresh bool, err error) {
	if _, err := eventlog.SignerKey(signer); err != nil {
		return cp, false, err
	}
	if company == "" {
		return cp, false, license.Errorf(license.Invalid, "company", "storage: checkpoint without company")
	}
	if sl, ok := s.(Sealer); ok {
		if err := sl.Seal(ctx, company); err != nil {
			return cp, false, err
		}
	}
	retried := false
	update := func(fn func(tx Tx) error) error {
		err := s.Update(ctx, fn)
		if !retried && (errors.Is(err, errCheckpointRace) || errors.Is(err, errChainMoved)) {
			// Another process stored the same first checkpoint, or linked
			// events, meanwhile: run again, which sees them.
			retried = true
			err = s.Update(ctx, fn)
		}
		return err
	}
	err = update(func(tx Tx) error {
		cp, fresh = eventlog.Checkpoint{}, false
		head, headRec, err := Load[checkpointHead](ctx, tx, company, KindCheckpointHead, checkpointHeadID, true)
		exists := err == nil
		if err != nil && !IsNotFound(err) {
			return err
		}
		var prev eventlog.Checkpoint
		f := eventlog.Filter{Company: company, Sort: eventlog.ColChain}
		if head.Chain > 0 {
			prev, _, err = Load[eventlog.Checkpoint](ctx, tx, company, KindCheckpoint, checkpointID(head.Chain), false)
			if err != nil {
				return err
			}
			f.After = &eventlog.Cursor{Key: head.Key, Seq: prev.Seq}
		}
		// Walk the events after the latest checkpoint's head, checking links.
		var last eventlog.Event
		n, link, broken := int64(0), prev.Hash, ""
		stop := errors.New("stop")
		err = tx.Events(ctx, f, func(e eventlog.Event) error {
			if broken = chainLink(link, e); broken != "" {
				return stop
			}
			n, link, last = n+1, e.Hash, e
			return nil
		})
		if err != nil && err != stop {
			return err
		}
		if broken != "" {
			return license.Errorf(license.Conflict, "chain", "the event chain of %s is broken after position %d: %s; verify the log", company, head.Chain+n, broken)
		}
		if n == 0 {
			if head.Chain == 0 {
				return nil // an empty log
			}
			// Nothing after the latest checkpoint's head: it must still be the head.
			found := false
			err := tx.Events(ctx, eventlog.Filter{Company: company, Sort: eventlog.ColChain, Desc: true, Limit: 1}, func(e eventlog.Event) error {
				last, found = e, true
				return nil
			})
			if err != nil {
				return err
			}
			if found && last.Chain > head.Chain && !retried {
				// Perhaps linked by another transaction between the two
				// reads (PostgreSQL reads each statement afresh): walk
				// again, once, which checks their links.
				return errChainMoved
			}
			if !found || last.Seq != prev.Seq || last.Hash != prev.Hash {
				return license.Errorf(license.Conflict, "chain", "the event chain of %s no longer ends at the head signed at position %d: events were changed or removed; verify the log", company, head.Chain)
			}
			cp = prev
			return nil
		}
		cp, err = eventlog.Checkpoint{Company: company, Chain: head.Chain + n, Prev: head.Chain, Seq: last.Seq, Hash: last.Hash, Time: now}.Sign(signer)
		if err != nil {
			return err
		}
		data, err := json.Marshal(cp)
		if err != nil {
			return license.Wrap(license.Internal, err, "storage: encode checkpoint")
		}
		if err := tx.Insert(ctx, Record{Company: company, Kind: KindCheckpoint, ID: checkpointID(cp.Chain), Data: data}); err != nil {
			if !exists {
				return raced(err) // two first checkpoints (no head row to lock yet)
			}
			return err
		}
		fresh = true
		head = checkpointHead{Chain: cp.Chain, Key: CursorKey(last, eventlog.ColChain)}
		if exists {
			return Save(ctx, tx, headRec, head)
		}
		// The first checkpoint: Insert, so that a concurrent first
		// checkpoint of the company fails rather than forks the list.
		b, _ := json.Marshal(head)
		return raced(tx.Insert(ctx, Record{Company: company, Kind: KindCheckpointHead, ID: checkpointHeadID, Data: b}))
	})
	return cp, fresh, err
}

// errChainMoved says the chain grew while Checkpoint read it.
var errChainMoved = errors.New("storage: the event chain grew while it was read")

// errCheckpointRace marks an insert of Checkpoint that another transaction's
// insert of the same record beat.
var errCheckpointRace = errors.New("storage: a concurrent checkpoint was stored first")

func raced(err error) error {
	if license.ErrorCode(err) == license.Conflict {
		return license.Wrap(license.Conflict, errors.Join(errCheckpointRace, err), "storage: a concurrent checkpoint was stored first")
	}
	return err
}

// chainLink says why e does not follow an event whose hash is prev ("" when
// it does).
func chainLink(prev string, e eventlog.Event) string {
	switch {
	case e.PrevHash != prev:
		return fmt.Sprintf("event %d does not link to the event before it", e.Seq)
	case e.Hash != ChainHash(e.PrevHash, e):
		return fmt.Sprintf("event %d does not match its hash", e.Seq)
	}
	return ""
}

// Checkpoints lists company's stored checkpoints in chain order. A record
// that does not decode is returned as a checkpoint with only its chain
// position (from its ID) and no signature, which verification reports.
func Checkpoints(ctx context.Context, tx Tx, company string) ([]eventlog.Checkpoint, error) {
	var out []eventlog.Checkpoint
	after := ""
	for {
		recs, err := tx.List(ctx, ListQuery{Company: company, Kind: KindCheckpoint, AfterID: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			var c eventlog.Checkpoint
			if err := json.Unmarshal(r.Data, &c); err != nil {
				n, _ := strconv.ParseInt(r.ID, 10, 64)
				c = eventlog.Checkpoint{Company: company, Chain: n}
			}
			out = append(out, c)
		}
		if len(recs) < 1000 {
			return out, nil
		}
		after = recs[len(recs)-1].ID
	}
}

// VerifyCheckpoints links any events not yet in company's chain (when s is a
// Sealer) and then, in a read transaction, verifies the chain together with
// the company's stored checkpoints against the public keys (see
// eventlog.VerifyCheckpoints). Pass every key that signed checkpoints still
// stored (after a key change, the old public key too).
func VerifyCheckpoints(ctx context.Context, s Store, company string, keys []ed25519.PublicKey, now time.Time) (eventlog.Verification, error) {
	if sl, ok := s.(Sealer); ok {
		if err := sl.Seal(ctx, company); err != nil {
			return eventlog.Verification{}, err
		}
	}
	var v eventlog.Verification
	err := s.View(ctx, func(tx Tx) error {
		cps, err := Checkpoints(ctx, tx, company)
		if err != nil {
			return err
		}
		v, err = eventlog.VerifyCheckpoints(ctx, tx, company, cps, keys, now)
		return err
	})
	return v, err
}
