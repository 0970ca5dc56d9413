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
