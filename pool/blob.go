package pool

import (
	"context"
	"sync"

	"github.com/licensekit/licensekit/license"
)

// BlobStore keeps attachment bytes outside the records. Keys are opaque strings
// chosen by the pool service. Implementations must be safe for concurrent use.
type BlobStore interface {
	// Put stores data under key, replacing any previous bytes.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the bytes under key, or a NotFound *license.Error.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// MemoryBlobs is an in-memory BlobStore with a per-blob size limit.
type MemoryBlobs struct {
	// Limit is the largest blob accepted, in bytes (0 means MaxAttachmentSize).
	Limit int64

	mu sync.Mutex
	m  map[string][]byte
}

var _ BlobStore = (*MemoryBlobs)(nil)

// NewMemoryBlobs returns an empty in-memory blob store limited to limit bytes per
// blob (0 means MaxAttachmentSize).
func NewMemoryBlobs(limit int64) *MemoryBlobs { return &MemoryBlobs{Limit: limit} }

func (b *MemoryBlobs) limit() int64 {
	if b.Limit <= 0 {
		return MaxAttachmentSize
	}
	return b.Limit
}

// Put stores a copy of data. Data above the limit is Invalid (field "attachment").
func (b *MemoryBlobs) Put(_ context.Context, key string, data []byte) error {
	if int64(len(data)) > b.limit() {
		return license.Errorf(license.Invalid, "attachment", "the attachment is %d bytes; the limit is %d bytes", len(data), b.limit())
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.m == nil {
		b.m = map[string][]byte{}
	}
	b.m[key] = append([]byte(nil), data...)
	return nil
}

// Get returns a copy of the bytes under key.
func (b *MemoryBlobs) Get(_ context.Context, key string) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.m[key]
	if !ok {
		return nil, license.Errorf(license.NotFound, "attachment", "no attachment data under %q", key)
	}
	return append([]byte(nil), d...), nil
}

// Delete removes key.
func (b *MemoryBlobs) Delete(_ context.Context, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
	return nil
}

// Len returns how many blobs are stored (for tests).
func (b *MemoryBlobs) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}
