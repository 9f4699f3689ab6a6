package security

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/snappy"
	//lint:ignore SA1019 Emitter's key ciphers need HSalsa20 and a Salsa20 key stream with a caller-chosen 16-byte counter block, which only this package exposes; it is used exactly as Emitter does, for compatibility, not as a new design.
	"golang.org/x/crypto/salsa20/salsa"
)

// MaxLicenseLength is the longest license string ParseLicense accepts. Real
// licenses are about 90 characters.
const MaxLicenseLength = 1024

// maxLicenseBody bounds the decompressed body of a generation 2 or 3
// license (61 bytes for generation 3), so a hostile string cannot make
// ParseLicense allocate much.
const maxLicenseBody = 256

// Sizes of the secret fields.
const (
	v1KeySize  = 16
	v1Size     = 32 // key16 | user | sign | expiry | type
	saltSizeV3 = 16
	saltSizeV2 = 24
	keySizeV23 = 32
)

// License is an Emitter license: a contract id and signature that every key
// carries, and the secret that encrypts keys. Emitter has three generations,
// told apart by the suffix of the license string: ":3" (current; a salted
// Salsa20 cipher), ":2" (Salsa20) and none or ":1" (XTEA). All three are
// supported; NewLicense makes a generation 3 license.
//
// A License is immutable once created and safe for concurrent use. It holds a
// secret: Encode returns the license string, while String, Format and
// LogValue print only the generation and the contract id.
type License struct {
	gen    int
	key    [32]byte // encryption key (generation 1 uses the first 16 bytes)
	salt   [24]byte // encryption salt (16 bytes in generation 3, 24 in 2)
	user   uint32   // contract id
	sign   uint32   // contract signature
	index  uint32   // generation 2 and 3: always 1 in practice
	expiry uint32   // generation 1: license expiry, seconds since KeyEpochUnix
	kind   uint32   // generation 1: license type (2 = on-premise)

	xtea   xteaKey       // generation 1
	stream [KeySize]byte // generation 2: the key stream, the same for every key
}

// NewLicense returns a new generation 3 license with a random encryption key,
// salt, contract id and signature, all from crypto/rand. Keep its Encode
// string secret and stable: keys minted under it are valid only with it.
func NewLicense() *License {
	l := &License{gen: 3, index: 1}
	_, _ = rand.Read(l.key[:])
	_, _ = rand.Read(l.salt[:saltSizeV3])
	var b [8]byte
	for l.user == 0 || l.sign == 0 {
		_, _ = rand.Read(b[:])
		l.user = binary.BigEndian.Uint32(b[:4])
		l.sign = binary.BigEndian.Uint32(b[4:])
	}
	return l
}

// ParseLicense parses an Emitter license string of any generation. Leading
// and trailing white space is ignored. An error wraps ErrInvalidLicense (as a
// *LicenseError) and never contains the license.
func ParseLicense(s string) (*License, error) {
	s = strings.TrimSpace(s)
	if len(s) > MaxLicenseLength {
		return nil, &LicenseError{Reason: "longer than " + strconv.Itoa(MaxLicenseLength) + " characters"}
	}
	body, gen := s, "1"
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		body, gen = s[:i], s[i+1:]
	}
	raw, err := base64.RawURLEncoding.Strict().DecodeString(body)
	if err != nil || strings.ContainsAny(body, "\r\n") {
		return nil, &LicenseError{Reason: "not unpadded base64url"}
	}
	switch gen {
	case "1":
		return parseV1(raw)
	case "2":
		return parseV23(raw, 2, saltSizeV2)
	case "3":
		return parseV23(raw, 3, saltSizeV3)
	}
	return nil, &LicenseError{Reason: "unknown generation suffix"}
}

func parseV1(raw []byte) (*License, error) {
	if len(raw) != v1Size {
		return nil, &LicenseError{Reason: "generation 1 license is not 32 bytes"}
	}
	l := &License{gen: 1}
	copy(l.key[:v1KeySize], raw)
	l.user = binary.BigEndian.Uint32(raw[16:])
	l.sign = binary.BigEndian.Uint32(raw[20:])
	l.expiry = binary.BigEndian.Uint32(raw[24:])
	l.kind = binary.BigEndian.Uint32(raw[28:])
	l.init()
	return l, nil
}

