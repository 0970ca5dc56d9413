package volume_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/licensekit/licensekit/billing/volume"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/license/licensetest"
	"github.com/licensekit/licensekit/storage/memory"
)

// FuzzExportCells writes a customer's legal name and a product name through
// the CSV and XLSX cell writers: both files open, have one header and one
// row, every text cell is the neutralised value (a spreadsheet never sees a
// formula), and the XLSX holds no formula cell.
func FuzzExportCells(f *testing.F) {
	for _, s := range [][2]string{
		{"Plain GmbH", "MDR"}, {"=HYPERLINK(\"http://x\")", "=1+1"}, {"+1 Corp", "-MDR"}, {"@Sum Inc", "\tTab"},
		{"Quote \"Oy\", Ab", "Line\nbreak"}, {"\rCarriage", "Ünïcödé ✓"}, {"<xml>&amp;</xml>", "]]>"}, {"\x01\x02control", "\ufffe"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, name, product string) {
		ctx := context.Background()
		actor := license.Actor{Company: "fuzz-co", Email: "owner@fuzz.example", Role: license.Owner}
		s := volume.New(memory.New(), licensetest.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)))
		l, err := s.CreateLicense(ctx, actor, volume.NewLicense{Product: product, Seats: 10,
			RenewalDate: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), PricePerUser: license.NewMoney(decimal.RequireFromString("1"), "USD")})
		if err != nil {
			require.Equal(t, license.Invalid, license.ErrorCode(err), "product %q: %v", product, err)
			return
		}
		c, err := s.Onboard(ctx, actor, volume.Onboarding{LegalName: name, Allocations: []volume.Seats{{License: l.ID, Seats: 1}}})
		if err != nil {
			require.Contains(t, []license.Code{license.Invalid, license.Conflict}, license.ErrorCode(err), "name %q: %v", name, err)
			return
		}
		// The exports show what the store holds (JSON keeps invalid UTF-8 as U+FFFD).
		page, err := s.Page(ctx, actor, l.ID, volume.Query{})
		require.NoError(t, err)
		require.Len(t, page.Customers, 1)
		storedName, storedProduct := page.Customers[0].LegalName, page.License.Product
		require.Equal(t, c.ID, page.Customers[0].Customer)
		wantName, wantProduct := eventlog.NeutraliseCell(storedName), eventlog.NeutraliseCell(storedProduct)

		var buf bytes.Buffer
		require.NoError(t, s.ExportCSV(ctx, actor, l.ID, volume.Query{}, &buf))
		rows, err := csv.NewReader(&buf).ReadAll()
		require.NoError(t, err, "the CSV parses")
		require.Len(t, rows, 2)
		require.Len(t, rows[1], len(volume.ExportHeader))
		for i, cell := range rows[1] {
			if cell != "" {
				require.NotContains(t, "=+-@\t\r", cell[:1], "CSV cell %d starts a formula: %q", i, cell)
			}
		}
		// encoding/csv reads \r\n inside a quoted field back as \n.
		if !strings.Contains(storedName, "\r") {
			require.Equal(t, wantName, rows[1][0])
		}
		if !strings.Contains(storedProduct, "\r") {
			require.Equal(t, wantProduct, rows[1][5])
		}

		buf.Reset()
		require.NoError(t, s.ExportXLSX(ctx, actor, l.ID, volume.Query{}, &buf))
		x, err := excelize.OpenReader(&buf)
		require.NoError(t, err, "the workbook opens")
		defer x.Close()
		xrows, err := x.GetRows("Customers")
		require.NoError(t, err)
		require.Len(t, xrows, 2)
		for _, cell := range []string{"A2", "F2"} {
			formula, err := x.GetCellFormula("Customers", cell)
			require.NoError(t, err)
			require.Empty(t, formula, "cell %s holds no formula", cell)
			v, err := x.GetCellValue("Customers", cell)
			require.NoError(t, err)
			if v != "" {
				require.NotContains(t, "=+-@\t\r", v[:1], "XLSX cell %s starts a formula: %q", cell, v)
			}
		}
	})
}
