package security_test

import (
	"encoding/base64"
	"testing"
	"time"

	"github.com/heraldmq/herald/security"
)

var (
	sinkKey  security.Key
	sinkBool bool
	sinkErr  error
	sinkU32  uint32
)

func benchLicenses(b *testing.B) map[string]*security.License {
	return map[string]*security.License{
		"v3": mustLicense(b, vecLicense),
		"v2": mustLicense(b, v23License(seq(32, 3), seq(24, 101), 4242, 99, 1, 2)),
		"v1": mustLicense(b, base64.RawURLEncoding.EncodeToString(seq(32, 9))),
	}
}

// BenchmarkKeyDecrypt decodes and decrypts one 32-character key.
func BenchmarkKeyDecrypt(b *testing.B) {
	ls := benchLicenses(b)
	for _, gen := range []string{"v3", "v2", "v1"} {
		l := ls[gen]
		s := l.EncryptKey(decryptOrFail(b, mustLicense(b, vecLicense), vecChannel))
		b.Run(gen, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkKey, sinkErr = l.DecryptKey(s)
			}
		})
	}
}

func decryptOrFail(tb testing.TB, l *security.License, s string) security.Key {
	tb.Helper()
	k, err := l.DecryptKey(s)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func BenchmarkKeyEncrypt(b *testing.B) {
	l := mustLicense(b, vecLicense)
	k := decryptOrFail(b, l, vecChannel)
	buf := make([]byte, 0, security.EncodedKeyLen)
	b.ReportAllocs()
	for b.Loop() {
		buf = l.AppendEncryptedKey(buf[:0], k)
	}
}

// BenchmarkValidateChannel checks one key against one channel.
func BenchmarkValidateChannel(b *testing.B) {
	for _, c := range []struct{ name, target, channel string }{
		{"exact", "a/b/c/", "a/b/c/"},
		{"wildcard", "a/#/", "a/b/c/d/"},
		{"plus", "a/+/c/", "a/xyz/c/"},
		{"all", "#/", "a/b/c/"},
		{"refused", "a/b/c/", "a/b/d/"},
		{"deep", "app/region/room/#/", "app/region/room/user/device/session/stream/"},
	} {
		var k security.Key
		if err := k.SetTarget(c.target); err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				sinkBool = k.ValidateChannel(c.channel)
			}
		})
	}
}

// BenchmarkAuthorize is the security part of authorising a publish:
// decrypt, expiry, contract, permission and channel (no cache).
func BenchmarkAuthorize(b *testing.B) {
	l := mustLicense(b, vecLicense)
	now := time.Now()
	b.ReportAllocs()
	for b.Loop() {
		k, err := l.DecryptKey(vecChannel)
		if err == nil {
			err = l.Authorize(k, security.PermWrite, "a/b/c/", now)
		}
		sinkErr = err
	}
}

func BenchmarkHash(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkU32 = security.Hash("app/region/room")
	}
}
