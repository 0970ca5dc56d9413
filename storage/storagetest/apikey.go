package storagetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/access"
	"github.com/licensekit/licensekit/apikey"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage"
)

func init() {
	Register("apikey",
		Test{"RolesCheckedInTheDomain", keyTestRoles},
		Test{"ReplayShowsNoSecretAndStoresNone", keyTestReplay},
		Test{"ExpiryAndRevocation", keyTestExpiryRevocation},
		Test{"BootstrapIssuesOnce", keyTestBootstrap},
		Test{"LastUse", keyTestLastUse},
	)
}

var (
	keyOwner  = license.Actor{Company: "key-co", Email: "olga@key.example", Role: license.Owner}
	keyAdmin  = license.Actor{Company: "key-co", Email: "adam@key.example", Role: license.Admin}
	keyViewer = license.Actor{Company: "key-co", Email: "vic@key.example", Role: license.Viewer}
	keyOther  = license.Actor{Company: "key-other", Email: "otto@other.example", Role: license.Owner}
	keyStart  = time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
)

func keySetup(t *testing.T, newStore Factory) (*apikey.Service, *licensetest.Clock, storage.Store) {
	t.Helper()
	st := newStore(t)
	clock := licensetest.NewClock(keyStart)
	return &apikey.Service{Store: st, Clock: clock}, clock, st
}

func keyIssue(t *testing.T, s *apikey.Service, by license.Actor, who license.Actor) apikey.Created {
	t.Helper()
	c, err := s.Issue(context.Background(), by, apikey.New{Email: who.Email, Role: who.Role})
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(c.Key, apikey.Prefix))
	return c
}

// keyDump is every API key record, usage record and event of key-co.
func keyDump(t *testing.T, st storage.Store) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, st.View(context.Background(), func(tx storage.Tx) error {
		for _, k := range []storage.Kind{apikey.Kind, apikey.KindUsage, apikey.KindBootstrap} {
			rs, err := tx.List(context.Background(), storage.ListQuery{Company: storage.SystemCompany, Kind: k})
			if err != nil {
				return err
			}
			for _, r := range rs {
				b.WriteString(r.ID + " " + r.Parent + " " + string(r.Data) + "\n")
			}
		}
		return tx.Events(context.Background(), eventlog.Filter{Company: keyOwner.Company}, func(e eventlog.Event) error {
			b.WriteString(string(e.Type) + " " + e.Subject + " " + string(e.Details) + "\n")
			return nil
		})
	}))
	return b.String()
}

// A viewer (or admin) calling the domain directly cannot issue keys, nor
// revoke or see another member's key; it can see and revoke its own.
func keyTestRoles(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, _, st := keySetup(t, newStore)
	owner := keyIssue(t, s, keyOwner, keyOwner)
	viewer := keyIssue(t, s, keyOwner, keyViewer)
	keyIssue(t, s, keyOwner, keyAdmin)

	before := keyDump(t, st)
	for _, a := range []license.Actor{keyViewer, keyAdmin} {
		_, err := s.Issue(ctx, a, apikey.New{Email: a.Email, Role: license.Owner})
		assert.Equal(t, license.Forbidden, license.ErrorCode(err), "%s issues a key", a.Role)
		_, err = s.Revoke(ctx, a, owner.APIKey.ID)
		assert.Equal(t, license.Forbidden, license.ErrorCode(err), "%s revokes the owner's key", a.Role)
	}
	_, err := s.Revoke(ctx, keyOther, owner.APIKey.ID)
	assert.Equal(t, license.NotFound, license.ErrorCode(err), "another company's owner")
	_, err = s.Issue(ctx, license.Actor{Company: "key-co", Email: "x@key.example", Role: "root"}, apikey.New{Email: "y@key.example", Role: license.Owner})
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
	assert.Equal(t, before, keyDump(t, st), "refusals change nothing")
	_, _, err = s.Authenticate(ctx, owner.Key)
	require.NoError(t, err, "the owner's key still works")

	all, err := s.List(ctx, keyOwner)
	require.NoError(t, err)
	assert.Len(t, all, 3)
	mine, err := s.List(ctx, keyViewer)
	require.NoError(t, err)
	require.Len(t, mine, 1)
	assert.Equal(t, viewer.APIKey.ID, mine[0].ID)
	theirs, err := s.List(ctx, keyOther)
	require.NoError(t, err)
	assert.Empty(t, theirs)

	k, err := s.Revoke(ctx, keyViewer, viewer.APIKey.ID)
	require.NoError(t, err, "a member revokes its own key")
	assert.Equal(t, keyViewer.Email, k.RevokedBy)

	// A former owner demoted to viewer still holds an owner key: the domain
	// checks the effective role, so it can no longer issue or revoke.
	demoted := license.Actor{Company: keyOwner.Company, Email: "dora@key.example", Role: license.Owner}
	keyIssue(t, s, keyOwner, demoted)
	require.NoError(t, st.Update(ctx, func(tx storage.Tx) error {
		return storage.Save(ctx, tx, storage.Record{Company: demoted.Company, Kind: access.KindMember, ID: access.MemberID(demoted.Email), Parent: demoted.Company},
			access.Member{Email: demoted.Email, Role: license.Viewer})
	}))
	before = keyDump(t, st)
	_, err = s.Issue(ctx, demoted, apikey.New{Email: demoted.Email, Role: license.Owner})
	assert.Equal(t, license.Forbidden, license.ErrorCode(err), "a demoted owner issues a key")
	_, err = s.Revoke(ctx, demoted, owner.APIKey.ID)
	assert.Equal(t, license.Forbidden, license.ErrorCode(err), "a demoted owner revokes the owner's key")
	mine, err = s.List(ctx, demoted)
	require.NoError(t, err)
	assert.Len(t, mine, 1, "a demoted owner sees only its own key")
	assert.Equal(t, before, keyDump(t, st))
}

