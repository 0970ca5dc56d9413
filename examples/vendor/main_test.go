package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// codeOf returns the result code printed on the line that starts with step.
func codeOf(t *testing.T, out, step string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, step+" ") {
			f := strings.Fields(strings.TrimPrefix(line, step))
			require.NotEmpty(t, f, "line %q has no code", line)
			return f[0]
		}
	}
	t.Fatalf("no line for %q in:\n%s", step, out)
	return ""
}

func TestVendorWalkthrough(t *testing.T) {
	now := time.Date(2026, 3, 10, 8, 30, 0, 0, time.UTC)
	for _, store := range []string{"memory", "sqlite"} {
		t.Run(store, func(t *testing.T) {
			var out bytes.Buffer
			err := run(context.Background(), &out, Options{
				Store: store, DBPath: filepath.Join(t.TempDir(), "vendor.db"), Now: now, Fingerprint: "fp-test-1",
			})
			require.NoError(t, err)
			text := out.String()
			t.Log("\n" + text)
			assert.Contains(t, text, "online ("+store+" store): pool \"Acme Backup Pro\", 2 licenses, entitlements [backup sso]")
			for step, want := range map[string]string{
				"start-up, this machine (first run)":      "valid",
				"start-up, this machine (validate only)":  "valid",
				"start-up, a second machine":              "valid",
				"start-up, a third machine":               "seats_exhausted",
				"this machine asks for the audit feature": "entitlements_missing",
				"one check too many":                      "rate_limited",
			} {
				assert.Equal(t, want, codeOf(t, text, step), step)
			}
			assert.Contains(t, text, "(missing [audit])")
			off := text[strings.Index(text, "offline:"):]
			for step, want := range map[string]string{
				"start-up, this machine":                  "valid",
				"start-up, another machine":               "fingerprint_mismatch",
				"this machine asks for the audit feature": "missing_entitlement",
				"a tampered file":                         "bad_signature",
				"start-up, last instant of validity":      "valid",
				"start-up, a week after expiry":           "in_grace",
				"start-up, after the grace period":        "expired",
				"old file, product with only the new key": "unknown_key",
				"old file, product with both keys":        "valid",
			} {
				assert.Equal(t, want, codeOf(t, off, step), step)
			}
			// A date-only expiry one year on: the end of that day in UTC.
			assert.Regexp(t, regexp.MustCompile(`until 2027-03-10T23:59:59\.999999999Z`), off)
		})
	}
}
