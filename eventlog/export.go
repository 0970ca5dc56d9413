package eventlog

import (
	"context"
	"encoding/csv"
	"errors"
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

// Export page bounds: Export asks its Reader for at most ExportPageEvents
// events per call, and stops a call early once the events it holds from it
// reach about ExportPageBytes.
const (
	ExportPageEvents = 500
	ExportPageBytes  = 1 << 20
)

// errExportPageFull stops one page of an export.
var errExportPageFull = errors.New("eventlog: export page full")

// Export writes the event log of actor's company as CSV to w: a header row of
// column titles, then one row per event, every cell passed through
// NeutraliseCell.
//
// The log is read in short keyset pages: each call of r.Events asks for the
// events after the last one of the previous call (at most ExportPageEvents,
// about ExportPageBytes), and the page is written to w only after that call
// has returned. A Reader that opens one short read transaction per call (as
// the HTTP adapter's does) therefore never holds a transaction or a store
// connection while w blocks on a slow client, and memory stays flat however
// many events there are. The export covers the events appended before it
// started: one appended while it runs is left out, so it always ends. Events
// are written in the Request's order; paging by keyset neither repeats nor
// skips an event.
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
	cw := csv.NewWriter(w)
	rec := make([]string, 0, len(v.columns))
	for _, c := range v.columns {
		rec = append(rec, NeutraliseCell(c.Title()))
	}
	if err := cw.Write(rec); err != nil {
		return license.Wrap(license.Internal, err, "eventlog: write CSV header")
	}
	writeRow := func(e Event) error {
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
	}
	head, err := lastSeq(ctx, r, actor.Company)
	if err != nil {
		return err
	}
	f := v.filter
	f.Limit = ExportPageEvents
	page := make([]Event, 0, 64)
	for head > 0 {
		page = page[:0]
		seen, size := 0, 0
		var last Event
		err := r.Events(ctx, f, func(e Event) error {
			if f.After != nil && e.Seq == f.After.Seq {
				return license.Errorf(license.Internal, "", "eventlog: the reader repeats the event at the cursor")
			}
			seen++
			last = e
			if e.Company == actor.Company && e.Seq <= head && v.matches(e) {
				page = append(page, e)
				size += eventSize(e)
			}
			if size >= ExportPageBytes {
				return errExportPageFull
			}
			return nil
		})
		full := errors.Is(err, errExportPageFull)
		if err != nil && !full {
			return err
		}
		// The page is written with no call of the reader in progress.
		for _, e := range page {
			if err := writeRow(e); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return license.Wrap(license.Internal, err, "eventlog: write CSV")
		}
		clear(page) // let the page's events go before the next read
		if !full && seen != f.Limit {
			break // the last page (a reader that ignores Limit gives every event at once)
		}
		f.After = &Cursor{Key: sortKey(last, f.Sort), Seq: last.Seq}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return license.Wrap(license.Internal, err, "eventlog: write CSV")
	}
	return nil
}

// lastSeq returns the Seq of company's newest event, 0 when it has none.
func lastSeq(ctx context.Context, r Reader, company string) (int64, error) {
	var head int64
	err := r.Events(ctx, Filter{Company: company, Sort: ColSeq, Desc: true, Limit: 1}, func(e Event) error {
		if e.Seq > head {
			head = e.Seq
		}
		return errExportPageFull
	})
	if err != nil && !errors.Is(err, errExportPageFull) {
		return 0, err
	}
	return head, nil
}

// eventSize estimates the memory an event holds.
func eventSize(e Event) int {
	return 128 + len(e.ID) + len(e.Company) + len(e.Type) + len(e.Source) + len(e.Target) +
		len(e.Actor) + len(e.Subject) + len(e.Details) + len(e.PrevHash) + len(e.Hash)
}
