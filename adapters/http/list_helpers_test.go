package http_test

import (
	"encoding/json"
	"net/url"
	"strings"

	"github.com/stretchr/testify/require"
)

// listPage is the list envelope as a client sees it.
type listPage struct {
	Items      []json.RawMessage `json:"items"`
	NextCursor string            `json:"next_cursor"`
}

// list GETs every page of a list route (following next_cursor) and decodes
// all the items, in order, into out (a pointer to a slice).
func (f *fixture) list(path, key string, out any) {
	f.t.Helper()
	var all []json.RawMessage
	next := path
	for pages := 0; ; pages++ {
		require.Less(f.t, pages, 10000, "the walk of %s ends", path)
		var p listPage
		f.ok(200, "GET", next, key, nil, &p)
		require.NotNil(f.t, p.Items, "%s answers an items array", next)
		all = append(all, p.Items...)
		if p.NextCursor == "" {
			break
		}
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		next = path + sep + "cursor=" + url.QueryEscape(p.NextCursor)
	}
	if all == nil {
		all = []json.RawMessage{}
	}
	b, err := json.Marshal(all)
	require.NoError(f.t, err)
	require.NoError(f.t, json.Unmarshal(b, out))
}
