package mqtt

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzValidString checks ValidString and validBytes (which test eight ASCII
// bytes at a time) against the rule written out: at most 65535 bytes of
// well-formed UTF-8 (Go's decoder rejects surrogates and overlong forms)
// without U+0000.
func FuzzValidString(f *testing.F) {
	for _, s := range []string{"", "a/b/c/", "0123456789abcdef/x", "abcdefg\x00", "abcdefgh\x00ijklmnop",
		"ключ/канал/", "abcdefgh\xed\xa0\x80", "abcdefgh\xc0\xaf", "\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x01",
		strings.Repeat("a", 65535), strings.Repeat("a", 65536)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := len(s) <= 65535 && utf8.ValidString(s) && !strings.Contains(s, "\x00")
		if got := ValidString(s); got != want {
			t.Fatalf("ValidString(%q) = %v, want %v", s, got, want)
		}
		if got := validBytes([]byte(s)); got != want {
			t.Fatalf("validBytes(%q) = %v, want %v", s, got, want)
		}
	})
}
