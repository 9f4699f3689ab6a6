package security_test

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/heraldmq/herald/security"
)

func FuzzParseLicense(f *testing.F) {
	raw := make([]byte, 32)
	binary.BigEndian.PutUint32(raw[16:], 777)
	for _, s := range []string{
		vecLicense,
		v23License(seq(32, 3), seq(24, 101), 4242, 99, 1, 2),
		v23License(seq(32, 1), seq(16, 2), 5, 6, 1, 3),
		v23License(seq(31, 1), seq(16, 2), 5, 6, 1, 3),
		base64.RawURLEncoding.EncodeToString(raw),
		base64.RawURLEncoding.EncodeToString(raw) + ":1",
		"", ":", ":3", "!!!!:3", "AAAA:2", vecChannel,
		base64.RawURLEncoding.EncodeToString([]byte{0xff, 0xff, 0x03, 0x00}) + ":3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l, err := security.ParseLicense(s)
		if err != nil {
			if !errors.Is(err, security.ErrInvalidLicense) {
				t.Fatalf("error %v does not wrap ErrInvalidLicense", err)
			}
			if len(s) >= 16 && strings.Contains(err.Error(), s) {
				t.Fatalf("error %q contains the input", err)
			}
			return
		}
		again, err := security.ParseLicense(l.Encode())
		if err != nil {
			t.Fatalf("Encode of a parsed license does not parse: %v", err)
		}
		if !again.Equal(l) {
			t.Fatal("Encode/ParseLicense round trip changed the license")
		}
		m := l.NewMasterKey()
		if err := l.CheckMaster(m, now); err != nil {
			t.Fatalf("a fresh master key is refused: %v", err)
		}
	})
}

func FuzzDecryptKey(f *testing.F) {
	licenses := []*security.License{
		mustLicense(f, vecLicense),
		mustLicense(f, v23License(seq(32, 3), seq(24, 101), 4242, 99, 1, 2)),
		mustLicense(f, base64.RawURLEncoding.EncodeToString(seq(32, 9))),
	}
	for _, s := range []string{vecMaster, vecChannel, "", "A", vecChannel[:31], vecChannel + "=", "EjTvFZJ18rzaeWnzVqD7sg6H7j51SGg\n", strings.Repeat("_", 32), strings.Repeat("-", 32)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		raw, stdErr := base64.RawURLEncoding.Strict().DecodeString(s)
		want := stdErr == nil && len(s) == security.EncodedKeyLen && len(raw) == security.KeySize
		for _, l := range licenses {
			k, err := l.DecryptKey(s)
			if (err == nil) != want {
				t.Fatalf("DecryptKey(%q) error %v, encoding/base64 says valid=%v", s, err, want)
			}
			if err != nil {
				if !errors.Is(err, security.ErrInvalidKey) {
					t.Fatalf("error %v does not wrap ErrInvalidKey", err)
				}
				continue
			}
			if got := l.EncryptKey(k); got != s {
				t.Fatalf("generation %d: EncryptKey(DecryptKey(%q)) = %q", l.Generation(), s, got)
			}
		}
	})
}

func FuzzValidateChannel(f *testing.F) {
	for _, c := range [][2]string{
		{"a/b/c/", "a/b/c/"}, {"a/#/", "a/b/c/d/"}, {"a/+/c/", "a/+/c/"}, {"#/", "$share/g/a/"},
		{"+/b/", "z/b/"}, {"+/", "x/"}, {"a/+/", "a/x/"}, {"a/+/#/", "a/x/y/"}, {"+/+/#/", "a/b/"},
		{"a/b/", "a/b/#/"}, {"a/", "#/"}, {"a/b/c/", "a/b/c/?ttl=1"}, {"a/", "a//"}, {"x", "/"},
	} {
		f.Add(c[0], c[1], uint32(0), uint32(0))
	}
	f.Add("", "a/", uint32(0x400000), security.Hash("a"))
	f.Add("", "a/b/", uint32(0xFFFFFF), uint32(1))
	f.Fuzz(func(t *testing.T, target, channel string, path, hash uint32) {
		// Any bits, any channel: an answer, never a panic.
		var raw security.Key
		raw.SetTargetBits(path, hash)
		_ = raw.ValidateChannel(channel)

		var k security.Key
		if k.SetTarget(target) != nil {
			return
		}
		valid := func(s string) bool {
			c, err := security.ParseChannel(s)
			return err == nil && c.Path == s
		}
		if !valid(target) || !valid(channel) {
			return
		}
		if got, want := k.ValidateChannel(channel), modelAllows(target, channel); got != want {
			t.Fatalf("key %q on %q: ValidateChannel = %v, model = %v", target, channel, got, want)
		}
		if emitterValidate(k, channel) && !k.ValidateChannel(channel) {
			t.Fatalf("key %q on %q: Emitter allows, Herald refuses", target, channel)
		}
	})
}
