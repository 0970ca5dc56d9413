package eventlog_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/licensekit/licensekit/eventlog"
)

// TestHashEventGolden pins the chain hash's encoding: stored chains made by
// earlier versions must keep verifying, so any change to HashEvent's input
// must be a new version of it, not an edit.
func TestHashEventGolden(t *testing.T) {
	e := eventlog.Event{ID: "id1", Company: "c", Time: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), Type: "a.b",
		Source: "s", Target: "t", Count: -7, Actor: "x@y", Subject: "sub", Details: []byte(`{"k":1}`)}
	assert.Equal(t, "b913ecd02d783cb904bc19d9e0cda517ef535d9f453dd3f484b9caad2cd12ae3", eventlog.HashEvent("", e))
	assert.Equal(t, "29af1b4af70cd931ce994ba658c57ff53bf4cffb7ba0524fc1bda18685aea57e", eventlog.HashEvent("abc", e))
	// The time is hashed in UTC: another zone for the same instant hashes alike.
	e2 := e
	e2.Time = e.Time.In(time.FixedZone("EET", 2*3600))
	assert.Equal(t, eventlog.HashEvent("", e), eventlog.HashEvent("", e2))
	// Every field counts.
	e3 := e
	e3.Count = 7
	assert.NotEqual(t, eventlog.HashEvent("", e), eventlog.HashEvent("", e3))
}
