package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/licensekit/licensekit/apikey"
	"github.com/licensekit/licensekit/billing"
	"github.com/licensekit/licensekit/eventlog"
	"github.com/licensekit/licensekit/license"
	"github.com/licensekit/licensekit/server"
	"github.com/licensekit/licensekit/storage"
	"github.com/licensekit/licensekit/storage/postgres"
	"github.com/licensekit/licensekit/storage/sqlite"
)

// createdByCLI is the "initiated by" of the keys and companies this command
// creates.
const createdByCLI = license.SystemEmail

// companyExists fails with not_found unless company is a company of store.
func companyExists(ctx context.Context, st storage.Store, company string) error {
	return st.View(ctx, func(tx storage.Tx) error {
		_, err := tx.Get(ctx, company, billing.KindCompany, company)
		if storage.IsNotFound(err) {
			return license.Errorf(license.NotFound, "company", "no company %q in this store", company)
		}
		return err
	})
}

// deliverKey prints key on stdout, or writes it to file (mode 0600).
func deliverKey(e *env, file, key string) error {
	if file == "" {
		fmt.Fprintln(e.stdout, key)
		return nil
	}
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write the key: %w", err)
	}
	_, err = fmt.Fprintln(f, key)
	return errors.Join(err, f.Sync(), f.Close())
}

func keysCreate(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	st := defineStore(fs, e)
	company := fs.String("company", "", "the company (tenant) ID (required)")
	email := fs.String("email", "", "the e-mail address the key acts as (required)")
	role := fs.String("role", "", "the key's role: owner, admin, editor, license_admin or viewer, as the API's (required)")
	name := fs.String("name", "", "a name to recognise the key by")
	expires := fs.Duration("expires-in", 0, "the key stops working after this long (0: never)")
	keyFile := fs.String("key-file", "", "write the key to this new file (mode 0600) instead of printing it")
	return func(ctx context.Context, args []string) error {
		if err := errors.Join(noArgs(args), required("company", *company), required("email", *email), required("role", *role)); err != nil {
			return err
		}
		if *expires < 0 {
			return usagef("-expires-in must be positive")
		}
		return st.with(ctx, func(s storage.Store) error {
			if err := companyExists(ctx, s, *company); err != nil {
				return err
			}
			in := apikey.New{Name: *name, Email: *email, Role: license.Role(*role)}
			if *expires > 0 {
				at := e.clock.Now().UTC().Add(*expires)
				in.ExpiresAt = &at
			}
			k, err := apikey.IssueFor(ctx, s, e.clock, *company, in, createdByCLI)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "licensekit: issued %s (%s, %s) in company %s; it is shown once\n", k.APIKey.ID, k.APIKey.Role, k.APIKey.Email, *company)
			return deliverKey(e, *keyFile, k.Key)
		})
	}
}

func keysList(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	st := defineStore(fs, e)
	company := fs.String("company", "", "the company (tenant) ID (required)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table")
	return func(ctx context.Context, args []string) error {
		if err := errors.Join(noArgs(args), required("company", *company)); err != nil {
			return err
		}
		return st.with(ctx, func(s storage.Store) error {
			if err := companyExists(ctx, s, *company); err != nil {
				return err
			}
			keys, err := (&apikey.Service{Store: s, Clock: e.clock}).List(ctx, license.System(*company))
			if err != nil {
				return err
			}
			if *asJSON {
				return printJSON(e.stdout, keys)
			}
			tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tROLE\tEMAIL\tNAME\tCREATED\tEXPIRES\tREVOKED")
			for _, k := range keys {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.ID, k.Role, k.Email, k.Name, k.CreatedAt.UTC().Format(time.RFC3339),
					when(k.ExpiresAt), when(k.RevokedAt))
			}
			return tw.Flush()
		})
	}
}