// A replayed creation answers the same key's metadata without the key, and
// neither the remembered answer nor any record holds the key.
func keyTestReplay(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, _, st := keySetup(t, newStore)
	in := apikey.New{Name: "ci", Email: "ci@key.example", Role: license.Viewer}
	in.IdempotencyKey = "create-ci"
	first, err := s.Issue(ctx, keyOwner, in)
	require.NoError(t, err)
	require.NotEmpty(t, first.Key)
	assert.False(t, first.Replayed)
	again, err := s.Issue(ctx, keyOwner, in)
	require.NoError(t, err)
	assert.Empty(t, again.Key, "a replay shows no key")
	assert.True(t, again.Replayed)
	assert.Equal(t, first.APIKey, again.APIKey)
	_, err = s.Issue(ctx, keyOwner, apikey.New{Email: "other@key.example", Role: license.Viewer, IdempotencyKey: "create-ci"})
	assert.Equal(t, license.Conflict, license.ErrorCode(err))

	var remembered int
	var stored strings.Builder
	require.NoError(t, st.View(ctx, func(tx storage.Tx) error {
		rs, err := tx.List(ctx, storage.ListQuery{Company: keyOwner.Company, Kind: storage.KindIdempotency})
		if err != nil {
			return err
		}
		remembered = len(rs)
		for _, r := range rs {
			stored.Write(r.Data)
		}
		return nil
	}))
	assert.Equal(t, 1, remembered)
	assert.Contains(t, stored.String(), first.APIKey.ID, "the remembered answer is the key's metadata")
	stored.WriteString(keyDump(t, st))
	assert.NotContains(t, stored.String(), first.Key, "no record holds the key")
	assert.NotContains(t, stored.String(), first.Key[len(apikey.Prefix):])
	k, _, err := s.Authenticate(ctx, first.Key)
	require.NoError(t, err)
	assert.Equal(t, first.APIKey.ID, k.ID)
}

