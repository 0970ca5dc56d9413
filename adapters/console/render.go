package console

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

var pages = []string{"signin", "error", "licenses", "topup", "events", "pools", "pool", "volume", "subscriptions"}

func (h *Handler) parseTemplates() error {
	funcs := template.FuncMap{
		"money":     func(m license.Money) string { return m.String() },
		"lower":     strings.ToLower,
		"payment":   paymentLabel,
		"cell":      eventCell,
		"inv":       invalidAttrs,
		"hasPrefix": strings.HasPrefix,
		// code is the stored value of a string enum, not its display name
		// (license.Metric and license.Model print as "Named user").
		"code":         func(v any) string { return reflect.ValueOf(v).String() },
		"restrictions": restrictionFields,
		"maxUploadMiB": func() int { return pool.MaxAttachmentSize >> 20 },
		"errp":         errorPara,
		"day":          day,
		"words":        func(s any) string { return strings.ReplaceAll(fmt.Sprint(s), "_", " ") },
		"join":         func(v []string) string { return strings.Join(v, "\n") },
		"pct": func(part, total int64) int64 {
			if total <= 0 {
				return 0
			}
			return part * 100 / total
		},
		"query": func(base url.Values, kv ...string) string {
			q := url.Values{}
			for k, v := range base {
				q[k] = append([]string(nil), v...)
			}
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] == "" {
					q.Del(kv[i])
				} else {
					q.Set(kv[i], kv[i+1])
				}
			}
			if len(q) == 0 {
				return "?"
			}
			return "?" + q.Encode()
		},
	}
	for _, p := range pages {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return license.Wrap(license.Internal, err, "console: parse template %s", p)
		}
		h.tmpl[p] = t
	}
	return nil
}

// base fills the data every signed-in page needs.
func (h *Handler) base(u *user, title string, r *http.Request, data map[string]any) map[string]any {
	if data == nil {
		data = map[string]any{}
	}
	data["Title"] = title
	data["Path"] = r.URL.Path
	if u != nil {
		data["User"] = map[string]any{"Email": u.actor.Email, "Role": string(u.role), "Company": u.company}
		data["CSRF"] = u.csrf
		data["CanManage"] = u.role.CanManageLicenses()
		data["CanSeePrices"] = u.role.CanSeePrices()
		data["IsOwner"] = u.role == license.Owner
	}
	return data
}

// render executes the page template into a buffer first, so that a template
// failure is a clean 500 and not half a page.
func (h *Handler) render(w http.ResponseWriter, page string, status int, data map[string]any) {
	var buf bytes.Buffer
	if err := h.tmpl[page].Execute(&buf, data); err != nil {
		h.cfg.Logger.Error("console template", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if status != 0 {
		w.WriteHeader(status)
	}
	_, _ = w.Write(buf.Bytes())
}

// eventCell shows an event-log cell: a time in the log's RFC 3339 form is
// shown to the second in UTC inside a <time> element that keeps the exact
// value; any other cell is shown as it is (escaped).
func eventCell(v string) template.HTML {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return template.HTML(`<time datetime="` + template.HTMLEscapeString(v) + `">` +
			t.UTC().Format("2006-01-02 15:04:05") + ` UTC</time>`)
	}
	return template.HTML(template.HTMLEscapeString(v))
}

// restrictionField is one restriction list of the pool form.
type restrictionField struct {
	Key, Label string
	Values     []string
}

func restrictionFields(r pool.Restrictions) []restrictionField {
	return []restrictionField{
		{"asset_group", "Asset groups", r.AssetGroups}, {"location", "Locations", r.Locations},
		{"organisation", "Organisations", r.Organisations}, {"user", "Users", r.Users},
		{"contract", "Contracts", r.Contracts}, {"cost_center", "Cost centers", r.CostCenters},
		{"company", "Named companies", r.Companies},
	}
}
