package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client calls a licensekit server's REST API with one API key, over a
// keep-alive transport sized for many concurrent clients.
type Client struct {
	Base string // server URL without a trailing slash, e.g. http://127.0.0.1:8080
	Key  string // API key (lk_...)
	HTTP *http.Client
}

// NewClient returns a Client whose transport keeps up to conns idle
// connections to the server.
func NewClient(base, key string, conns int) *Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = max(conns, 2)
	tr.MaxIdleConnsPerHost = max(conns, 2)
	return &Client{Base: strings.TrimRight(base, "/"), Key: key, HTTP: &http.Client{Transport: tr}}
}

// StatusError is a response with an unexpected status.
type StatusError struct {
	Method, Path string
	Status       int
	Body         string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("%s %s: status %d: %s", e.Method, e.Path, e.Status, e.Body)
}

// Do sends body (JSON-encoded when not nil) and decodes the answer into out
// (when not nil). A status other than want is a *StatusError.
func (c *Client) Do(ctx context.Context, method, path string, body, out any, want int) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Key)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := c.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	if res.StatusCode != want {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		return &StatusError{Method: method, Path: path, Status: res.StatusCode, Body: strings.TrimSpace(string(b))}
	}
	if out != nil {
		if err := json.NewDecoder(res.Body).Decode(out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, path, err)
		}
	}
	_, err = io.Copy(io.Discard, res.Body) // drain, so the connection is reused
	return err
}

// AcquireLease takes a concurrent-user seat of pool for user and returns the
// lease's ID (POST /v1/pools/{id}/leases, 201).
func (c *Client) AcquireLease(ctx context.Context, pool, user string) (string, error) {
	return c.AcquireLeaseWaiting(ctx, pool, user, 0)
}

// AcquireLeaseWaiting is AcquireLease that, when no seat is free, waits for
// one on the server for up to wait (whole seconds, at most 30: the request's
// wait_seconds; 0 waits not at all) before the 409.
func (c *Client) AcquireLeaseWaiting(ctx context.Context, pool, user string, wait time.Duration) (string, error) {
	var l struct {
		ID string `json:"id"`
	}
	body := map[string]any{"consumer": map[string]string{"user": user}}
	if wait > 0 {
		body["wait_seconds"] = int64(wait / time.Second)
	}
	err := c.Do(ctx, "POST", "/v1/pools/"+pool+"/leases", body, &l, http.StatusCreated)
	return l.ID, err
}

// ReleaseLease gives the seat back (DELETE /v1/pools/{id}/leases/{lease}, 200).
func (c *Client) ReleaseLease(ctx context.Context, pool, lease string) error {
	return c.Do(ctx, "DELETE", "/v1/pools/"+pool+"/leases/"+lease, nil, nil, http.StatusOK)
}

// PurchaseQuote is the part of a purchase preview the load generator checks.
type PurchaseQuote struct {
	Minimum  int64 `json:"minimum"`
	NewTotal int64 `json:"new_total"`
}

// PreviewPurchase asks what buying quantity licenses for site would cost
// (POST /v1/sites/{id}/purchase/preview, 200). It changes nothing.
func (c *Client) PreviewPurchase(ctx context.Context, site string, quantity int64) (PurchaseQuote, error) {
	var q PurchaseQuote
	err := c.Do(ctx, "POST", "/v1/sites/"+site+"/purchase/preview", map[string]int64{"quantity": quantity}, &q, http.StatusOK)
	return q, err
}
