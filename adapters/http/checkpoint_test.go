package http_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	lkhttp "github.com/licensekit/licensekit/adapters/http"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/memory"
)

// newCheckpointFixture is newFixture with a checkpoint signer.
func newCheckpointFixture(t *testing.T, signer ed25519.PrivateKey) *fixture {
	t.Helper()
	f := &fixture{t: t, store: memory.New(), clock: licensetest.NewClock(testStart), logs: &bytes.Buffer{}}
	h, err := lkhttp.New(lkhttp.Config{Store: f.store, Clock: f.clock, Logger: slog.New(slog.NewJSONHandler(f.logs, nil)),
		CheckpointSigner: signer})
	require.NoError(t, err)
	f.h, f.srv = h, httptest.NewServer(validating(t, h))
	t.Cleanup(f.srv.Close)
	f.company, f.owner = f.newCompany("acme", "ann@acme.example")
	return f
}

// Owners sign the chain head on demand; verify then checks the checkpoints
// with the public key, and reports one whose signature was altered in the
// store.
func TestEventCheckpointsOverHTTP(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{3}, ed25519.SeedSize))
	f := newCheckpointFixture(t, key)
	s := f.site("North", ptr[int64](10))
	f.ok(200, "POST", "/v1/sites/"+s.ID+"/purchase", f.owner, map[string]int64{"quantity": 5}, nil)
	n := countEvents(t, f.store, f.company)

	var cr lkhttp.CheckpointResult
	f.ok(200, "POST", "/v1/events/checkpoints", f.owner, nil, &cr)
	assert.True(t, cr.Created)
	assert.Equal(t, n, cr.Checkpoint.Chain)
	assert.Equal(t, f.company, cr.Checkpoint.Company)
	assert.True(t, cr.Checkpoint.Verify([]ed25519.PublicKey{key.Public().(ed25519.PublicKey)}), "the answer carries a valid signature")
	f.ok(200, "POST", "/v1/events/checkpoints", f.owner, nil, &cr)
	assert.False(t, cr.Created, "an unchanged head is not signed again")
	assert.Equal(t, 403, f.do("POST", "/v1/events/checkpoints", f.key("adam@acme.example", license.Admin), nil).status)

	var v eventlog.Verification
	f.ok(200, "GET", "/v1/events/verify", f.owner, nil, &v)
	require.NotNil(t, v.Checkpoints, "verify checks checkpoints when the server has a key")
	assert.True(t, v.Intact, "%+v %+v", v, v.Checkpoints)
	assert.Equal(t, 1, v.Checkpoints.Checked)
	assert.Equal(t, n, v.Checkpoints.VerifiedChain)

	// Someone with write access to the store alters the checkpoint.
	require.NoError(t, f.store.Update(context.Background(), func(tx storage.Tx) error {
		rs, err := tx.List(context.Background(), storage.ListQuery{Company: f.company, Kind: storage.KindCheckpoint})
		require.NoError(t, err)
		require.Len(t, rs, 1)
		var cp eventlog.Checkpoint
		require.NoError(t, json.Unmarshal(rs[0].Data, &cp))
		cp.Time = cp.Time.Add(-1)
		return storage.Save(context.Background(), tx, rs[0], cp)
	}))
	f.ok(200, "GET", "/v1/events/verify", f.owner, nil, &v)
	assert.False(t, v.Intact)
	require.NotNil(t, v.Checkpoints)
	assert.False(t, v.Checkpoints.Intact)
	assert.Equal(t, n, v.Checkpoints.BrokenChain)
	assert.Contains(t, v.Reason, "signature")
}

// Without a key, on-demand checkpoints are refused and verify checks the
// plain chain only.
func TestEventCheckpointsNeedAKey(t *testing.T) {
	f := newFixture(t)
	r := f.do("POST", "/v1/events/checkpoints", f.owner, nil)
	assert.Equal(t, 409, r.status, "%s", r.body)
	assert.Contains(t, string(r.body), "checkpoint")
	var v eventlog.Verification
	f.ok(200, "GET", "/v1/events/verify", f.owner, nil, &v)
	assert.True(t, v.Intact)
	assert.Nil(t, v.Checkpoints)

	// A signer that is not Ed25519 is refused at construction.
	_, err := lkhttp.New(lkhttp.Config{Store: memory.New(), CheckpointSigner: notEd25519{}})
	assert.ErrorIs(t, err, license.ErrInvalid)
}

// notEd25519 is a crypto.Signer over a key that is not Ed25519.
type notEd25519 struct{}

func (notEd25519) Public() crypto.PublicKey { return "not a key" }
func (notEd25519) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	return nil, errors.New("cannot sign")
}
