package eventlog

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestFilterMatches(t *testing.T) {
	e := Event{Type: "site.created", Source: "Ääni Oy", Target: "École", Count: 42, Actor: "a@b", Subject: "s1"}
	for search, want := range map[string]bool{"": true, "ääni": true, "ÉCOLE": true, "42": true, "S1": true, "oy\x1fé": false, "zzz": false} {
		assert.Equal(t, want, Filter{Search: search}.Matches(e), "search %q", search)
	}
	assert.False(t, Filter{Types: []Type{"other"}}.Matches(e))
	assert.True(t, Filter{Types: []Type{"other", "site.created"}, Search: "ääni"}.Matches(e))
}
