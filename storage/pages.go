package storage

import "context"

// ForEachRecord calls fn with every record q selects, in ID order, reading
// them in pages of page records (100 when page <= 0), each page in a read
// transaction of its own: fn runs outside any transaction, so it may use s,
// and a long walk holds no transaction. A record committed while the walk
// goes on may or may not be seen. q.AfterID and q.Limit are the walk's own.
// It stops at fn's first error and returns it.
func ForEachRecord(ctx context.Context, s Store, q ListQuery, page int, fn func(Record) error) error {
	if page <= 0 {
		page = 100
	}
	q.AfterID, q.Limit = "", page
	for {
		var recs []Record
		err := s.View(ctx, func(tx Tx) error {
			var err error
			recs, err = tx.List(ctx, q)
			return err
		})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if err := fn(r); err != nil {
				return err
			}
		}
		if len(recs) < page {
			return nil
		}
		q.AfterID = recs[len(recs)-1].ID
	}
}