func parseV23(raw []byte, gen, saltSize int) (*License, error) {
	n, err := snappy.DecodedLen(raw)
	if err != nil {
		return nil, &LicenseError{Reason: "bad snappy block"}
	}
	if n > maxLicenseBody {
		return nil, &LicenseError{Reason: "body too large"}
	}
	var buf [maxLicenseBody]byte
	body, err := snappy.DecodeStrict(buf[:n], raw)
	if err != nil {
		return nil, &LicenseError{Reason: "bad snappy block"}
	}
	l := &License{gen: gen}
	body, ok := readBytes(body, l.key[:keySizeV23])
	if !ok {
		return nil, &LicenseError{Reason: "encryption key is not 32 bytes"}
	}
	body, ok = readBytes(body, l.salt[:saltSize])
	if !ok {
		return nil, &LicenseError{Reason: "encryption salt is not " + strconv.Itoa(saltSize) + " bytes"}
	}
	for _, f := range []*uint32{&l.user, &l.sign, &l.index} {
		v, m := binary.Uvarint(body)
		if m <= 0 || v > 0xFFFFFFFF {
			return nil, &LicenseError{Reason: "bad contract field"}
		}
		*f, body = uint32(v), body[m:]
	}
	if len(body) != 0 {
		return nil, &LicenseError{Reason: "trailing bytes"}
	}
	l.init()
	return l, nil
}

// readBytes reads a uvarint length that must equal len(dst), then that many
// bytes into dst.
func readBytes(b, dst []byte) ([]byte, bool) {
	v, m := binary.Uvarint(b)
	if m <= 0 || v != uint64(len(dst)) || len(b)-m < len(dst) {
		return nil, false
	}
	copy(dst, b[m:])
	return b[m+len(dst):], true
}

// init prepares the cipher state derived from the secret fields.
func (l *License) init() {
	switch l.gen {
	case 1:
		l.xtea = newXTEAKey(l.key[:v1KeySize])
	case 2:
		// XSalsa20 with the 24-byte salt as nonce: HSalsa20 on its first 16
		// bytes gives the subkey, its last 8 bytes start the counter block.
		var nonce, counter [16]byte
		var subkey [32]byte
		copy(nonce[:], l.salt[:16])
		copy(counter[:8], l.salt[16:24])
		salsa.HSalsa20(&subkey, &nonce, &l.key, &salsa.Sigma)
		var zero [KeySize]byte
		salsa.XORKeyStream(l.stream[:], zero[:], &counter, &subkey)
	}
}

// Encode returns the license string: the secret to keep in configuration.
// ParseLicense(l.Encode()) returns an equal license. Generation 1 licenses
// encode without a suffix.
func (l *License) Encode() string {
	if l.gen == 1 {
		var raw [v1Size]byte
		copy(raw[:], l.key[:v1KeySize])
		binary.BigEndian.PutUint32(raw[16:], l.user)
		binary.BigEndian.PutUint32(raw[20:], l.sign)
		binary.BigEndian.PutUint32(raw[24:], l.expiry)
		binary.BigEndian.PutUint32(raw[28:], l.kind)
		return base64.RawURLEncoding.EncodeToString(raw[:])
	}
	saltSize := saltSizeV3
	if l.gen == 2 {
		saltSize = saltSizeV2
	}
	body := make([]byte, 0, 2+keySizeV23+saltSize+3*binary.MaxVarintLen32)
	body = binary.AppendUvarint(body, keySizeV23)
	body = append(body, l.key[:]...)
	body = binary.AppendUvarint(body, uint64(saltSize))
	body = append(body, l.salt[:saltSize]...)
	body = binary.AppendUvarint(body, uint64(l.user))
	body = binary.AppendUvarint(body, uint64(l.sign))
	body = binary.AppendUvarint(body, uint64(l.index))
	return base64.RawURLEncoding.EncodeToString(snappy.Encode(nil, body)) + ":" + strconv.Itoa(l.gen)
}

// Generation returns the license generation: 1, 2 or 3.
func (l *License) Generation() int { return l.gen }

// Contract returns the contract id (Emitter's license User), which every key
// of the license carries.
func (l *License) Contract() uint32 { return l.user }

// Expires returns the expiry recorded in a generation 1 license, or the zero
// time if there is none. It is informational: Herald does not refuse keys
// because of it.
func (l *License) Expires() time.Time {
	if l.expiry == 0 {
		return time.Time{}
	}
	return time.Unix(keyEpoch+int64(l.expiry), 0).UTC()
}

