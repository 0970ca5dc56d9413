package volume_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage/memory"
)

var partner = license.Actor{Company: "partner-a", Email: "owner@partner-a.example", Role: license.Owner}

// exportFixture onboards customers whose names would be formulas in a spreadsheet.
func exportFixture(t *testing.T) (*volume.Service, volume.License) {
	t.Helper()
	ctx := context.Background()
	s := volume.New(memory.New(), licensetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)))
	l, err := s.CreateLicense(ctx, partner, volume.NewLicense{Product: "=MDR Complete", Seats: 1990,
		RenewalDate: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), PricePerUser: license.NewMoney(decimal.RequireFromString("4.5"), "USD")})
	require.NoError(t, err)
	for i, name := range []string{"=HYPERLINK(\"http://x\")", "+1 Corp", "-Minus Ltd", "@Sum Inc", "Plain GmbH"} {
		_, err := s.Onboard(ctx, partner, volume.Onboarding{LegalName: name, Allocations: []volume.Seats{{License: l.ID, Seats: int64(10 * (i + 1))}}})
		require.NoError(t, err)
	}
	return s, l
}

var wantNames = []string{"'+1 Corp", "'-Minus Ltd", "'=HYPERLINK(\"http://x\")", "'@Sum Inc", "Plain GmbH"}

func TestExportCSVNeutralisesFormulas(t *testing.T) {
	s, l := exportFixture(t)
	var buf bytes.Buffer
	require.NoError(t, s.ExportCSV(context.Background(), partner, l.ID, volume.Query{}, &buf))
	rows, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 6)
	assert.Equal(t, volume.ExportHeader, rows[0])
	for i, r := range rows[1:] {
		assert.Equal(t, wantNames[i], r[0])
		assert.Equal(t, "'=MDR Complete", r[5])
		assert.Equal(t, l.ID, r[6])
	}
	assert.Equal(t, "20", rows[1][1], "+1 Corp has 20 users")
	assert.Equal(t, "2026-03-01T12:00:00Z", rows[1][3])
}

func TestExportXLSXNeutralisesFormulas(t *testing.T) {
	s, l := exportFixture(t)
	var buf bytes.Buffer
	require.NoError(t, s.ExportXLSX(context.Background(), partner, l.ID, volume.Query{Sort: volume.SortSeats, Desc: true}, &buf))
	f, err := excelize.OpenReader(&buf)
	require.NoError(t, err)
	defer f.Close()
	rows, err := f.GetRows("Customers")
	require.NoError(t, err)
	require.Len(t, rows, 6)
	assert.Equal(t, volume.ExportHeader, rows[0])
	assert.Equal(t, []string{"Plain GmbH", "'@Sum Inc", "'-Minus Ltd", "'+1 Corp", "'=HYPERLINK(\"http://x\")"},
		[]string{rows[1][0], rows[2][0], rows[3][0], rows[4][0], rows[5][0]}, "sorted by seats, descending")
	assert.Equal(t, "50", rows[1][1])
	for i := 1; i < 6; i++ {
		formula, err := f.GetCellFormula("Customers", "A"+string(rune('0'+i+1)))
		require.NoError(t, err)
		assert.Empty(t, formula, "row %d holds no formula", i+1)
	}
	// Seats are numeric cells, not text.
	typ, err := f.GetCellType("Customers", "B2")
	require.NoError(t, err)
	assert.NotEqual(t, excelize.CellTypeInlineString, typ)
	assert.NotEqual(t, excelize.CellTypeSharedString, typ)
}

// A full-width equals sign (U+FF1D) starts a formula as surely as "=" does in
// spreadsheets with East Asian input; both exports neutralise it.
func TestExportsNeutraliseFullWidthFormulas(t *testing.T) {
	ctx := context.Background()
	s := volume.New(memory.New(), licensetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)))
	l, err := s.CreateLicense(ctx, partner, volume.NewLicense{Product: "\uFF0BMDR", Seats: 10,
		RenewalDate: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), PricePerUser: license.NewMoney(decimal.RequireFromString("4.5"), "USD")})
	require.NoError(t, err)
	const name = "\uFF1DHYPERLINK(\"http://x\")"
	_, err = s.Onboard(ctx, partner, volume.Onboarding{LegalName: name, Allocations: []volume.Seats{{License: l.ID, Seats: 1}}})
	require.NoError(t, err)

	var buf bytes.Buffer
	require.NoError(t, s.ExportCSV(ctx, partner, l.ID, volume.Query{}, &buf))
	rows, err := csv.NewReader(&buf).ReadAll()
	require.NoError(t, err)
	require.Len(t, rows, 2)
	assert.Equal(t, "'"+name, rows[1][0])
	assert.Equal(t, "'\uFF0BMDR", rows[1][5])

	buf.Reset()
	require.NoError(t, s.ExportXLSX(ctx, partner, l.ID, volume.Query{}, &buf))
	f, err := excelize.OpenReader(&buf)
	require.NoError(t, err)
	defer f.Close()
	xrows, err := f.GetRows("Customers")
	require.NoError(t, err)
	require.Len(t, xrows, 2)
	assert.Equal(t, "'"+name, xrows[1][0])
	assert.Equal(t, "'\uFF0BMDR", xrows[1][5])
}
