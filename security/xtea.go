package security

import "encoding/binary"

// XTEA (Needham and Wheeler, 1997) with 32 cycles and big-endian words, as
// Emitter's generation 1 licenses use it, written from the published
// algorithm. golang.org/x/crypto/xtea computes the same function but is
// deprecated.

const xteaDelta = 0x9E3779B9

// xteaKey holds the 64 round keys: sum + key[...] for each half-cycle, in
// encryption order.
type xteaKey [64]uint32

func newXTEAKey(key []byte) (t xteaKey) {
	var k [4]uint32
	for i := range k {
		k[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	var sum uint32
	for i := 0; i < len(t); i += 2 {
		t[i] = sum + k[sum&3]
		sum += xteaDelta
		t[i+1] = sum + k[sum>>11&3]
	}
	return t
}

// encrypt enciphers the 8-byte block b in place.
func (t *xteaKey) encrypt(b []byte) {
	v0, v1 := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	for i := 0; i < len(t); i += 2 {
		v0 += ((v1<<4 ^ v1>>5) + v1) ^ t[i]
		v1 += ((v0<<4 ^ v0>>5) + v0) ^ t[i+1]
	}
	binary.BigEndian.PutUint32(b, v0)
	binary.BigEndian.PutUint32(b[4:], v1)
}

// decrypt deciphers the 8-byte block b in place.
func (t *xteaKey) decrypt(b []byte) {
	v0, v1 := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	for i := len(t); i > 0; i -= 2 {
		v1 -= ((v0<<4 ^ v0>>5) + v0) ^ t[i-1]
		v0 -= ((v1<<4 ^ v1>>5) + v1) ^ t[i-2]
	}
	binary.BigEndian.PutUint32(b, v0)
	binary.BigEndian.PutUint32(b[4:], v1)
}
