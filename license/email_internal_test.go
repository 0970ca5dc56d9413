package license

import (
	"net/mail"
	"testing"

	"pgregory.net/rapid"
)

// plainEmail is a shortcut past net/mail: every address it accepts, net/mail
// must accept too, unchanged. The generator draws from the characters that
// matter (atom characters, dots, "@", and characters outside atoms) so that
// both accepted and refused shapes are common.
func TestPlainEmailAcceptsOnlyWhatNetMailAccepts(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := rapid.StringOfN(rapid.SampledFrom([]rune("aZ09.-_+@@.!#~ \"(),:;<>[]\\é")), 1, 24, -1).Draw(t, "s")
		if !plainEmail(s) {
			return
		}
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != s {
			t.Fatalf("plainEmail accepts %q, net/mail gives %v, %v", s, a, err)
		}
	})
	for _, s := range []string{"ann@example.com", "a.b+c@x-y.example", "o'neil@example.com", "a@b"} {
		if !plainEmail(s) {
			t.Errorf("plainEmail(%q) = false, want true", s)
		}
	}
	for _, s := range []string{"", "@", "a@", "@b", "a..b@c", ".a@b", "a.@b", "a@b..c", "a@b.", "a@b@c", "a b@c", "a@b_c", "\"a\"@b", "Ann <a@b>"} {
		if plainEmail(s) {
			t.Errorf("plainEmail(%q) = true, want false", s)
		}
	}
}
