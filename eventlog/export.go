package eventlog

import (
	"context"
	"encoding/csv"
	"io"
	"unicode/utf8"

	"github.com/licensekit/licensekit/license"
)

// ExportMode chooses what Export writes.
type ExportMode string

// Export modes, as the MSP portal's grid actions name them.
const (
	// CurrentView exports the chosen columns, in their order, with the search,
	// type filter and sort of the Request (every matching event, not one page).
	CurrentView ExportMode = "current_view"
	// OriginalData exports every column of every event of the company, in time
	// order, ignoring the Request.
	OriginalData ExportMode = "original_data"
)

// dangerous reports whether r, as the first character of a cell, makes a
// spreadsheet treat the cell as a formula (or, for tab and carriage return,
// is stripped by some spreadsheets before they do so). Besides the ASCII =, +,
// -, and @ it covers their full-width forms (U+FF1D, U+FF0B, U+FF0D, U+FF20),
// which spreadsheets with East Asian input read as the ASCII ones, and their
// small forms (U+FE66, U+FE62, U+FE63, U+FE6B), and the minus sign U+2212.
func dangerous(r rune) bool {
	switch r {
	case '=', '+', '-', '@', '\t', '\r',
		'\uFF1D', '\uFF0B', '\uFF0D', '\uFF20', // full-width ＝ ＋ － ＠
		'\uFE66', '\uFE62', '\uFE63', '\uFE6B', // small ﹦ ﹢ ﹣ ﹫
		'\u2212': // minus sign −
		return true
	}
	return false
}

// NeutraliseCell returns s with a leading single quote when it starts with a
// character that would make a spreadsheet evaluate it as a formula: =, +, -,
// @, tab, carriage return, or a full-width or small form of =, +, - or @ (see
// dangerous). A spreadsheet opening an exported file then shows the text.
// Other cells are returned unchanged. It is the one cell escaper of every
// exporter: the event log's CSV here, the volume customers' CSV and XLSX.
func NeutraliseCell(s string) string {
	r, _ := utf8.DecodeRuneInString(s)
	if s != "" && dangerous(r) {
		return "'" + s
	}
	return s
}

// Export writes the event log of actor's company as CSV to w: a header row of
// column titles, then one row per event, every cell passed through
// NeutraliseCell. Rows are written as the reader yields them, through a
// buffered csv.Writer, so memory stays flat however many events there are (as
// long as the reader streams).
//
// Like Query it needs the Owner or Admin role (access.ExportEvents resolves
// it first).
//
// Errors: invalid (actor, mode, request), forbidden (role), the reader's
// errors, and w's errors.
func Export(ctx context.Context, r Reader, actor license.Actor, mode ExportMode, req Request, w io.Writer) error {
	if err := checkReader(actor); err != nil {
		return err
	}
	switch mode {
	case CurrentView:
		req.Cursor, req.Limit = "", 0
	case OriginalData:
		req = Request{Columns: AllColumns}
	default:
		return license.Errorf(license.Invalid, "mode", "unknown export mode %q: use current_view or original_data", mode)
	}
	v, err := req.validate(actor.Company)
	if err != nil {
		return err
	}
	v.filter.Limit = 0
	cw := csv.NewWriter(w)
	rec := make([]string, 0, len(v.columns))
	for _, c := range v.columns {
		rec = append(rec, NeutraliseCell(c.Title()))
	}
	if err := cw.Write(rec); err != nil {
		return license.Wrap(license.Internal, err, "eventlog: write CSV header")
	}
	err = r.Events(ctx, v.filter, func(e Event) error {
		if e.Company != actor.Company || !v.matches(e) {
			return nil
		}
		rec = v.row(e, rec)
		for i := range rec {
			rec[i] = NeutraliseCell(rec[i])
		}
		if len(rec) == 1 && rec[0] == "" {
			// encoding/csv writes a lone empty field as an empty line, which
			// readers skip; write it quoted so the row survives.
			cw.Flush()
			if _, err := io.WriteString(w, "\"\"\n"); err != nil {
				return license.Wrap(license.Internal, err, "eventlog: write CSV row")
			}
			return nil
		}
		if err := cw.Write(rec); err != nil {
			return license.Wrap(license.Internal, err, "eventlog: write CSV row")
		}
		return nil
	})
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return license.Wrap(license.Internal, err, "eventlog: write CSV")
	}
	return nil
}
