package license_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/licensekit/licensekit/license"
)

func TestPeriod(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	p := license.Period{Start: t0, End: t0.AddDate(0, 1, 0)}
	assert.NoError(t, p.Check("period"))
	assert.False(t, p.Contains(t0.Add(-time.Nanosecond)))
	assert.True(t, p.Contains(t0))
	assert.True(t, p.Contains(p.End.Add(-time.Nanosecond)))
	assert.False(t, p.Contains(p.End), "the end is exclusive")
	assert.True(t, p.Ended(p.End))
	assert.False(t, p.Ended(t0))
	open := license.Period{Start: t0}
	assert.True(t, open.Contains(t0.AddDate(100, 0, 0)))
	assert.False(t, open.Ended(t0.AddDate(100, 0, 0)))
	assert.Equal(t, "period", license.ErrorField(license.Period{}.Check("period")))
	assert.Equal(t, license.Invalid, license.ErrorCode(license.Period{Start: t0, End: t0}.Check("period")))
	loc := time.FixedZone("X", 3600)
	assert.Equal(t, time.UTC, license.Period{Start: t0.In(loc), End: p.End.In(loc)}.UTC().End.Location())
}
