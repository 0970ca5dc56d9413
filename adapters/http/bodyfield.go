package http

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/licensekit/licensekit/license"
)

// withBodyField names the field of a value whose own JSON decoder refused it.
// A license.Money decoder knows only its inner fields ("amount", "currency"),
// not where the money sits in the request; the body is searched for the first
// money object that does not parse, and the error is reported on its path
// ("unit_price", "price_per_user"). Other errors are returned unchanged.
func withBodyField(le *license.Error, body []byte) *license.Error {
	if le.Field != "amount" && le.Field != "currency" {
		return le
	}
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if dec.Decode(&doc) != nil {
		return le
	}
	path, ok := badMoney(doc, "")
	if !ok || path == "" {
		return le
	}
	out := *le
	out.Field = path
	return &out
}

// badMoney returns the path of the first money object under v (keys in sorted
// order) that license.ParseMoney refuses.
func badMoney(v any, path string) (string, bool) {
	switch v := v.(type) {
	case map[string]any:
		if a, ok := v["amount"]; ok {
			amount, isText := a.(string)
			currency, _ := v["currency"].(string)
			if !isText {
				return path, true
			}
			if _, err := license.ParseMoney(amount, currency); err != nil {
				return path, true
			}
		}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			sub := k
			if path != "" {
				sub = path + "." + k
			}
			if p, ok := badMoney(v[k], sub); ok {
				return p, true
			}
		}
	case []any:
		for i, e := range v {
			if p, ok := badMoney(e, fmt.Sprintf("%s[%d]", path, i)); ok {
				return p, true
			}
		}
	}
	return "", false
}
