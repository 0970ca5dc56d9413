package licensefile

import (
	"crypto/ed25519"
	"errors"
	"testing"
	"time"

	"pgregory.net/rapid"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func fixture(t testing.TB) (string, ed25519.PublicKey, ed25519.PrivateKey, Claims) {
	kid, pub, priv, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	c := Claims{
		LicenseID: "lic-1", Licensee: "Acme", Product: "backup",
		Entitlements: []string{"sso", "audit"}, Fingerprint: "fp-123", CPUs: 8,
		IssuedAt: t0, NotBefore: t0, ExpiresAt: time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC),
		GraceSeconds: 7 * 24 * 3600,
	}
	return kid, pub, priv, c
}

func at(ts time.Time) func() time.Time { return func() time.Time { return ts } }

func code(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func TestVerifyEveryCode(t *testing.T) {
	kid, pub, priv, c := fixture(t)
	file, err := Issue(c, kid, priv)
	if err != nil {
		t.Fatal(err)
	}
	v := &Verifier{Keys: map[string]ed25519.PublicKey{kid: pub}, Now: at(t0.Add(time.Hour))}
	ok := Request{Fingerprint: "fp-123", CPUs: 4, Entitlements: []string{"sso"}}
	res, err := v.Verify(file, ok)
	if err != nil {
		t.Fatalf("valid file refused: %v", err)
	}
	if res.Claims.Licensee != "Acme" || res.InGrace || res.KeyID != kid {
		t.Fatalf("unexpected result %+v", res)
	}

	_, otherPub, otherPriv, _ := fixture(t)
	forged, _ := Issue(c, kid, otherPriv) // same key id, wrong key
	cases := []struct {
		name string
		v    *Verifier
		file []byte
		req  Request
		want Code
	}{
		{"garbage", v, []byte("hello"), ok, Malformed},
		{"unknown key", &Verifier{Keys: map[string]ed25519.PublicKey{"other": otherPub}, Now: v.Now}, file, ok, UnknownKey},
		{"forged", v, forged, ok, BadSignature},
		{"other machine", v, file, Request{Fingerprint: "fp-999"}, FingerprintMismatch},
		{"too many cpus", v, file, Request{Fingerprint: "fp-123", CPUs: 16}, TooManyCPUs},
		{"not yet", &Verifier{Keys: v.Keys, Now: at(t0.Add(-time.Second))}, file, ok, NotYetValid},
		{"expired after grace", &Verifier{Keys: v.Keys, Now: at(time.Date(2027, 1, 8, 0, 0, 0, 0, time.UTC))}, file, ok, Expired},
		{"missing entitlement", v, file, Request{Fingerprint: "fp-123", Entitlements: []string{"sso", "reports", "api"}}, MissingEntitlement},
	}
	for _, tc := range cases {
		_, err := tc.v.Verify(tc.file, tc.req)
		if code(err) != tc.want {
			t.Errorf("%s: got %v, want code %s", tc.name, err, tc.want)
		}
	}
	_, err = v.Verify(file, Request{Fingerprint: "fp-123", Entitlements: []string{"sso", "reports", "api"}})
	var e *Error
	if !errors.As(err, &e) || len(e.Missing) != 2 || e.Missing[0] != "reports" || e.Missing[1] != "api" {
		t.Fatalf("missing list: %v", err)
	}
	// Within grace: valid, flagged.
	g := &Verifier{Keys: v.Keys, Now: at(time.Date(2027, 1, 3, 0, 0, 0, 0, time.UTC))}
	res, err = g.Verify(file, ok)
	if err != nil || !res.InGrace {
		t.Fatalf("in grace: %v %+v", err, res)
	}
	// Last nanosecond of the expiry day is still valid without grace.
	c.GraceSeconds = 0
	f2, _ := Issue(c, kid, priv)
	if _, err := (&Verifier{Keys: v.Keys, Now: at(c.ExpiresAt)}).Verify(f2, ok); err != nil {
		t.Fatalf("end of expiry day must be valid: %v", err)
	}
	if _, err := (&Verifier{Keys: v.Keys, Now: at(c.ExpiresAt.Add(time.Nanosecond))}).Verify(f2, ok); code(err) != Expired {
		t.Fatalf("after expiry day: %v", err)
	}
}

func TestKeyRotation(t *testing.T) {
	oldID, oldPub, oldPriv, c := fixture(t)
	newID, newPub, newPriv, _ := fixture(t)
	fOld, _ := Issue(c, oldID, oldPriv)
	fNew, _ := Issue(c, newID, newPriv)
	v := &Verifier{Keys: map[string]ed25519.PublicKey{oldID: oldPub, newID: newPub}, Now: at(t0)}
	req := Request{Fingerprint: "fp-123"}
	for _, f := range [][]byte{fOld, fNew} {
		if _, err := v.Verify(f, req); err != nil {
			t.Fatalf("rotation: %v", err)
		}
	}
	delete(v.Keys, oldID)
	if _, err := v.Verify(fOld, req); code(err) != UnknownKey {
		t.Fatalf("retired key still accepted: %v", err)
	}
}

// TestAnyByteFlipFails: flipping any bit of any byte of a signed file makes
// verification fail.
func TestAnyByteFlipFails(t *testing.T) {
	kid, pub, priv, c := fixture(t)
	file, _ := Issue(c, kid, priv)
	v := &Verifier{Keys: map[string]ed25519.PublicKey{kid: pub}, Now: at(t0)}
	req := Request{Fingerprint: "fp-123"}
	rapid.Check(t, func(rt *rapid.T) {
		i := rapid.IntRange(0, len(file)-1).Draw(rt, "byte")
		x := byte(rapid.IntRange(1, 255).Draw(rt, "xor"))
		mut := append([]byte(nil), file...)
		mut[i] ^= x
		if _, err := v.Verify(mut, req); err == nil {
			rt.Fatalf("flipping byte %d with %#x still verifies", i, x)
		}
	})
	// And exhaustively for single-bit flips.
	for i := range file {
		for bit := 0; bit < 8; bit++ {
			mut := append([]byte(nil), file...)
			mut[i] ^= 1 << bit
			if _, err := v.Verify(mut, req); err == nil {
				t.Fatalf("bit %d of byte %d flipped still verifies", bit, i)
			}
		}
	}
}

func FuzzVerify(f *testing.F) {
	kid, pub, priv, c := fixture(f)
	file, _ := Issue(c, kid, priv)
	f.Add(file)
	f.Add([]byte("LKLF1...."))
	f.Add([]byte(""))
	f.Add([]byte("LKLF1.a.b.c\n"))
	v := &Verifier{Keys: map[string]ed25519.PublicKey{kid: pub}, Now: at(t0)}
	f.Fuzz(func(t *testing.T, data []byte) {
		res, err := v.Verify(data, Request{Fingerprint: "fp-123"})
		if err == nil {
			// Only a file signed by the known key verifies: it must be the issued one.
			if string(data) != string(file) && string(data)+"\n" != string(file) {
				t.Fatalf("accepted a file that was not issued: %q", data)
			}
			if res.Claims.LicenseID != "lic-1" {
				t.Fatalf("claims %+v", res.Claims)
			}
		}
	})
}
