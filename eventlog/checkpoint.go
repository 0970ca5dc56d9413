package eventlog

import (
	"cmp"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/licensekit/licensekit/internal/eventcore"
	"github.com/licensekit/licensekit/license"
)

// Checkpoint is a signed statement of a company's chain head: "the chain of
// Company had Chain events, the last of them Seq with hash Hash, at Time".
// It is signed with an Ed25519 key kept outside the database, so whoever can
// only write to the database cannot make a checkpoint for a chain they
// rewrote: rewriting an event and recomputing every hash after it keeps the
// plain chain consistent, but no longer matches the signed heads.
//
// Prev is the chain position of the checkpoint signed before this one (0 for
// the first), so that checkpoints form a signed list of their own and a
// deleted checkpoint in the middle of it is noticed.
type Checkpoint struct {
	Company string    `json:"company"`
	Chain   int64     `json:"chain"` // events in the chain up to and including the head
	Prev    int64     `json:"prev"`  // Chain of the previous checkpoint, 0 for the first
	Seq     int64     `json:"seq"`   // the head event's Seq
	Hash    string    `json:"hash"`  // the head event's Hash
	Time    time.Time `json:"time"`  // when it was signed (UTC)
	// KeyID names the public key that verifies Signature (see KeyID).
	KeyID     string `json:"key_id"`
	Signature []byte `json:"signature"`
}

// Message returns the bytes the signature covers: every field except KeyID
// and Signature, each length-prefixed, after a version tag.
func (c Checkpoint) Message() []byte {
	var b []byte
	var n [8]byte
	field := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		b = append(b, n[:]...)
		b = append(b, s...)
	}
	num := func(v int64) {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		b = append(b, n[:]...)
	}
	field("licensekit-checkpoint-v1")
	field(c.Company)
	num(c.Chain)
	num(c.Prev)
	num(c.Seq)
	field(c.Hash)
	field(c.Time.UTC().Format(eventcore.TimeLayout))
	return b
}

// KeyID returns a short name of an Ed25519 public key: the hex of the first
// 8 bytes of its SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// SignerKey returns the Ed25519 public key of signer, or an Invalid error
// when signer is nil or not an Ed25519 signer.
func SignerKey(signer crypto.Signer) (ed25519.PublicKey, error) {
	if signer == nil {
		return nil, license.Errorf(license.Invalid, "signer", "eventlog: no checkpoint signer")
	}
	pub, ok := signer.Public().(ed25519.PublicKey)
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, license.Errorf(license.Invalid, "signer", "eventlog: the checkpoint signer must hold an Ed25519 key, not %T", signer.Public())
	}
	return pub, nil
}

// Sign signs c with signer (an ed25519.PrivateKey, or any crypto.Signer over
// an Ed25519 key such as a key in a hardware module) and returns it with
// KeyID and Signature set.
func (c Checkpoint) Sign(signer crypto.Signer) (Checkpoint, error) {
	pub, err := SignerKey(signer)
	if err != nil {
		return c, err
	}
	c.Time = c.Time.UTC()
	sig, err := signer.Sign(rand.Reader, c.Message(), crypto.Hash(0))
	if err != nil {
		return c, license.Wrap(license.Internal, err, "eventlog: sign the checkpoint of %s", c.Company)
	}
	c.KeyID, c.Signature = KeyID(pub), sig
	return c, nil
}

// Verify reports whether c carries a valid signature by one of keys.
func (c Checkpoint) Verify(keys []ed25519.PublicKey) bool {
	msg := c.Message()
	for _, k := range keys {
		if len(k) == ed25519.PublicKeySize && KeyID(k) == c.KeyID && ed25519.Verify(k, msg, c.Signature) {
			return true
		}
	}
	return false
}