// Equal reports whether l and m hold the same secret and contract, in
// constant time.
func (l *License) Equal(m *License) bool {
	if l == nil || m == nil {
		return l == m
	}
	eq := subtle.ConstantTimeCompare(l.key[:], m.key[:]) &
		subtle.ConstantTimeCompare(l.salt[:], m.salt[:]) &
		subtle.ConstantTimeEq(int32(l.user), int32(m.user)) &
		subtle.ConstantTimeEq(int32(l.sign), int32(m.sign))
	return eq == 1 && l.gen == m.gen && l.index == m.index && l.expiry == m.expiry && l.kind == m.kind
}

// Validate reports whether k belongs to this license: master id 1 and the
// license's contract id and signature, compared in constant time. It is
// Emitter's contract check for its single-contract provider.
func (l *License) Validate(k Key) bool {
	ok := subtle.ConstantTimeEq(int32(k.MasterID()), 1) &
		subtle.ConstantTimeEq(int32(k.Contract()), int32(l.user)) &
		subtle.ConstantTimeEq(int32(k.Signature()), int32(l.sign))
	return ok == 1
}

// errInvalidKey is returned for every malformed key string; it is immutable.
var errInvalidKey = &KeyError{Reason: ErrInvalidKey}

// DecryptKey decodes and decrypts a 32-character key string. It fails only
// when s is not 32 base64url characters (a *KeyError wrapping ErrInvalidKey
// and ErrStatusUnauthorized): any well-formed string decrypts to some Key, so
// check the result with Validate (or Authorize). It does not allocate.
func (l *License) DecryptKey(s string) (Key, error) {
	var k Key
	if !decodeKey(&k.b, s) {
		return Key{}, errInvalidKey
	}
	l.crypt(&k.b, false)
	return k, nil
}

// EncryptKey encrypts k and returns it as a 32-character base64url string.
func (l *License) EncryptKey(k Key) string {
	var out [EncodedKeyLen]byte
	l.encrypt(&out, k)
	return string(out[:])
}

func (l *License) encrypt(out *[EncodedKeyLen]byte, k Key) {
	l.crypt(&k.b, true)
	encodeKey(out, &k.b)
}

// crypt encrypts or decrypts b in place with the license's cipher.
func (l *License) crypt(b *[KeySize]byte, encrypt bool) {
	switch l.gen {
	case 3:
		// The salt (bytes 0-1) stays in clear and perturbs the nonce; the
		// rest is XORed with Salsa20 under HSalsa20(key, nonce).
		var nonce [16]byte
		var subkey [32]byte
		for i := range nonce {
			nonce[i] = l.salt[i] ^ b[i&1]
		}
		salsa.HSalsa20(&subkey, &nonce, &l.key, &salsa.Sigma)
		salsa.XORKeyStream(b[2:], b[2:], &nonce, &subkey)
	case 2:
		for i := range b {
			b[i] ^= l.stream[i]
		}
	case 1:
		if encrypt {
			xorSalt(b)
			for i := 0; i < KeySize; i += 8 {
				l.xtea.encrypt(b[i : i+8])
			}
		} else {
			for i := 0; i < KeySize; i += 8 {
				l.xtea.decrypt(b[i : i+8])
			}
			xorSalt(b)
		}
	}
}

// xorSalt XORs bytes 2..23 with the salt bytes, alternately.
func xorSalt(b *[KeySize]byte) {
	for i := 2; i < KeySize; i++ {
		b[i] ^= b[i&1]
	}
}

// String describes the license without its secret, for example
// "security.License{generation: 3, contract: 2168120411}".
func (l License) String() string {
	return "security.License{generation: " + strconv.Itoa(l.gen) +
		", contract: " + strconv.FormatUint(uint64(l.user), 10) + "}"
}

// GoString is the same as String, so that %#v does not print the secret.
func (l License) GoString() string { return l.String() }

// Format writes String for every verb, so no fmt verb prints the secret.
func (l License) Format(f fmt.State, verb rune) { _, _ = f.Write([]byte(l.String())) }

// LogValue makes slog log String instead of the secret.
func (l License) LogValue() slog.Value { return slog.StringValue(l.String()) }
