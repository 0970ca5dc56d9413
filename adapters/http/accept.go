package http

import (
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// Exports honour Accept: the media types an export route offers are listed
// in order of preference, the first being the default. No Accept header, or
// */*, gives the default; type/* gives the first offer of that type; a type
// offered gives that type; the highest q wins (q=0 refuses a type). When no
// offer is acceptable the answer is 406 not_acceptable.

// Media types of the exports.
const (
	mediaCSV  = "text/csv"
	mediaXLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

// negotiate returns the offer the request's Accept header prefers.
func negotiate(r *http.Request, offers ...string) (string, error) {
	header := strings.Join(r.Header.Values("Accept"), ",")
	if strings.TrimSpace(header) == "" {
		return offers[0], nil
	}
	best, bestQ := "", 0.0
	for _, part := range strings.Split(header, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		mt, params, err := mime.ParseMediaType(part)
		if err != nil {
			continue
		}
		q := 1.0
		if s, ok := params["q"]; ok {
			if v, err := strconv.ParseFloat(s, 64); err == nil && v >= 0 && v <= 1 {
				q = v
			}
		}
		if q == 0 || q <= bestQ {
			continue
		}
		if o := match(mt, offers); o != "" {
			best, bestQ = o, q
		}
	}
	if best == "" {
		return "", &protocolError{status: http.StatusNotAcceptable, code: CodeNotAcceptable, field: "Accept",
			msg: "this export is available as " + strings.Join(offers, " or ")}
	}
	return best, nil
}

// match is the first offer that media range mt covers ("" for none).
func match(mt string, offers []string) string {
	if mt == "*/*" {
		return offers[0]
	}
	for _, o := range offers {
		if o == mt {
			return o
		}
		if typ, ok := strings.CutSuffix(mt, "/*"); ok && strings.HasPrefix(o, typ+"/") {
			return o
		}
	}
	return ""
}