// CheckpointCheck is the checkpoint part of a Verification.
type CheckpointCheck struct {
	Checked int  `json:"checked"` // checkpoints checked
	Intact  bool `json:"intact"`
	// VerifiedChain is the chain position of the last checkpoint that matched
	// the chain before any failure (0 if none): the events up to it are
	// vouched for by a signature. VerifiedAt is when it was signed.
	VerifiedChain int64      `json:"verified_chain"`
	VerifiedAt    *time.Time `json:"verified_at,omitempty"`
	// Unsigned is how many events follow the last checkpoint: they are
	// protected only by the plain chain until the next checkpoint.
	Unsigned int64 `json:"unsigned"`
	// BrokenChain and BrokenSeq name the first checkpoint that fails (its
	// chain position and the Seq it signed), with Reason. When the chain no
	// longer matches it, the change lies after VerifiedChain and at or
	// before BrokenChain.
	BrokenChain int64  `json:"broken_chain,omitempty"`
	BrokenSeq   int64  `json:"broken_seq,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// VerifyCheckpoints verifies company's chain as Verify does and, in the same
// walk, checks the checkpoints cps against it with the public keys:
//
//   - every checkpoint must be of company and carry a valid signature by one
//     of keys (a forged or altered checkpoint fails here);
//   - each must name the checkpoint before it as Prev (a checkpoint deleted
//     between two others fails here; deleting the latest ones, or all of
//     them, cannot be told from the database alone);
//   - the event at each checkpoint's chain position must still have the
//     signed Seq and Hash (a chain rewritten consistently after a checkpoint,
//     every later hash recomputed, fails here), and the chain must still
//     reach every checkpoint (a truncated chain fails here).
//
// The result's Checkpoints holds the details; Intact is false when either the
// chain or a checkpoint fails (BrokenSeq and Reason then name the chain's
// first broken link, or else the first failing checkpoint). The order of cps
// does not matter; memory grows with their number, not with the log's.
func VerifyCheckpoints(ctx context.Context, r ChainReader, company string, cps []Checkpoint, keys []ed25519.PublicKey, now time.Time) (Verification, error) {
	cps = slices.Clone(cps)
	slices.SortStableFunc(cps, func(a, b Checkpoint) int { return cmp.Compare(a.Chain, b.Chain) })
	// Problems found without the chain, by index into cps.
	static := make([]string, len(cps))
	for i, c := range cps {
		prev := int64(0)
		if i > 0 {
			prev = cps[i-1].Chain
		}
		switch {
		case c.Company != company:
			static[i] = fmt.Sprintf("the checkpoint is of another company (%q)", c.Company)
		case !c.Verify(keys):
			static[i] = "the checkpoint's signature is not valid for the verification keys (the checkpoint was forged or altered, or signed with another key)"
		case c.Chain <= 0 || c.Chain == prev:
			static[i] = "the checkpoint names an impossible or repeated chain position"
		case c.Prev > prev:
			static[i] = fmt.Sprintf("the checkpoint follows one at chain position %d, which is missing (it was deleted)", c.Prev)
		case c.Prev < prev:
			static[i] = fmt.Sprintf("the checkpoint follows one at chain position %d, not the checkpoint at %d before it (the checkpoints were altered)", c.Prev, prev)
		}
	}
	cc := &CheckpointCheck{Intact: true}
	v := Verification{Company: company, Intact: true, CheckedAt: now.UTC(), Checkpoints: cc}
	fail := func(c Checkpoint, reason string) {
		cc.Intact, cc.BrokenChain, cc.BrokenSeq, cc.Reason = false, c.Chain, c.Seq, reason
	}
	next := 0 // the next checkpoint to meet in the walk
	prev, pos := "", int64(0)
	stop := fmt.Errorf("stop")
	err := r.Events(ctx, Filter{Company: company, Sort: ColChain}, func(e Event) error {
		pos++
		v.Checked++
		if v.Intact {
			if reason := linkProblem(prev, e); reason != "" {
				v.Intact, v.Reason, v.BrokenSeq, v.BrokenID = false, reason, e.Seq, e.ID
			}
		}
		prev = e.Hash
		for cc.Intact && next < len(cps) && cps[next].Chain <= pos {
			c := cps[next]
			next++
			cc.Checked++
			switch {
			case static[next-1] != "":
				fail(c, static[next-1])
			case c.Chain != pos: // unreachable: positions are positive and ascending
				fail(c, "the checkpoint names an impossible chain position")
			case e.Seq != c.Seq || e.Hash != c.Hash:
				fail(c, fmt.Sprintf("the chain no longer has the signed head at position %d (an event after the checkpoint at position %d and up to this one was changed, removed or inserted, and the hashes recomputed)", c.Chain, cc.VerifiedChain))
			default:
				cc.VerifiedChain = c.Chain
				t := c.Time
				cc.VerifiedAt = &t
			}
		}
		if !v.Intact && (!cc.Intact || next == len(cps)) {
			return stop
		}
		return nil
	})
	if err != nil && err != stop {
		return v, err
	}
	walked := err == nil
	if cc.Intact && next < len(cps) {
		// The chain ended before these checkpoints.
		c := cps[next]
		cc.Checked++
		if static[next] != "" {
			fail(c, static[next])
		} else {
			fail(c, fmt.Sprintf("the chain has %d events but a checkpoint signed %d (events were removed from its end)", pos, c.Chain))
		}
	}
	if cc.Intact && walked {
		cc.Unsigned = pos - cc.VerifiedChain
	}
	if v.Intact && !cc.Intact {
		v.Intact, v.BrokenSeq, v.Reason = false, cc.BrokenSeq, "checkpoint: "+cc.Reason
	}
	if v.Intact {
		v.LastHash = prev
	}
	return v, nil
}
