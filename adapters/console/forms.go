package console

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/licensekit/licensekit/license"
)

// formState carries a refusal back to the form it is about: the form, the
// field at fault, the domain's message, and what the person typed, so the page
// shows the form again as it was with the message next to the field.
type formState struct {
	Form, Field, Error string
	Values             url.Values
}

// At reports whether the refusal is about field of form.
func (f *formState) At(form, field string) bool {
	return f != nil && f.Error != "" && f.Form == form && f.Field == field
}

// V is the value typed in field name of form when that form was refused, else def.
func (f *formState) V(form, name, def string) string {
	if f != nil && f.Form == form && f.Values != nil {
		return f.Values.Get(name)
	}
	return def
}

// Checked is V for a checkbox.
func (f *formState) Checked(form, name string, def bool) bool {
	if f != nil && f.Form == form && f.Values != nil {
		return f.Values.Get(name) != ""
	}
	return def
}

// fieldID is the element ID of a form's field message.
func fieldID(form, field string) string {
	return form + "-" + strings.NewReplacer(".", "-", "_", "-", ":", "-").Replace(field) + "-error"
}

// invalidAttrs marks an input refused: aria-invalid and the message's ID.
func invalidAttrs(f *formState, form, field string) template.HTMLAttr {
	if !f.At(form, field) {
		return ""
	}
	return template.HTMLAttr(`aria-invalid="true" aria-describedby="` + fieldID(form, field) + `"`)
}

// errorPara is the message of a refused field, announced as an alert.
func errorPara(f *formState, form, field string) template.HTML {
	if !f.At(form, field) {
		return ""
	}
	return template.HTML(`<p id="` + fieldID(form, field) + `" class="error" role="alert">` + template.HTMLEscapeString(f.Error) + `</p>`)
}

// done finishes a change: on success, post/redirect/get to back with notice
// shown once; on a role refusal, a 403 page; on another refusal, show (the
// page again) with the domain's message on the form's field — the domain's
// field when the form has it, else fields[0].
func (h *Handler) done(w http.ResponseWriter, r *http.Request, u *user, err error, form string, fields []string,
	notice, back string, show func(status int, f *formState)) {
	if err == nil {
		h.sessions.setFlash(u.token, notice)
		http.Redirect(w, r, back, http.StatusSeeOther)
		return
	}
	if license.ErrorCode(err) == license.Forbidden {
		h.fail(w, r, u, http.StatusForbidden, message(err))
		return
	}
	if statusOf(err) >= 500 {
		h.cfg.Logger.Error("console change", "form", form, "err", err)
	}
	field := license.ErrorField(err)
	if !slices.Contains(fields, field) && len(fields) > 0 {
		field = fields[0]
	}
	_ = r.ParseForm()
	vals := url.Values{}
	for k, v := range r.PostForm {
		if k != "csrf" && k != "idem" {
			vals[k] = v
		}
	}
	show(statusOf(err), &formState{Form: form, Field: field, Error: message(err), Values: vals})
}

// viewQuery is the view of the page a request shows (search, sort,
// filters): the URL's query on a GET, the form's "back" field on a POST that
// shows the page again with a refusal.
func viewQuery(r *http.Request) url.Values {
	if r.Method == http.MethodGet {
		return r.URL.Query()
	}
	q, _ := url.ParseQuery(r.PostFormValue("back"))
	return q
}

// formInt reads a whole number from field name; a malformed one is an
// Invalid error on field.
func formInt(r *http.Request, name, field string, what string) (int64, error) {
	v := strings.TrimSpace(r.PostFormValue(name))
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, license.Errorf(license.Invalid, field, "enter %s as a whole number", what)
	}
	return n, nil
}

// formDate reads a YYYY-MM-DD date (UTC); empty is the zero time.
func formDate(r *http.Request, name, field string) (time.Time, error) {
	v := strings.TrimSpace(r.PostFormValue(name))
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse("2006-01-02", v)
	if err != nil {
		return time.Time{}, license.Errorf(license.Invalid, field, "enter the date as YYYY-MM-DD")
	}
	return t, nil
}

// lines splits a textarea into its non-empty lines (commas separate too).
func lines(v string) []string {
	var out []string
	for _, l := range strings.FieldsFunc(v, func(r rune) bool { return r == '\n' || r == ',' }) {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func day(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02")
}
