package eventcore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// hashByFields is the chain hash as first written: each field written to the
// digest in turn. Hash must give the same bytes, or every stored chain
// would stop verifying.
func hashByFields(prev string, f Fields) string {
	h := sha256.New()
	var n [8]byte
	field := func(s string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	field("licensekit-event-v1")
	field(prev)
	field(f.ID)
	field(f.Company)
	field(f.Time.UTC().Format(TimeLayout))
	field(f.Type)
	field(f.Source)
	field(f.Target)
	binary.BigEndian.PutUint64(n[:], uint64(f.Count))
	h.Write(n[:])
	field(f.Actor)
	field(f.Subject)
	field(string(f.Details))
	return hex.EncodeToString(h.Sum(nil))
}

func TestHashMatchesFieldByField(t *testing.T) {
	// A known value, so that a change to both implementations is seen too.
	f := Fields{ID: "e1", Company: "acme", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Type: "pool.allocated",
		Source: "p1", Target: "pc-1", Count: 1, Actor: "ann@acme.example", Details: []byte(`{"a":1}`)}
	if got, want := Hash("", f), hashByFields("", f); got != want {
		t.Fatalf("Hash = %s, field by field %s", got, want)
	}
	// Computed apart (Python's hashlib over the same length-prefixed fields).
	if got := Hash("", f); got != "a9134bdfd79feb0e13c1c18330aff56c10da9f39e7fea4ee47a32882979f4410" {
		t.Fatalf("Hash = %s, not the value computed apart", got)
	}
	rapid.Check(t, func(t *rapid.T) {
		text := func(label string) string {
			return rapid.StringMatching(`.{0,40}`).Draw(t, label) + strings.Repeat("x", rapid.IntRange(0, 600).Draw(t, label+"-pad"))
		}
		f := Fields{
			ID: text("id"), Company: text("company"), Type: text("type"), Source: text("source"), Target: text("target"),
			Count: rapid.Int64().Draw(t, "count"), Actor: text("actor"), Subject: text("subject"),
			Details: []byte(text("details")),
			Time:    time.Unix(rapid.Int64Range(-1e10, 1e11).Draw(t, "sec"), rapid.Int64Range(0, 999999999).Draw(t, "nsec")).In(time.FixedZone("x", 3600)),
		}
		prev := text("prev")
		if got, want := Hash(prev, f), hashByFields(prev, f); got != want {
			t.Fatalf("Hash = %s, field by field %s", got, want)
		}
	})
}