func when(t *time.Time) string {
	if t == nil {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func keysRevoke(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	st := defineStore(fs, e)
	company := fs.String("company", "", "the company (tenant) ID (required)")
	return func(ctx context.Context, args []string) error {
		if len(args) != 1 {
			return usagef("give one key ID (key_...); licensekit keys list shows them")
		}
		if err := required("company", *company); err != nil {
			return err
		}
		return st.with(ctx, func(s storage.Store) error {
			if err := companyExists(ctx, s, *company); err != nil {
				return err
			}
			k, err := (&apikey.Service{Store: s, Clock: e.clock}).Revoke(ctx, license.System(*company), args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "revoked %s (%s, %s)\n", k.ID, k.Role, k.Email)
			return nil
		})
	}
}

func companyCreate(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	st := defineStore(fs, e)
	name := fs.String("name", "", "the company's name (required)")
	owner := fs.String("owner", "", "the owner's e-mail address (required)")
	keyFile := fs.String("key-file", "", "write the owner's API key to this new file (mode 0600) instead of printing it")
	return func(ctx context.Context, args []string) error {
		if err := errors.Join(noArgs(args), required("name", *name), required("owner", *owner)); err != nil {
			return err
		}
		return st.with(ctx, func(s storage.Store) error {
			actor := license.Actor{Company: license.NewID(), Email: *owner, Role: license.Owner}
			c, err := (&billing.Service{Store: s, Clock: e.clock}).CreateCompany(ctx, actor, *name)
			if err != nil {
				return err
			}
			k, err := apikey.IssueFor(ctx, s, e.clock, c.ID, apikey.New{Name: "owner key (licensekit company create)", Email: *owner, Role: license.Owner}, createdByCLI)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stderr, "licensekit: created company %q with owner %s and the owner's key %s; the key is shown once\n", c.Name, *owner, k.APIKey.ID)
			fmt.Fprintln(e.stdout, c.ID)
			return deliverKey(e, *keyFile, k.Key)
		})
	}
}

// schemaVersion reads the store's schema version without migrating.
func (s *storeFlags) schemaVersion(ctx context.Context) (current, known int, err error) {
	if s.postgres != "" {
		return postgres.SchemaVersion(ctx, s.postgres)
	}
	return sqlite.SchemaVersion(ctx, s.sqlite)
}

func migrateUp(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	st := defineStore(fs, e)
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		before, known, err := st.schemaVersion(ctx)
		if err != nil {
			return err
		}
		if before > known {
			return newerSchema(before, known)
		}
		if err := st.with(ctx, func(storage.Store) error { return nil }); err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "schema at version %d (was %d)\n", known, before)
		return nil
	}
}

func newerSchema(current, known int) error {
	return license.Errorf(license.Conflict, "schema", "the database schema is at version %d, newer than this licensekit knows (%d): use a newer licensekit; nothing was changed", current, known)
}

func migrateStatus(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	st := defineStore(fs, e)
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		current, known, err := st.schemaVersion(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "schema version %d, this licensekit knows %d: ", current, known)
		switch {
		case current > known:
			fmt.Fprintln(e.stdout, "newer than this licensekit")
			return newerSchema(current, known)
		case current < known:
			fmt.Fprintf(e.stdout, "%d to apply (licensekit migrate up, or any start of the server)\n", known-current)
		default:
			fmt.Fprintln(e.stdout, "up to date")
		}
		return nil
	}
}

func verify(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	st := defineStore(fs, e)
	company := fs.String("company", "", "verify this company only (default: every company)")
	keyFile := fs.String("checkpoint-key", e.getenv("LICENSEKIT_CHECKPOINT_KEY"), "the server's checkpoint key file (its public key checks the signed checkpoints) (env LICENSEKIT_CHECKPOINT_KEY)")
	pubHex := fs.String("checkpoint-public-key", "", "the checkpoints' Ed25519 public key in hex (as the server logs it), instead of the key file")
	asJSON := fs.Bool("json", false, "print each company's verification as JSON")
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		var keys []ed25519.PublicKey
		switch {
		case *pubHex != "":
			b, err := hex.DecodeString(*pubHex)
			if err != nil || len(b) != ed25519.PublicKeySize {
				return usagef("-checkpoint-public-key must be %d bytes in hex", ed25519.PublicKeySize)
			}
			keys = append(keys, ed25519.PublicKey(b))
		case *keyFile != "":
			if _, err := os.Stat(*keyFile); err != nil {
				return fmt.Errorf("the checkpoint key: %w", err)
			}
			k, _, err := server.LoadCheckpointKey(*keyFile)
			if err != nil {
				return err
			}
			keys = append(keys, k.Public().(ed25519.PublicKey))
		}
		return st.with(ctx, func(s storage.Store) error {
			companies := []string{*company}
			if *company == "" {
				var err error
				if companies, err = allCompanies(ctx, s); err != nil {
					return err
				}
			} else if err := companyExists(ctx, s, *company); err != nil {
				return err
			}
			broken := 0
			for _, c := range companies {
				now := e.clock.Now().UTC()
				var v eventlog.Verification
				var err error
				if len(keys) > 0 {
					v, err = storage.VerifyCheckpoints(ctx, s, c, keys, now)
				} else {
					v, err = storage.VerifyChain(ctx, s, c, now)
				}
				if err != nil {
					return err
				}
				ok := v.Intact && (v.Checkpoints == nil || v.Checkpoints.Intact)
				if !ok {
					broken++
				}
				if *asJSON {
					if err := printJSON(e.stdout, v); err != nil {
						return err
					}
					continue
				}
				printVerification(e.stdout, c, v, ok)
			}
			if !*asJSON {
				fmt.Fprintf(e.stdout, "%d companies verified, %d broken\n", len(companies), broken)
			}
			if broken > 0 {
				return errCheckFailed
			}
			return nil
		})
	}
}

