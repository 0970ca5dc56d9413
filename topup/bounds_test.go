package topup_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage/memory"
	"github.com/licensekit/licensekit/topup"
)

func TestTermsVersionAndRecipientsRefuseControlAndBidi(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	clock := licensetest.NewClock(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC))
	owner := license.Actor{Company: "acme", Email: "ann@acme.example", Role: license.Owner}
	_, err := (&billing.Service{Store: store, Clock: clock}).CreateCompany(ctx, owner, "Acme")
	require.NoError(t, err)
	s := &topup.Service{Store: store, Clock: clock}
	for _, bad := range []string{"v1\nv2", "v1\x00", "v\u202E1"} {
		_, err := s.Enable(ctx, owner, topup.EnableRequest{AcceptedTermsVersion: bad})
		assert.Equal(t, license.Invalid, license.ErrorCode(err), "%q: %v", bad, err)
		assert.Equal(t, "accepted_terms_version", license.ErrorField(err), "%q", bad)
	}
	_, err = s.AddRecipients(ctx, owner, "bob\u202E@acme.example")
	assert.Equal(t, license.Invalid, license.ErrorCode(err), "%v", err)
	assert.Equal(t, "email", license.ErrorField(err))
	list, err := s.Recipients(ctx, owner)
	require.NoError(t, err)
	assert.Empty(t, list, "nothing added")
}
