package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/pool"
)

// fileBlobs keeps pool attachments as files in one directory, named by the
// SHA-256 of their key (keys are opaque and may contain slashes). Writes go to
// a temporary file renamed into place, so a reader never sees half a file.
// With PostgreSQL and several server instances the directory must be shared
// (or replaced by an object store implementing pool.BlobStore).
type fileBlobs struct{ dir string }

var _ pool.BlobStore = fileBlobs{}

func (b fileBlobs) path(key string) string {
	s := sha256.Sum256([]byte(key))
	return filepath.Join(b.dir, hex.EncodeToString(s[:]))
}

func (b fileBlobs) Put(_ context.Context, key string, data []byte) error {
	if len(data) > pool.MaxAttachmentSize {
		return license.Errorf(license.Invalid, "attachment", "an attachment may be at most %d bytes", pool.MaxAttachmentSize)
	}
	if err := os.MkdirAll(b.dir, 0o700); err != nil {
		return license.Wrap(license.Unavailable, err, "attachments directory")
	}
	f, err := os.CreateTemp(b.dir, ".upload-*")
	if err != nil {
		return license.Wrap(license.Unavailable, err, "store the attachment")
	}
	_, werr := f.Write(data)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return license.Wrap(license.Unavailable, err, "store the attachment")
	}
	if err := os.Rename(f.Name(), b.path(key)); err != nil {
		_ = os.Remove(f.Name())
		return license.Wrap(license.Unavailable, err, "store the attachment")
	}
	return nil
}

func (b fileBlobs) Get(_ context.Context, key string) ([]byte, error) {
	data, err := os.ReadFile(b.path(key))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, license.Errorf(license.NotFound, "attachment", "the attachment's bytes are missing")
	}
	if err != nil {
		return nil, license.Wrap(license.Unavailable, err, "read the attachment")
	}
	return data, nil
}

func (b fileBlobs) Delete(_ context.Context, key string) error {
	err := os.Remove(b.path(key))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return license.Wrap(license.Unavailable, err, "remove the attachment")
	}
	return nil
}
