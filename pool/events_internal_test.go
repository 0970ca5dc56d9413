package pool

import (
	"encoding/json"
	"testing"

	"pgregory.net/rapid"
)

// The event details encoded from structs are byte for byte the JSON of the
// maps they replaced: the hash chain of the event log covers these bytes,
// so a log written before and after the change verifies the same way.
func TestEventDetailsAreTheMapsJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := func(name string) string { return rapid.String().Draw(t, name) }
		al, key, rule, sw, reason, user := s("allocation"), s("key"), s("rule"), s("software"), s("reason"), s("user")
		auto := rapid.Bool().Draw(t, "automatic")
		same := func(v any, m map[string]any) {
			a, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if string(a) != string(b) {
				t.Fatalf("%T encodes as %s, the map as %s", v, a, b)
			}
		}
		same(allocatedEvent{Allocation: al, Automatic: auto, Key: key, Rule: Rule(rule), Software: sw},
			map[string]any{"allocation": al, "key": key, "automatic": auto, "rule": Rule(rule), "software": sw})
		same(releasedEvent{Allocation: al, Key: key, Reason: reason}, map[string]any{"allocation": al, "key": key, "reason": reason})
		same(leaseEvent{Lease: al, User: user}, map[string]any{"lease": al, "user": user})
	})
}
