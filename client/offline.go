package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	api "github.com/licensekit/licensekit/adapters/http/client"
	"github.com/licensekit/licensekit/license/licensefile"
)

// Borrowed is a seat checked out for offline use: the signed license file
// (licensefile format) and what it names.
type Borrowed struct {
	Pool      string
	Lease     string
	ExpiresAt time.Time
	File      []byte
}

// Borrow checks a seat of concurrent-user pool out for days days (1 to 30):
// the server keeps it taken without heartbeats until then and signs a
// license file for this machine's fingerprint. With public keys
// (WithPublicKeys) the file is verified before it is accepted. The file is
// kept in the state, so BorrowedFile and VerifyBorrowed work offline after a
// restart. Return gives the seat back early; so does Lease on the same pool,
// which turns it back into an ordinary seat.
func (c *Client) Borrow(ctx context.Context, pool string, days int) (Borrowed, error) {
	if pool == "" || len(pool) > 128 {
		return Borrowed{}, errors.New("client: a pool id is required")
	}
	key := newKey("borrow")
	rsp, err := call(ctx, c, http.StatusOK, func(ctx context.Context) (*api.PostV1PoolsIdBorrowResponse, error) {
		return c.api.PostV1PoolsIdBorrowWithResponse(ctx, pool, &api.PostV1PoolsIdBorrowParams{IdempotencyKey: &key},
			api.HttpBorrowBodyInput{Consumer: c.apiConsumer(), Days: &days})
	})
	if err != nil {
		return Borrowed{}, err
	}
	if rsp.JSON200 == nil {
		return Borrowed{}, errors.New("client: the server's answer has no body")
	}
	b := Borrowed{Pool: pool, Lease: rsp.JSON200.Lease.Id, ExpiresAt: rsp.JSON200.Lease.ExpiresAt.UTC(), File: []byte(rsp.JSON200.File)}
	if len(c.keys) > 0 {
		if _, err := c.VerifyFile(b.File, licensefile.Request{Fingerprint: c.consumer.Fingerprint}); err != nil {
			return Borrowed{}, fmt.Errorf("client: the borrowed seat's file does not verify: %w", err)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.st.Borrowed == nil {
		c.st.Borrowed = map[string]borrowed{}
	}
	c.st.Borrowed[pool] = borrowed{Lease: b.Lease, File: string(b.File)}
	return b, c.saveLocked()
}

// BorrowedFile returns the license file of the seat borrowed from pool, if
// the state holds one.
func (c *Client) BorrowedFile(pool string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.st.Borrowed[pool]
	return []byte(b.File), ok
}

// VerifyBorrowed verifies the file of the seat borrowed from pool for this
// machine (VerifyFile), offline.
func (c *Client) VerifyBorrowed(pool string) (*licensefile.Result, error) {
	f, ok := c.BorrowedFile(pool)
	if !ok {
		return nil, fmt.Errorf("client: no seat borrowed from pool %q", pool)
	}
	return c.VerifyFile(f, licensefile.Request{Fingerprint: c.consumer.Fingerprint, Entitlements: c.features})
}

// Return gives a borrowed seat of pool back before its file expires and
// drops the file from the state. A seat the server no longer holds is not an
// error.
func (c *Client) Return(ctx context.Context, pool string) error {
	c.mu.Lock()
	b, ok := c.st.Borrowed[pool]
	c.mu.Unlock()
	if !ok {
		return nil
	}
	_, err := call(ctx, c, http.StatusOK, func(ctx context.Context) (*api.DeleteV1PoolsIdLeasesLeaseResponse, error) {
		return c.api.DeleteV1PoolsIdLeasesLeaseWithResponse(ctx, pool, b.Lease, nil)
	})
	if err != nil && ErrorCode(err) != "not_found" {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.st.Borrowed, pool)
	return c.saveLocked()
}

// VerifyFile checks a license file offline with the vendor's public keys
// (WithPublicKeys): format, key id (an unknown key is refused), signature,
// machine, validity and entitlements, as licensefile.Verifier does, at the
// client's clock. A clock set back beyond the tolerance is refused
// (ErrClockRollback) before the file is read, so rolling the clock back
// cannot revive an expired file.
func (c *Client) VerifyFile(file []byte, req licensefile.Request) (*licensefile.Result, error) {
	now, err := c.Now()
	if err != nil {
		return nil, err
	}
	v := licensefile.Verifier{Keys: c.keys, Now: func() time.Time { return now }}
	return v.Verify(file, req)
}
