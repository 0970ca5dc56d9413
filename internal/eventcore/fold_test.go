package eventcore

import (
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFoldRuneIsSimpleFolding checks every code point: FoldRune gives one
// representative per simple case folding class (the orbit of
// unicode.SimpleFold), inside the class, and ASCII letters fold to lower case.
func TestFoldRuneIsSimpleFolding(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		f := FoldRune(r)
		if !strings.EqualFold(string(r), string(f)) {
			t.Fatalf("FoldRune(%U) = %U, which does not fold with it", r, f)
		}
		for o := unicode.SimpleFold(r); o != r; o = unicode.SimpleFold(o) {
			if FoldRune(o) != f {
				t.Fatalf("FoldRune(%U) = %U but FoldRune(%U) = %U: one class, two representatives", r, f, o, FoldRune(o))
			}
		}
	}
	assert.Equal(t, "abcxyz@[", Fold("ABCxyz@["))
}

func TestFoldExamples(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"École", "école", true},
		{"ÄÄNI", "ääni", true},
		{"Straße", "STRASSE", false},
		{"straße", "STRAẞE", true},
		{"İ", "i", false},
		{"ı", "I", false},
		{"I", "i", true},
		{"Σ", "σ", true},
		{"Σ", "ς", true},
		{"σ", "ς", true},
		{"K", "k", true}, // Kelvin sign
		{"ſ", "S", true}, // long s
	} {
		require.Equal(t, tc.same, Fold(tc.a) == Fold(tc.b), "Fold(%q) = %q, Fold(%q) = %q", tc.a, Fold(tc.a), tc.b, Fold(tc.b))
		require.Equal(t, strings.EqualFold(tc.a, tc.b), Fold(tc.a) == Fold(tc.b), "agrees with strings.EqualFold on %q, %q", tc.a, tc.b)
	}
	assert.True(t, ContainsFold("Site École Paris", "ÉCOLE"))
	assert.Equal(t, "a\xffb", Fold("A\xffB"), "invalid bytes are kept")
}
