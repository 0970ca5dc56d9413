package server

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/licensekit/licensekit/apikey"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// ownerKey is what this start did about the demo owner's API key.
type ownerKey struct {
	key    string // the key issued by this start ("" when none)
	file   string // where it was written ("" when printed)
	reused bool   // none issued: the first start's key (or a later -new-owner-key's) stands
}

// issueOwnerKey issues the demo owner's key once per store (apikey.Bootstrap),
// or a further one when c.newOwnerKey asks for it. With c.ownerKeyFile the key
// is written to that file (mode 0600) inside the issuing transaction, so a
// key that could not be written is not issued either.
func issueOwnerKey(ctx context.Context, store storage.Store, clock license.Clock, c config, d Demo) (ownerKey, error) {
	out := ownerKey{file: c.ownerKeyFile}
	wrote := false
	deliver := func(k apikey.Created) error {
		if c.ownerKeyFile == "" {
			return nil
		}
		wrote = true
		return writeKeyFile(c.ownerKeyFile, k.Key)
	}
	var err error
	if c.newOwnerKey {
		var k apikey.Created
		k, err = apikey.IssueFor(ctx, store, clock, d.Company, apikey.New{Name: "issued by -new-owner-key", Email: d.Owner, Role: license.Owner}, license.SystemEmail)
		if err == nil {
			out.key = k.Key
			err = deliver(k)
		}
	} else {
		var k apikey.Created
		var issued bool
		k, issued, err = apikey.Bootstrap(ctx, store, clock, d.Company, d.Owner, deliver)
		out.key, out.reused = k.Key, !issued
	}
	if err != nil {
		if wrote {
			_ = os.Remove(c.ownerKeyFile)
		}
		return ownerKey{}, err
	}
	return out, nil
}

// writeKeyFile writes key to path readable by its owner only.
func writeKeyFile(path, key string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("write the owner key: %w", err)
	}
	// An existing file keeps its mode on open: make it private before writing.
	err = errors.Join(f.Chmod(0o600), func() error { _, err := f.WriteString(key + "\n"); return err }(), f.Sync(), f.Close())
	if err != nil {
		return fmt.Errorf("write the owner key to %s: %w", path, err)
	}
	return nil
}
