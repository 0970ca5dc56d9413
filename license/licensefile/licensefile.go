// Package licensefile issues and verifies signed offline license files.
//
// A vendor that embeds licensekit signs a license file for one consumer (what it
// may use, until when, with which entitlements, on which machine fingerprint)
// with an Ed25519 private key that the vendor generates and keeps. The product
// ships with the matching public keys and checks the file at start-up with a
// [Verifier], without any network call. The package depends on the standard
// library only, so a product can vendor it alone.
//
// The file is one line of ASCII:
//
//	LKLF1.<key id>.<claims>.<signature>
//
// where key id, claims (JSON) and signature are unpadded base64url. The Ed25519
// signature covers the text "LKLF1.<key id>.<claims>", so the key id is signed
// too. The verifier accepts only this canonical form (one optional trailing
// newline), so changing any byte of a file makes verification fail. Key rotation:
// the file names its key id and a Verifier holds a set of public keys.
package licensefile

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Prefix starts every license file of this format version.
const Prefix = "LKLF1"

// MaxFileSize bounds what Verify reads.
const MaxFileSize = 64 << 10

var b64 = base64.RawURLEncoding.Strict()

// Claims is what a license file grants.
type Claims struct {
	LicenseID    string    `json:"license_id"`
	Licensee     string    `json:"licensee"`               // company or customer name
	Product      string    `json:"product"`                // product or software the file is for
	Entitlements []string  `json:"entitlements,omitempty"` // feature codes
	Fingerprint  string    `json:"fingerprint,omitempty"`  // machine fingerprint; empty = any machine
	Seats        int       `json:"seats,omitempty"`
	CPUs         int       `json:"cpus,omitempty"` // maximum CPU count of the machine; 0 = any
	IssuedAt     time.Time `json:"issued_at"`
	NotBefore    time.Time `json:"not_before,omitempty"`
	// ExpiresAt is the end of validity; zero means perpetual. Issue a date-only
	// expiry as the end of that day in UTC.
	ExpiresAt time.Time `json:"expires_at,omitempty"`
	// GraceSeconds after ExpiresAt the license is still accepted, with InGrace set.
	GraceSeconds int64 `json:"grace_seconds,omitempty"`
	// Pool is set on a borrowed seat's file: the floating-license pool the
	// seat was checked out from (LicenseID is then the seat's lease), so the
	// product can return it early.
	Pool string `json:"pool,omitempty"`
}

// Code classifies verification failures.
type Code string

// Failure codes, in the order Verify checks them.
const (
	Malformed           Code = "malformed"            // not a license file of this format
	UnknownKey          Code = "unknown_key"          // signed with a key id the verifier does not hold
	BadSignature        Code = "bad_signature"        // signature does not match: tampered or forged
	FingerprintMismatch Code = "fingerprint_mismatch" // issued for another machine
	TooManyCPUs         Code = "too_many_cpus"        // the machine has more CPUs than licensed
	NotYetValid         Code = "not_yet_valid"        // before NotBefore
	Expired             Code = "expired"              // after ExpiresAt + grace
	MissingEntitlement  Code = "missing_entitlement"  // a required entitlement is absent
)

// Error is a verification failure.
type Error struct {
	Code    Code
	Message string
	Missing []string // for MissingEntitlement
}

func (e *Error) Error() string { return "licensefile: " + string(e.Code) + ": " + e.Message }

// Is matches another *Error with the same Code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

func fail(c Code, format string, args ...any) *Error {
	return &Error{Code: c, Message: fmt.Sprintf(format, args...)}
}

// GenerateKey returns a new Ed25519 key pair and a key id derived from the
// public key (its first 12 bytes, base64url).
func GenerateKey() (keyID string, pub ed25519.PublicKey, priv ed25519.PrivateKey, err error) {
	pub, priv, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", nil, nil, err
	}
	return KeyID(pub), pub, priv, nil
}

// KeyID is the key id GenerateKey derives from a public key: its first 12
// bytes, base64url. A key made elsewhere (a PEM file) gets its id here.
func KeyID(pub ed25519.PublicKey) string {
	if len(pub) < 12 {
		return ""
	}
	return b64.EncodeToString(pub[:12])
}

// Issue signs c with priv under keyID and returns the file (with a trailing newline).
func Issue(c Claims, keyID string, priv ed25519.PrivateKey) ([]byte, error) {
	if keyID == "" || len(keyID) > 128 {
		return nil, errors.New("licensefile: key id must be 1 to 128 characters")
	}
	if len(priv) != ed25519.PrivateKeySize {
		return nil, errors.New("licensefile: not an Ed25519 private key")
	}
	if c.LicenseID == "" || c.Product == "" {
		return nil, errors.New("licensefile: license id and product are required")
	}
	c.IssuedAt = c.IssuedAt.UTC()
	c.NotBefore = c.NotBefore.UTC()
	c.ExpiresAt = c.ExpiresAt.UTC()
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	signed := Prefix + "." + b64.EncodeToString([]byte(keyID)) + "." + b64.EncodeToString(payload)
	sig := ed25519.Sign(priv, []byte(signed))
	return []byte(signed + "." + b64.EncodeToString(sig) + "\n"), nil
}

