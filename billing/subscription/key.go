package subscription

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/hex"
	"strings"
)

// KeyBytes is the randomness of a license key: 160 bits.
const KeyBytes = 20

// crockford is Crockford's base32 alphabet: digits and upper-case letters
// without I, L, O and U, so that a key read aloud or copied by hand survives.
var crockford = base32.NewEncoding("0123456789ABCDEFGHJKMNPQRSTVWXYZ").WithPadding(base32.NoPadding)

// newKey returns a fresh license key (32 base32 characters in groups of four,
// "7Q3M-…") and the hex SHA-256 of its normal form.
func newKey() (key, hash string) {
	b := make([]byte, KeyBytes)
	if _, err := rand.Read(b); err != nil {
		panic("subscription: cannot read random source: " + err.Error())
	}
	s := crockford.EncodeToString(b)
	var sb strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			sb.WriteByte('-')
		}
		sb.WriteString(s[i:min(i+4, len(s))])
	}
	return sb.String(), hashKey(s)
}

// normalKey returns the canonical form of a typed key: upper case, without
// dashes or spaces, with O read as 0 and I, L as 1. ok is false when it cannot
// be a key.
func normalKey(s string) (string, bool) {
	s = strings.ToUpper(strings.TrimSpace(s))
	s = strings.NewReplacer("-", "", " ", "", "O", "0", "I", "1", "L", "1").Replace(s)
	if len(s) != 32 {
		return "", false
	}
	if _, err := crockford.DecodeString(s); err != nil {
		return "", false
	}
	return s, true
}

func hashKey(normal string) string {
	sum := sha256.Sum256([]byte(normal))
	return hex.EncodeToString(sum[:])
}

// sameHash compares two hex hashes in constant time.
func sameHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
