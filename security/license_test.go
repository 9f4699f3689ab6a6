package security_test

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/snappy"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/salsa20"

	"github.com/heraldmq/herald/security"
)

// v23License builds a generation 2 or 3 license string from its fields the
// way Emitter does: uvarint-prefixed key and salt, uvarint user, sign and
// index, snappy block, unpadded base64url, ":gen".
func v23License(key, salt []byte, user, sign, index uint32, gen int) string {
	var body []byte
	body = binary.AppendUvarint(body, uint64(len(key)))
	body = append(body, key...)
	body = binary.AppendUvarint(body, uint64(len(salt)))
	body = append(body, salt...)
	body = binary.AppendUvarint(body, uint64(user))
	body = binary.AppendUvarint(body, uint64(sign))
	body = binary.AppendUvarint(body, uint64(index))
	return base64.RawURLEncoding.EncodeToString(snappy.Encode(nil, body)) + fmt.Sprintf(":%d", gen)
}

func seq(n int, start byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = start + byte(i)*7
	}
	return b
}

func sampleKey(salt uint16, contract, sign uint32) security.Key {
	var k security.Key
	k.SetSalt(salt)
	k.SetMasterID(1)
	k.SetContract(contract)
	k.SetSignature(sign)
	k.SetPermissions(security.ParsePermissions("rwslp"))
	if err := k.SetTarget("a/b/c/"); err != nil {
		panic(err)
	}
	return k
}

func TestLicenseV2MatchesXSalsa20(t *testing.T) {
	key, salt := seq(32, 3), seq(24, 101)
	s := v23License(key, salt, 4242, 99, 1, 2)
	l := mustLicense(t, s)
	require.Equal(t, 2, l.Generation())
	require.EqualValues(t, 4242, l.Contract())
	require.Equal(t, s, l.Encode())

	// Generation 2 is XSalsa20 with the license salt as the 24-byte nonce,
	// over all 24 bytes: compare with x/crypto's XSalsa20.
	var k32 [32]byte
	copy(k32[:], key)
	for i := range uint16(50) {
		k := sampleKey(i*641, 4242, 99)
		plain := k.Bytes()
		var want [24]byte
		salsa20.XORKeyStream(want[:], plain[:], salt, &k32)
		enc := l.EncryptKey(k)
		require.Equal(t, base64.RawURLEncoding.EncodeToString(want[:]), enc)
		got, err := l.DecryptKey(enc)
		require.NoError(t, err)
		require.Equal(t, k, got)
		require.True(t, l.Validate(got))
	}
}

