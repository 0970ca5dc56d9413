package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/licensekit/licensekit/pool"
)

func TestWalkthrough(t *testing.T) {
	var out bytes.Buffer
	panes, err := run(context.Background(), &out)
	require.NoError(t, err)
	text := out.String()
	t.Log("\n" + text)

	// Office main: 4 bought; pc-01..04 took them, pc-02 left into quarantine, the quarantine ended.
	assert.Equal(t, pool.Counts{Total: 4, Available: 1, AllocatedAutomatically: 3, Allocated: 3}, panes["Office main"].Counts)
	// Office spare: pc-05 overflowed into it; lab-07 was allocated manually and released.
	assert.Equal(t, pool.Counts{Total: 2, Available: 1, AllocatedAutomatically: 1, Allocated: 1}, panes["Office spare"].Counts)
	// CAD: 2 seats; ann and bob lapsed, cat holds one.
	assert.Equal(t, pool.Counts{Total: 2, Available: 1, AllocatedManually: 1, Allocated: 1}, panes["CAD floating"].Counts)
	for name, p := range panes {
		c := p.Counts
		assert.Equal(t, c.Total, c.Allocated+c.Quarantined+c.Available, "%s: allocated + quarantined + available == total", name)
	}

	for _, want := range []string{
		"inventory found Office on pc-04: allocated automatically from Office main",
		"inventory found Office on pc-05: allocated automatically from Office spare",
		"allocated manually to lab-07 from Office spare",
		"allocating to lab-08 refused:",
		"(insufficient_licenses)",
		"  Office main            total 4 | quarantined 0 | available 0 | allocated automatically 4 | allocated manually 0",
		"  Office spare           total 2 | quarantined 0 | available 0 | allocated automatically 1 | allocated manually 1",
		"2026-01-15 pc-02 uninstalled: 1 license quarantined until 2026-02-04",
		"inventory found Office on pc-06: ",
		"(quarantined)",
		"  Office main            total 4 | quarantined 1 | available 0 | allocated automatically 3 | allocated manually 0",
		"  Office spare           total 2 | quarantined 0 | available 1 | allocated automatically 1 | allocated manually 0",
		"2026-02-09 quarantine over",
		"  Office main            total 4 | quarantined 0 | available 1 | allocated automatically 3 | allocated manually 0",
		"cat cannot start CAD:",
		"  CAD floating           total 2 | quarantined 0 | available 1 | allocated automatically 0 | allocated manually 1",
		"  2026-01 purchased 4, total 4",
		"  2026-02 purchased 0, total 4",
	} {
		assert.Contains(t, text, want)
	}
}
