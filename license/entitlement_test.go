package license_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/license"
)

func TestCleanEntitlements(t *testing.T) {
	assert.Equal(t, []string{"sso", "backup", ""}, license.CleanEntitlements([]string{" sso", "backup", "sso ", "", " "}))
	assert.Nil(t, license.CleanEntitlements(nil))
}

func TestCheckEntitlements(t *testing.T) {
	many := make([]string, license.MaxEntitlements+1)
	for i := range many {
		many[i] = "f" + strings.Repeat("x", i%10)
	}
	for _, tc := range []struct {
		name  string
		codes []string
		ok    bool
	}{
		{"none", nil, true},
		{"plain", []string{"sso", "backup.daily", "tier:gold"}, true},
		{"longest", []string{strings.Repeat("é", license.MaxEntitlementLength)}, true},
		{"too long", []string{strings.Repeat("a", license.MaxEntitlementLength+1)}, false},
		{"empty", []string{"sso", ""}, false},
		{"space", []string{"single sign-on"}, false},
		{"control", []string{"sso\x00"}, false},
		{"not UTF-8", []string{"\xff"}, false},
		{"too many", many, false},
	} {
		err := license.CheckEntitlements("entitlements", tc.codes)
		if tc.ok {
			assert.NoError(t, err, tc.name)
			continue
		}
		require.Error(t, err, tc.name)
		assert.Equal(t, license.Invalid, license.ErrorCode(err), tc.name)
		assert.Equal(t, "entitlements", license.ErrorField(err), tc.name)
	}
}
