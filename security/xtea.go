package security

import "encoding/binary"

// XTEA (Needham and Wheeler, 1997) with 32 cycles and big-endian words, as
// Emitter's generation 1 licenses use it, written from the published
// algorithm. golang.org/x/crypto/xtea computes the same function but is
// deprecated.

const (
	xteaDelta = 0x9E3779B9
	xteaSum32 = xteaDelta * 32 & 0xFFFFFFFF // the sum after 32 cycles
)

type xteaKey [4]uint32

func newXTEAKey(key []byte) (k xteaKey) {
	for i := range k {
		k[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	return k
}

// encrypt enciphers the 8-byte block b in place.
func (k *xteaKey) encrypt(b []byte) {
	v0, v1 := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	var sum uint32
	for range 32 {
		v0 += ((v1<<4 ^ v1>>5) + v1) ^ (sum + k[sum&3])
		sum += xteaDelta
		v1 += ((v0<<4 ^ v0>>5) + v0) ^ (sum + k[sum>>11&3])
	}
	binary.BigEndian.PutUint32(b, v0)
	binary.BigEndian.PutUint32(b[4:], v1)
}

// decrypt deciphers the 8-byte block b in place.
func (k *xteaKey) decrypt(b []byte) {
	v0, v1 := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	sum := uint32(xteaSum32)
	for range 32 {
		v1 -= ((v0<<4 ^ v0>>5) + v0) ^ (sum + k[sum>>11&3])
		sum -= xteaDelta
		v0 -= ((v1<<4 ^ v1>>5) + v1) ^ (sum + k[sum&3])
	}
	binary.BigEndian.PutUint32(b, v0)
	binary.BigEndian.PutUint32(b[4:], v1)
}
