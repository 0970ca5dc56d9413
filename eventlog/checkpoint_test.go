package eventlog_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/eventlog"
)

// TestCheckpointSignatureGolden pins the signed encoding of a checkpoint:
// checkpoints stored by earlier versions must keep verifying, so a change to
// Message must be a new version of it, not an edit.
func TestCheckpointSignatureGolden(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, ed25519.SeedSize))
	pub := key.Public().(ed25519.PublicKey)
	cp, err := eventlog.Checkpoint{Company: "c", Chain: 7, Prev: 3, Seq: 42, Hash: "abc",
		Time: time.Date(2026, 1, 2, 5, 4, 5, 6, time.FixedZone("EET", 2*3600))}.Sign(key) // 03:04:05 UTC: signed in UTC
	require.NoError(t, err)
	assert.Equal(t, "dbc298251c51321b", cp.KeyID)
	assert.Equal(t, "e2b642f068d0f4428fa45755263d6677767049694c1eb79c3857dc9feeafe8fa979b5afc167f649cd05cdc4417bd85f6dae5ceec5cb56908c1848d0b3c101d06", hex.EncodeToString(cp.Signature))
	assert.True(t, cp.Verify([]ed25519.PublicKey{pub}))

	// Every signed field counts.
	for name, change := range map[string]func(*eventlog.Checkpoint){
		"company": func(c *eventlog.Checkpoint) { c.Company = "d" },
		"chain":   func(c *eventlog.Checkpoint) { c.Chain++ },
		"prev":    func(c *eventlog.Checkpoint) { c.Prev-- },
		"seq":     func(c *eventlog.Checkpoint) { c.Seq++ },
		"hash":    func(c *eventlog.Checkpoint) { c.Hash = "abd" },
		"time":    func(c *eventlog.Checkpoint) { c.Time = c.Time.Add(time.Nanosecond) },
		"key id":  func(c *eventlog.Checkpoint) { c.KeyID = "0000000000000000" },
	} {
		c := cp
		c.Signature = bytes.Clone(cp.Signature)
		change(&c)
		assert.False(t, c.Verify([]ed25519.PublicKey{pub}), "a changed %s still verifies", name)
	}
	other := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{8}, ed25519.SeedSize)).Public().(ed25519.PublicKey)
	assert.False(t, cp.Verify([]ed25519.PublicKey{other}), "another key verifies it")
	assert.True(t, cp.Verify([]ed25519.PublicKey{other, pub}), "any of the keys may verify it (after a key change)")
	assert.False(t, cp.Verify(nil))
}