// v1Encrypt is the generation 1 cipher written from the reference: XOR
// bytes 2..23 with the salt bytes alternately, then XTEA (32 cycles,
// big-endian) on three 8-byte blocks. xteaEncrypt is a textbook XTEA.
func v1Encrypt(key []byte, plain [24]byte) [24]byte {
	for i := 2; i < 24; i++ {
		plain[i] ^= plain[i%2]
	}
	var k [4]uint32
	for i := range k {
		k[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	for b := 0; b < 24; b += 8 {
		v0, v1 := binary.BigEndian.Uint32(plain[b:]), binary.BigEndian.Uint32(plain[b+4:])
		sum := uint32(0)
		for range 32 {
			v0 += (((v1 << 4) ^ (v1 >> 5)) + v1) ^ (sum + k[sum&3])
			sum += 0x9E3779B9
			v1 += (((v0 << 4) ^ (v0 >> 5)) + v0) ^ (sum + k[(sum>>11)&3])
		}
		binary.BigEndian.PutUint32(plain[b:], v0)
		binary.BigEndian.PutUint32(plain[b+4:], v1)
	}
	return plain
}

func TestLicenseV1(t *testing.T) {
	key := seq(16, 9)
	raw := append(bytes.Clone(key), make([]byte, 16)...)
	binary.BigEndian.PutUint32(raw[16:], 777)
	binary.BigEndian.PutUint32(raw[20:], 31337)
	binary.BigEndian.PutUint32(raw[24:], 3600) // expires 2010-01-01 01:00
	binary.BigEndian.PutUint32(raw[28:], 2)
	s := base64.RawURLEncoding.EncodeToString(raw)

	for _, in := range []string{s, s + ":1", " " + s + "\n"} {
		l := mustLicense(t, in)
		require.Equal(t, 1, l.Generation())
		require.EqualValues(t, 777, l.Contract())
		require.Equal(t, time.Date(2010, 1, 1, 1, 0, 0, 0, time.UTC), l.Expires())
		require.Equal(t, s, l.Encode())
	}
	l := mustLicense(t, s)
	for salt := range uint16(50) {
		k := sampleKey(salt*641, 777, 31337)
		want := v1Encrypt(key, k.Bytes())
		enc := l.EncryptKey(k)
		require.Equal(t, base64.RawURLEncoding.EncodeToString(want[:]), enc)
		got, err := l.DecryptKey(enc)
		require.NoError(t, err)
		require.Equal(t, k, got)
		require.True(t, l.Validate(got))
	}
}

func TestXTEAPublishedVectors(t *testing.T) {
	// Published XTEA vectors pin the model used by TestLicenseV1.
	for _, v := range []struct{ key, in, out string }{
		{"000102030405060708090a0b0c0d0e0f", "4142434445464748", "497df3d072612cb5"},
		{"00000000000000000000000000000000", "0000000000000000", "dee9d4d8f7131ed9"},
	} {
		key, _ := hex.DecodeString(v.key)
		var p [24]byte
		_, _ = hex.Decode(p[:8], []byte(v.in))
		// v1Encrypt XORs the salt (bytes 0-1) into bytes 2..23 first; with
		// block 0 = in, undo that so the first block is plain XTEA.
		for i := 2; i < 8; i++ {
			p[i] ^= p[i%2]
		}
		for i := 8; i < 24; i++ {
			p[i] = p[i%2]
		}
		c := v1Encrypt(key, p)
		require.Equal(t, v.out, hex.EncodeToString(c[:8]))
	}
}

func TestLicenseV3RoundTrip(t *testing.T) {
	key, salt := seq(32, 1), seq(16, 200)
	s := v23License(key, salt, 1, 0xFFFFFFFF, 1, 3)
	l := mustLicense(t, s)
	require.Equal(t, s, l.Encode())
	require.EqualValues(t, 1, l.Contract())
	for salt := range uint16(200) {
		k := sampleKey(salt*163, 1, 0xFFFFFFFF)
		enc := l.EncryptKey(k)
		require.Len(t, enc, security.EncodedKeyLen)
		got, err := l.DecryptKey(enc)
		require.NoError(t, err)
		require.Equal(t, k, got)
		require.Equal(t, enc, string(l.AppendEncryptedKey(nil, k)))
	}
}

func TestNewLicense(t *testing.T) {
	a, b := security.NewLicense(), security.NewLicense()
	require.Equal(t, 3, a.Generation())
	require.NotEqual(t, a.Encode(), b.Encode())
	require.False(t, a.Equal(b))
	require.NotZero(t, a.Contract())

	again := mustLicense(t, a.Encode())
	require.True(t, a.Equal(again))
	require.True(t, strings.HasSuffix(a.Encode(), ":3"))

	// A master key of a validates under a parsed copy, not under b.
	m := a.NewMasterKey()
	k, err := again.DecryptKey(m)
	require.NoError(t, err)
	require.True(t, k.IsMaster())
	require.True(t, again.Validate(k))
	require.LessOrEqual(t, k.Salt(), uint16(security.MaxSalt))
	require.NoError(t, again.CheckMaster(m, time.Now()))
	kb, err := b.DecryptKey(m)
	require.NoError(t, err)
	require.False(t, b.Validate(kb))
	require.Error(t, b.CheckMaster(m, time.Now()))
	require.NotEqual(t, m, a.NewMasterKey(), "master keys get a fresh salt")
}

func TestParseLicenseErrors(t *testing.T) {
	good := v23License(seq(32, 1), seq(16, 2), 5, 6, 1, 3)
	body, _ := strings.CutSuffix(good, ":3")
	rawBody := func(b []byte) string {
		return base64.RawURLEncoding.EncodeToString(snappy.Encode(nil, b)) + ":3"
	}
	cases := map[string]string{
		"empty":            "",
		"unknown suffix":   body + ":4",
		"empty suffix":     body + ":",
		"v3 salt as v2":    body + ":2",
		"bad base64":       "!!!!:3",
		"padded base64":    body + "==:3",
		"inner newline":    body[:10] + "\n" + body[10:] + ":3",
		"v1 wrong length":  base64.RawURLEncoding.EncodeToString(make([]byte, 31)),
		"not snappy":       base64.RawURLEncoding.EncodeToString([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x0f}) + ":3",
		"huge snappy len":  base64.RawURLEncoding.EncodeToString([]byte{0xff, 0xff, 0x03, 0x00}) + ":3",
		"short key":        v23License(seq(31, 1), seq(16, 2), 5, 6, 1, 3),
		"short salt":       v23License(seq(32, 1), seq(15, 2), 5, 6, 1, 3),
		"user overflow":    rawBody(append(append([]byte{32}, seq(32, 1)...), append(append([]byte{16}, seq(16, 1)...), 0xff, 0xff, 0xff, 0xff, 0x7f, 1, 1)...)),
		"missing index":    rawBody(append(append([]byte{32}, seq(32, 1)...), append(append([]byte{16}, seq(16, 1)...), 1, 1)...)),
		"trailing bytes":   rawBody(append(append([]byte{32}, seq(32, 1)...), append(append([]byte{16}, seq(16, 1)...), 1, 1, 1, 0)...)),
		"too long":         strings.Repeat("A", security.MaxLicenseLength+1) + ":3",
		"truncated body":   good[:20] + ":3",
		"key is a license": vecChannel,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			l, err := security.ParseLicense(in)
			require.Nil(t, l)
			require.ErrorIs(t, err, security.ErrInvalidLicense)
			var le *security.LicenseError
			require.True(t, errors.As(err, &le))
			if len(in) > 8 {
				require.NotContains(t, err.Error(), in, "the error must not repeat the license")
			}
		})
	}
}

// TestNoSecretInOutput prints licenses and keys every way fmt and slog can
// and checks that no secret appears.
func TestNoSecretInOutput(t *testing.T) {
	l := mustLicense(t, vecLicense)
	k, err := l.DecryptKey(vecChannel)
	require.NoError(t, err)
	kb := k.Bytes()
	secrets := []string{vecLicense, vecLicense[:20], "504a2f15", "504A2F15", vecChannel, hex.EncodeToString(kb[:]),
		"[80 74 47", "5f8ed384", "1603195780", "813ae45b"}

	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	log.Info("x", "license", l, "licval", *l, "key", k)
	jl := slog.New(slog.NewJSONHandler(&logs, nil))
	jl.Info("x", "license", l, "key", k)
	out := logs.String()
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q", "%T"} {
		out += fmt.Sprintf(verb+" "+verb+" "+verb+"\n", l, *l, k)
	}
	out += l.String() + k.String()
	for _, s := range secrets {
		require.NotContains(t, out, s)
	}
	require.Contains(t, out, "security.License{generation: 3, contract: 2168120411}")
	require.Contains(t, out, "security.Key{perm: rw, target: exact, expires: never}")
}