// Verifier checks license files against a set of trusted public keys.
type Verifier struct {
	// Keys maps key ids to trusted public keys. Keep old keys here while files
	// signed with them are still in the field (rotation).
	Keys map[string]ed25519.PublicKey
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Result is a successful verification.
type Result struct {
	KeyID   string
	Claims  Claims
	InGrace bool // expired, but within the grace period
}

// Request is what the product asks to verify against.
type Request struct {
	Fingerprint  string   // this machine's fingerprint
	CPUs         int      // this machine's CPU count (0 = not checked)
	Entitlements []string // features the caller needs
}

// Verify checks file: format, key id, signature, fingerprint, CPU count,
// validity period (with grace) against v.Now, and required entitlements, in
// that order. Any failure is an *Error; it never panics on any input.
func (v *Verifier) Verify(file []byte, req Request) (*Result, error) {
	if len(file) > MaxFileSize {
		return nil, fail(Malformed, "file is larger than %d bytes", MaxFileSize)
	}
	file = bytes.TrimSuffix(file, []byte("\n"))
	parts := bytes.Split(file, []byte("."))
	if len(parts) != 4 || string(parts[0]) != Prefix {
		return nil, fail(Malformed, "not a %s license file", Prefix)
	}
	kid, err := b64.DecodeString(string(parts[1]))
	if err != nil || len(kid) == 0 {
		return nil, fail(Malformed, "bad key id encoding")
	}
	payload, err := b64.DecodeString(string(parts[2]))
	if err != nil {
		return nil, fail(Malformed, "bad claims encoding")
	}
	sig, err := b64.DecodeString(string(parts[3]))
	if err != nil || len(sig) != ed25519.SignatureSize {
		return nil, fail(Malformed, "bad signature encoding")
	}
	// Canonical form only: re-encoding must give back the same bytes.
	if b64.EncodeToString(kid) != string(parts[1]) || b64.EncodeToString(payload) != string(parts[2]) || b64.EncodeToString(sig) != string(parts[3]) {
		return nil, fail(Malformed, "non-canonical encoding")
	}
	pub, ok := v.Keys[string(kid)]
	if !ok || len(pub) != ed25519.PublicKeySize {
		return nil, fail(UnknownKey, "signed with unknown key %q", string(kid))
	}
	signedLen := len(parts[0]) + 1 + len(parts[1]) + 1 + len(parts[2])
	if !ed25519.Verify(pub, file[:signedLen], sig) {
		return nil, fail(BadSignature, "signature does not match: the file was changed or not issued by this vendor")
	}
	var c Claims
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fail(Malformed, "claims are not valid: %v", err)
	}
	if c.Fingerprint != "" && subtle.ConstantTimeCompare([]byte(c.Fingerprint), []byte(req.Fingerprint)) != 1 {
		return nil, fail(FingerprintMismatch, "the license was issued for another machine")
	}
	if c.CPUs > 0 && req.CPUs > c.CPUs {
		return nil, fail(TooManyCPUs, "the machine has %d CPUs; the license covers %d", req.CPUs, c.CPUs)
	}
	now := time.Now()
	if v.Now != nil {
		now = v.Now()
	}
	now = now.UTC()
	if !c.NotBefore.IsZero() && now.Before(c.NotBefore) {
		return nil, fail(NotYetValid, "the license is valid from %s", c.NotBefore.Format(time.RFC3339))
	}
	res := &Result{KeyID: string(kid), Claims: c}
	if !c.ExpiresAt.IsZero() && now.After(c.ExpiresAt) {
		end := c.ExpiresAt.Add(time.Duration(c.GraceSeconds) * time.Second)
		if c.GraceSeconds <= 0 || now.After(end) {
			return nil, fail(Expired, "the license expired at %s", c.ExpiresAt.Format(time.RFC3339))
		}
		res.InGrace = true
	}
	var missing []string
	for _, want := range req.Entitlements {
		found := false
		for _, have := range c.Entitlements {
			if have == want {
				found = true
				break
			}
		}
		if !found {
			missing = append(missing, want)
		}
	}
	if len(missing) > 0 {
		e := fail(MissingEntitlement, "the license lacks %v", missing)
		e.Missing = missing
		return nil, e
	}
	return res, nil
}
