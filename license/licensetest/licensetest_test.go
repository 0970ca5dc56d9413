package licensetest_test

import (
	"testing"
	"time"

	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/stretchr/testify/assert"
)

func TestClock(t *testing.T) {
	loc := time.FixedZone("X", 5*3600)
	c := licensetest.NewClock(time.Date(2026, 1, 1, 5, 0, 0, 0, loc))
	assert.Equal(t, time.UTC, c.Now().Location())
	assert.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), c.Now())
	c.Advance(36 * time.Hour)
	assert.Equal(t, time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC), c.Now())
}