func keyTestExpiryRevocation(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, clock, st := keySetup(t, newStore)
	past := keyStart.Add(-time.Second)
	before := keyDump(t, st)
	_, err := s.Issue(ctx, keyOwner, apikey.New{Email: "x@key.example", Role: license.Viewer, ExpiresAt: &past})
	assert.Equal(t, license.Invalid, license.ErrorCode(err))
	assert.Equal(t, "expires_at", license.ErrorField(err))
	assert.Equal(t, before, keyDump(t, st))

	until := keyStart.Add(time.Hour)
	temp, err := s.Issue(ctx, keyOwner, apikey.New{Email: "temp@key.example", Role: license.Viewer, ExpiresAt: &until})
	require.NoError(t, err)
	require.NotNil(t, temp.APIKey.ExpiresAt)
	clock.Advance(59 * time.Minute)
	_, _, err = s.Authenticate(ctx, temp.Key)
	require.NoError(t, err, "before its expiry")
	clock.Advance(time.Minute)
	_, _, err = s.Authenticate(ctx, temp.Key)
	assert.Equal(t, license.KeyExpired, license.ErrorCode(err), "at its expiry")

	k := keyIssue(t, s, keyOwner, keyViewer)
	rk, err := s.Revoke(ctx, keyOwner, k.APIKey.ID)
	require.NoError(t, err)
	require.NotNil(t, rk.RevokedAt)
	_, _, err = s.Authenticate(ctx, k.Key)
	assert.Equal(t, license.KeyRevoked, license.ErrorCode(err))
	_, err = s.Revoke(ctx, keyOwner, k.APIKey.ID)
	assert.Equal(t, license.Conflict, license.ErrorCode(err), "revoked twice")
	_, err = s.Revoke(ctx, keyOwner, "key_0000000000000000")
	assert.Equal(t, license.NotFound, license.ErrorCode(err))
	_, _, err = s.Authenticate(ctx, apikey.Prefix+"nope")
	assert.Equal(t, license.Unauthenticated, license.ErrorCode(err))

	list, err := s.List(ctx, keyOwner)
	require.NoError(t, err)
	byID := map[string]apikey.Key{}
	for _, k := range list {
		byID[k.ID] = k
	}
	assert.NotNil(t, byID[k.APIKey.ID].RevokedAt, "a revoked key stays listed with revoked_at")
	assert.Equal(t, keyOwner.Email, byID[k.APIKey.ID].RevokedBy)
	assert.Equal(t, until, *byID[temp.APIKey.ID].ExpiresAt)
	var types []eventlog.Type
	require.NoError(t, st.View(ctx, func(tx storage.Tx) error {
		return tx.Events(ctx, eventlog.Filter{Company: keyOwner.Company}, func(e eventlog.Event) error {
			types = append(types, e.Type)
			return nil
		})
	}))
	assert.Equal(t, []eventlog.Type{apikey.EventCreated, apikey.EventCreated, apikey.EventRevoked}, types)
}

// Bootstrap issues one owner key per company, even when started by several
// processes at once; a failed delivery issues nothing.
func keyTestBootstrap(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, clock, st := keySetup(t, newStore)
	boom := errors.New("disk full")
	_, issued, err := apikey.Bootstrap(ctx, st, clock, keyOwner.Company, keyOwner.Email, func(apikey.Created) error { return boom })
	require.ErrorIs(t, err, boom)
	assert.False(t, issued)
	assert.Empty(t, keyDump(t, st), "a failed delivery leaves nothing")

	var mu sync.Mutex
	var keys []string
	var wg sync.WaitGroup
	for range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, issued, err := apikey.Bootstrap(ctx, st, clock, keyOwner.Company, keyOwner.Email, nil)
			if err != nil {
				code := license.ErrorCode(err)
				assert.True(t, code == license.Conflict || code == license.Unavailable, "unexpected %v", err)
				return
			}
			if issued {
				mu.Lock()
				keys = append(keys, c.Key)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	_, issued, err = apikey.Bootstrap(ctx, st, clock, keyOwner.Company, keyOwner.Email, nil)
	require.NoError(t, err)
	assert.False(t, issued, "a later start issues nothing")
	require.Len(t, keys, 1, "exactly one bootstrap key")
	k, _, err := s.Authenticate(ctx, keys[0])
	require.NoError(t, err)
	assert.Equal(t, license.Owner, k.Role)
	list, err := s.List(ctx, keyOwner)
	require.NoError(t, err)
	assert.Len(t, list, 1)
	_, issued, err = apikey.Bootstrap(ctx, st, clock, keyOther.Company, keyOther.Email, nil)
	require.NoError(t, err)
	assert.True(t, issued, "another company bootstraps its own")
}

func keyTestLastUse(t *testing.T, newStore Factory, _ Features) {
	ctx := context.Background()
	s, clock, _ := keySetup(t, newStore)
	c := keyIssue(t, s, keyOwner, keyViewer)
	list, err := s.List(ctx, keyOwner)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Nil(t, list[0].LastUsedAt, "never used")
	_, hash, err := s.Authenticate(ctx, c.Key)
	require.NoError(t, err)
	clock.Advance(time.Minute)
	require.NoError(t, s.Touch(ctx, keyOwner.Company, hash, clock.Now()))
	list, err = s.List(ctx, keyOwner)
	require.NoError(t, err)
	require.NotNil(t, list[0].LastUsedAt)
	assert.True(t, clock.Now().Equal(*list[0].LastUsedAt))
}
