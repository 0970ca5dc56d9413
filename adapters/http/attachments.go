package http

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

// Removed answers a deletion.
type Removed struct {
	Removed string `json:"removed"`
}

// attachmentRoutes upload (the raw bytes as the body, the name in ?name=, the
// type in Content-Type), download and remove pool attachments. The pool
// service needs a BlobStore (Services.Pools.Blobs); without one these routes
// answer 503.
func (h *Handler) attachmentRoutes() []Route {
	p := func() *pool.Service { return h.cfg.Pools }
	upload := Route{Method: "POST", Path: "/v1/pools/{id}/attachments", Tag: "pools", Access: Editor,
		Summary:  "Attach a file to a pool: the body is the file, ?name= its name, Content-Type its type",
		Consumes: "application/octet-stream", Response: typeOf[pool.Attachment](), Status: http.StatusCreated,
		Query:   []Param{{Name: "name", Description: "the file name (required)"}},
		MaxBody: pool.MaxAttachmentSize, Retry: RetryUnsafe,
		serve: func(c *call) error {
			name := c.r.URL.Query().Get("name")
			ct := c.r.Header.Get("Content-Type")
			if ct == "" {
				ct = "application/octet-stream"
			}
			if _, _, err := mime.ParseMediaType(ct); err != nil {
				return license.Errorf(license.Invalid, "Content-Type", "the Content-Type %q is not a media type", ct)
			}
			data, err := io.ReadAll(c.r.Body)
			if err != nil {
				var mbe *http.MaxBytesError
				if asMaxBytes(err, &mbe) {
					return tooLarge(mbe.Limit)
				}
				return license.Errorf(license.Invalid, "body", "the upload was cut short")
			}
			a, err := p().AddAttachment(c.r.Context(), c.actor, c.path("id"), pool.AttachmentInput{Name: name, ContentType: ct, Data: data})
			if err != nil {
				return err
			}
			if loc := c.location(a); loc != "" {
				c.w.Header().Set("Location", loc)
			}
			writeJSON(c.w, http.StatusCreated, a)
			return nil
		}}
	download := Route{Method: "GET", Path: "/v1/pools/{id}/attachments/{attachment}", Tag: "pools", Access: Member,
		Summary: "Download a pool attachment", Produces: "application/octet-stream", Status: http.StatusOK,
		serve: func(c *call) error {
			a, data, err := p().Attachment(c.r.Context(), c.actor, c.path("id"), c.path("attachment"))
			if err != nil {
				return err
			}
			hd := c.w.Header()
			hd.Set("Content-Type", a.ContentType)
			hd.Set("Content-Length", strconv.Itoa(len(data)))
			// The type and name come from users: never render them on the API's origin.
			hd.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": safeFilename(a.Name)}))
			hd.Set("X-Content-Type-Options", "nosniff")
			hd.Set("Content-Security-Policy", "sandbox; default-src 'none'")
			c.w.WriteHeader(http.StatusOK)
			_, _ = c.w.Write(data)
			return nil
		}}
	return []Route{
		upload,
		download,
		op("DELETE", "/v1/pools/{id}/attachments/{attachment}", "pools", "Remove a pool attachment", Editor,
			func(c *call, _ none) (Removed, error) {
				err := p().RemoveAttachment(c.r.Context(), c.actor, c.path("id"), c.path("attachment"))
				return Removed{Removed: c.path("attachment")}, err
			}),
	}
}

// safeFilename keeps a name printable for a Content-Disposition header.
func safeFilename(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '"' || r == '\\' || r == '/' {
			return '_'
		}
		return r
	}, s)
	if s == "" {
		return "attachment"
	}
	return s
}
