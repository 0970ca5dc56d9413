// Package eventcore holds the two rules of the event log that package eventlog
// and the stores must apply alike: the hash that links a company's events into
// a chain, and the text sort key that cursors carry. It works on the plain
// fields of an event so that it depends on no licensekit package; eventlog and
// the stores each convert their eventlog.Event into Fields.
package eventcore

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
)

// TimeLayout is the fixed-width UTC time format (nanoseconds) that is hashed
// and that time sort keys use, so that such keys compare as text in time order.
const TimeLayout = "2006-01-02T15:04:05.000000000Z"

// Fields are an event's fields, as eventlog.Event holds them.
type Fields struct {
	ID      string
	Seq     int64
	Company string
	Time    time.Time
	Type    string
	Source  string
	Target  string
	Count   int64
	Actor   string
	Subject string
	Details []byte
	Chain   int64
}

// Hash returns the hex SHA-256 chain hash of f after prev. It covers every
// field except Seq and Chain (prev is hashed instead of the event's own
// PrevHash), each length-prefixed so that no two different events encode
// alike.
func Hash(prev string, f Fields) string {
	// One buffer, hashed at once: the fields of an event are a few hundred
	// bytes, so writing them to the digest piece by piece (an interface call
	// and a copy each) costs more than the copy.
	var stack [512]byte
	b := stack[:0]
	field := func(s string) {
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	field("licensekit-event-v1")
	field(prev)
	field(f.ID)
	field(f.Company)
	b = binary.BigEndian.AppendUint64(b, uint64(len(TimeLayout)))
	b = f.Time.UTC().AppendFormat(b, TimeLayout)
	field(f.Type)
	field(f.Source)
	field(f.Target)
	b = binary.BigEndian.AppendUint64(b, uint64(f.Count))
	field(f.Actor)
	field(f.Subject)
	b = binary.BigEndian.AppendUint64(b, uint64(len(f.Details)))
	b = append(b, f.Details...)
	sum := sha256.Sum256(b)
	var out [2 * sha256.Size]byte
	hex.Encode(out[:], sum[:])
	return string(out[:])
}

// SortKey returns f's value in column (an eventlog.Column) as cursor text:
// count, seq and chain as decimals, time in TimeLayout (UTC; also for an
// unknown column), other columns as they are. Stores compare cursor keys with
// these values (the numbers numerically, the rest as text).
func SortKey(f Fields, column string) string {
	switch column {
	case "type":
		return f.Type
	case "source":
		return f.Source
	case "target":
		return f.Target
	case "count":
		return strconv.FormatInt(f.Count, 10)
	case "actor":
		return f.Actor
	case "subject":
		return f.Subject
	case "id":
		return f.ID
	case "seq":
		return strconv.FormatInt(f.Seq, 10)
	case "chain":
		return strconv.FormatInt(f.Chain, 10)
	default:
		return f.Time.UTC().Format(TimeLayout)
	}
}
