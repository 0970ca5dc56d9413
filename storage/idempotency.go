package storage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"time"

	"github.com/licensekit/licensekit/license"
)

// KindIdempotency is the record kind of remembered idempotent results.
const KindIdempotency Kind = "idempotency"

type idemRecord struct {
	Scope       string          `json:"scope"`
	RequestHash string          `json:"request_hash"`
	Done        bool            `json:"done"`
	Response    json.RawMessage `json:"response,omitempty"`
	At          time.Time       `json:"at"`
}

// Idempotent runs op at most once for (company, scope, key) inside tx and
// remembers its result in the same transaction.
//
//   - key == "": op runs and nothing is remembered.
//   - first use of the key: op runs; its result is stored with a hash of request.
//   - the same key with an equal request (same JSON): op does not run; the first
//     result is returned and nothing changes.
//   - the same key with a different request, or a different scope: Conflict
//     (field "idempotency_key").
//
// Because the result is written in the transaction of the change, a rolled-back
// operation leaves no remembered result and a retry runs it afresh. R must
// round-trip through encoding/json.
func Idempotent[R any](ctx context.Context, tx Tx, company, scope, key string, request any, now time.Time, op func() (R, error)) (R, error) {
	var zero R
	if key == "" {
		return op()
	}
	if len(key) > 255 {
		return zero, license.Errorf(license.Invalid, "idempotency_key", "an idempotency key may be at most 255 bytes")
	}
	reqJSON, err := json.Marshal(request)
	if err != nil {
		return zero, license.Wrap(license.Internal, err, "idempotency: encode request")
	}
	sum := sha256.Sum256(reqJSON)
	reqHash := hex.EncodeToString(sum[:])
	idSum := sha256.Sum256([]byte(key))
	id := hex.EncodeToString(idSum[:])

	prev, _, err := Load[idemRecord](ctx, tx, company, KindIdempotency, id, true)
	switch {
	case err == nil:
		if prev.Scope != scope || prev.RequestHash != reqHash {
			return zero, license.Errorf(license.Conflict, "idempotency_key", "this idempotency key was already used for a different request")
		}
		var out R
		if err := json.Unmarshal(prev.Response, &out); err != nil {
			return zero, license.Wrap(license.Internal, err, "idempotency: decode remembered response")
		}
		return out, nil
	case !IsNotFound(err):
		return zero, err
	}
	// Claim the key first: in PostgreSQL a concurrent request with the same key
	// waits here until this transaction ends, then fails with a conflict.
	claim := Record{Company: company, Kind: KindIdempotency, ID: id}
	claim.Data, _ = json.Marshal(idemRecord{Scope: scope, RequestHash: reqHash, At: now})
	if err := tx.Insert(ctx, claim); err != nil {
		var le *license.Error
		if errors.As(err, &le) && le.Code == license.Conflict {
			return zero, license.Errorf(license.Conflict, "idempotency_key", "a request with this idempotency key is already in progress; retry it")
		}
		return zero, err
	}
	out, err := op()
	if err != nil {
		return zero, err
	}
	resp, err := json.Marshal(out)
	if err != nil {
		return zero, license.Wrap(license.Internal, err, "idempotency: encode response")
	}
	return out, Save(ctx, tx, claim, idemRecord{Scope: scope, RequestHash: reqHash, Done: true, Response: resp, At: now})
}
