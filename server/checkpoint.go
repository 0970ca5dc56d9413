package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/storage"
)

// LoadCheckpointKey reads the Ed25519 private key of the event-chain
// checkpoints from path (PKCS #8 in PEM, as openssl genpkey -algorithm
// ed25519 writes it), creating a new one with mode 0600 when the file does
// not exist. A key file that others than its owner may read is refused: the
// key is what lets checkpoints prove the log was not rewritten, and anyone
// who can read it can sign a rewritten log.
func LoadCheckpointKey(path string) (ed25519.PrivateKey, bool, error) {
	return loadKeyFile(path, "checkpoint")
}

// loadKeyFile is LoadCheckpointKey for the key named what ("checkpoint",
// "license"), which the error messages name.
func loadKeyFile(path, what string) (ed25519.PrivateKey, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, false, err
		}
		der, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			return nil, false, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("create the %s key: %w", what, err)
		}
		if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
			f.Close()
			return nil, false, fmt.Errorf("write the %s key: %w", what, err)
		}
		return key, true, f.Close()
	}
	if err != nil {
		return nil, false, fmt.Errorf("read the %s key: %w", what, err)
	}
	if st, err := os.Stat(path); err == nil && st.Mode().Perm()&0o077 != 0 {
		return nil, false, fmt.Errorf("the %s key %s is readable by others (mode %v); chmod 600 it", what, path, st.Mode().Perm())
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, false, fmt.Errorf("the %s key %s is not a PEM private key", what, path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, false, fmt.Errorf("the %s key %s: %w", what, path, err)
	}
	key, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, false, fmt.Errorf("the %s key %s is not an Ed25519 key", what, path)
	}
	return key, false, nil
}

// checkpointRound signs the chain head of every company (the billing
// companies, the tenants of this server) whose head moved since its latest
// checkpoint. Each new checkpoint is also logged: a copy outside the
// database, which is what exposes deleted recent checkpoints or a truncated
// log later. A company whose chain the checkpoint refuses (it no longer
// continues from the latest checkpoint) is logged as an error and skipped.
func checkpointRound(store storage.Store, clock license.Clock, key ed25519.PrivateKey, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		var failed error
		after := ""
		for {
			var cs []storage.Record
			err := store.View(ctx, func(tx storage.Tx) error {
				var err error
				cs, err = tx.List(ctx, storage.ListQuery{AllCompanies: true, Kind: billing.KindCompany, AfterID: after, Limit: 500})
				return err
			})
			if err != nil {
				return err
			}
			for _, c := range cs {
				cp, fresh, err := storage.Checkpoint(ctx, store, c.ID, key, clock.Now())
				switch {
				case err != nil:
					log.Error("event chain checkpoint refused", "company", c.ID, "error_code", string(license.ErrorCode(err)), "error", license.ErrorMessage(err))
					failed = err
				case fresh:
					log.Info("event chain checkpoint", "company", cp.Company, "chain", cp.Chain, "seq", cp.Seq, "hash", cp.Hash, "key_id", cp.KeyID)
				}
			}
			if len(cs) < 500 {
				return failed
			}
			after = cs[len(cs)-1].ID
		}
	}
}
