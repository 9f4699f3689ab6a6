package security

// Keys travel as unpadded base64url (RFC 4648 §5): 24 bytes become exactly 32
// characters from A-Z a-z 0-9 - _, so a key never contains '/' or '?'. These
// two functions do what encoding/base64.RawURLEncoding does for that one size,
// into and out of fixed arrays, so neither allocates.

// EncodedKeyLen is the length of an encrypted key string.
const EncodedKeyLen = 32

const base64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// base64Dec maps a character to its 6-bit value, or 0xFF when it is not in
// the base64url alphabet.
var base64Dec = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i := 0; i < len(base64URL); i++ {
		t[base64URL[i]] = byte(i)
	}
	return t
}()

// decodeKey decodes a 32-character base64url string into 24 bytes. It reports
// false when s has another length or a character outside the alphabet.
func decodeKey(dst *[KeySize]byte, s string) bool {
	if len(s) != EncodedKeyLen {
		return false
	}
	var bad byte
	for i, j := 0, 0; i < EncodedKeyLen; i, j = i+4, j+3 {
		a, b, c, d := base64Dec[s[i]], base64Dec[s[i+1]], base64Dec[s[i+2]], base64Dec[s[i+3]]
		bad |= a | b | c | d
		v := uint32(a)<<18 | uint32(b)<<12 | uint32(c)<<6 | uint32(d)
		dst[j], dst[j+1], dst[j+2] = byte(v>>16), byte(v>>8), byte(v)
	}
	return bad&0xC0 == 0
}

// encodeKey encodes 24 bytes as 32 base64url characters.
func encodeKey(dst *[EncodedKeyLen]byte, src *[KeySize]byte) {
	for i, j := 0, 0; j < KeySize; i, j = i+4, j+3 {
		v := uint32(src[j])<<16 | uint32(src[j+1])<<8 | uint32(src[j+2])
		dst[i] = base64URL[v>>18&0x3F]
		dst[i+1] = base64URL[v>>12&0x3F]
		dst[i+2] = base64URL[v>>6&0x3F]
		dst[i+3] = base64URL[v&0x3F]
	}
}