func printVerification(w io.Writer, company string, v eventlog.Verification, ok bool) {
	if ok {
		fmt.Fprintf(w, "%s: intact, %d events", company, v.Checked)
		if cp := v.Checkpoints; cp != nil {
			fmt.Fprintf(w, ", %d checkpoints, %d events after the last", cp.Checked, cp.Unsigned)
		}
		fmt.Fprintln(w)
		return
	}
	if !v.Intact {
		fmt.Fprintf(w, "%s: BROKEN at event %d (%s): %s\n", company, v.BrokenSeq, v.BrokenID, v.Reason)
		return
	}
	cp := v.Checkpoints
	fmt.Fprintf(w, "%s: BROKEN checkpoint at chain position %d: %s (events up to %d vouched for)\n", company, cp.BrokenChain, cp.Reason, cp.VerifiedChain)
}

// allCompanies lists every company ID of the store, in pages.
func allCompanies(ctx context.Context, s storage.Store) ([]string, error) {
	var out []string
	err := storage.ForEachRecord(ctx, s, storage.ListQuery{AllCompanies: true, Kind: billing.KindCompany}, 500,
		func(r storage.Record) error { out = append(out, r.ID); return nil })
	return out, err
}

// shortReads reads each page of an export in a read transaction of its own.
type shortReads struct{ store storage.Store }

func (r shortReads) Events(ctx context.Context, f eventlog.Filter, fn func(eventlog.Event) error) error {
	return r.store.View(ctx, func(tx storage.Tx) error { return tx.Events(ctx, f, fn) })
}

func exportEvents(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	st := defineStore(fs, e)
	company := fs.String("company", "", "the company (tenant) ID (required)")
	view := fs.String("view", "original", "original (every column of every event) or current (the default columns, newest first)")
	out := fs.String("o", "", "write to this new file instead of standard output")
	return func(ctx context.Context, args []string) error {
		if err := errors.Join(noArgs(args), required("company", *company)); err != nil {
			return err
		}
		mode := eventlog.OriginalData
		req := eventlog.Request{}
		switch *view {
		case "original":
		case "current":
			mode = eventlog.CurrentView
			req.Desc = true
		default:
			return usagef("-view must be original or current, not %q", *view)
		}
		return st.with(ctx, func(s storage.Store) error {
			if err := companyExists(ctx, s, *company); err != nil {
				return err
			}
			w := e.stdout
			var f *os.File
			if *out != "" {
				var err error
				if f, err = os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
					return err
				}
				w = f
			}
			err := eventlog.Export(ctx, shortReads{s}, license.System(*company), mode, req, w)
			if f != nil {
				err = errors.Join(err, f.Sync(), f.Close())
				if err != nil {
					_ = os.Remove(*out)
				}
			}
			return err
		})
	}
}

func backup(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	st := defineStore(fs, e)
	out := fs.String("o", "", "the new file to write the copy to (required; never overwritten)")
	return func(ctx context.Context, args []string) error {
		if err := errors.Join(noArgs(args), required("o", *out)); err != nil {
			return err
		}
		if st.postgres != "" {
			return usagef("a PostgreSQL database is backed up with PostgreSQL's own tools: pg_dump --format=custom --file=%s \"$LICENSEKIT_POSTGRES\" (restore with pg_restore), or continuous archiving for point-in-time recovery", *out)
		}
		if _, err := os.Stat(st.sqlite); err != nil {
			return fmt.Errorf("the SQLite file: %w", err)
		}
		s, err := sqlite.Open(st.sqlite)
		if err != nil {
			return err
		}
		defer s.Close()
		if err := s.Backup(ctx, *out); err != nil {
			return err
		}
		fi, err := os.Stat(*out)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "backed up %s to %s (%d bytes)\n", st.sqlite, *out, fi.Size())
		return nil
	}
}

func demo(fs *flag.FlagSet, e *env) func(context.Context, []string) error {
	st := defineStore(fs, e)
	return func(ctx context.Context, args []string) error {
		if err := noArgs(args); err != nil {
			return err
		}
		return st.with(ctx, func(s storage.Store) error {
			d, fresh, err := server.EnsureDemo(ctx, s, e.clock)
			if err != nil {
				return err
			}
			what := "the demo data was already there"
			if fresh {
				what = "created the demo data"
			}
			fmt.Fprintf(e.stderr, "licensekit: %s: company %q, owner %s\n", what, d.CompanyName, d.Owner)
			fmt.Fprintf(e.stderr, "An owner key: licensekit keys create -company %s -email %s -role owner\n", d.Company, d.Owner)
			fmt.Fprintln(e.stdout, d.Company)
			return nil
		})
	}
}
