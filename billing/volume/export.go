package volume

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
)

// ExportHeader is the header row of the customer exports.
var ExportHeader = []string{"Legal name", "Allocated users", "Usage", "Onboarded (UTC)", "Customer ID", "Product", "License ID"}

// ExportCSV writes the customers of licenseID, filtered and sorted by q as on
// the license page, as CSV (RFC 4180) to w. Text cells that a spreadsheet
// would read as a formula are neutralised by eventlog.NeutraliseCell, as in
// the event log export.
// Errors: invalid, not_found, internal (writing to w failed).
func (s *Service) ExportCSV(ctx context.Context, actor license.Actor, licenseID string, q Query, w io.Writer) error {
	p, err := s.Page(ctx, actor, licenseID, q)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(ExportHeader); err != nil {
		return license.Wrap(license.Internal, err, "volume: write CSV")
	}
	for _, r := range p.Customers {
		rec := []string{
			eventlog.NeutraliseCell(r.LegalName), strconv.FormatInt(r.Seats, 10), strconv.FormatInt(r.Usage, 10),
			r.CreatedAt.UTC().Format(time.RFC3339), r.Customer, eventlog.NeutraliseCell(p.License.Product), p.License.ID,
		}
		if err := cw.Write(rec); err != nil {
			return license.Wrap(license.Internal, err, "volume: write CSV")
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return license.Wrap(license.Internal, err, "volume: write CSV")
	}
	return nil
}

// ExportXLSX writes the same table as ExportCSV as an Excel workbook (one sheet,
// "Customers"), streamed row by row with excelize's StreamWriter. Numbers are
// numeric cells; text cells are neutralised as in the CSV.
// Errors: invalid, not_found, internal.
func (s *Service) ExportXLSX(ctx context.Context, actor license.Actor, licenseID string, q Query, w io.Writer) error {
	p, err := s.Page(ctx, actor, licenseID, q)
	if err != nil {
		return err
	}
	f := excelize.NewFile()
	defer f.Close()
	const sheet = "Customers"
	if err := f.SetSheetName("Sheet1", sheet); err != nil {
		return license.Wrap(license.Internal, err, "volume: name sheet")
	}
	sw, err := f.NewStreamWriter(sheet)
	if err != nil {
		return license.Wrap(license.Internal, err, "volume: open sheet")
	}
	header := make([]any, len(ExportHeader))
	for i, h := range ExportHeader {
		header[i] = h
	}
	if err := sw.SetRow("A1", header); err != nil {
		return license.Wrap(license.Internal, err, "volume: write sheet")
	}
	for i, r := range p.Customers {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		row := []any{
			eventlog.NeutraliseCell(r.LegalName), r.Seats, r.Usage, r.CreatedAt.UTC().Format(time.RFC3339),
			r.Customer, eventlog.NeutraliseCell(p.License.Product), p.License.ID,
		}
		if err := sw.SetRow(cell, row); err != nil {
			return license.Wrap(license.Internal, err, "volume: write sheet")
		}
	}
	if err := sw.Flush(); err != nil {
		return license.Wrap(license.Internal, err, "volume: write sheet")
	}
	if err := f.Write(w); err != nil {
		return license.Wrap(license.Internal, err, "volume: write workbook")
	}
	return nil
}
