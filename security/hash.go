package security

import "math/bits"

// Emitter's channel hash is MurmurHash3 x86 32-bit with seed 37, written from
// the public algorithm description (Austin Appleby, public domain), with the
// four result bytes reversed.
const (
	murmurSeed = 37
	murmurC1   = 0xcc9e2d51
	murmurC2   = 0x1b873593
)

// hashEmpty is channelHash(""), the target hash of a "#/" key.
const hashEmpty = 1325880984

// channelHash returns Emitter's 32-bit hash of s: MurmurHash3 x86 32-bit
// with seed 37, byte-swapped. It is the hash of a key's target path ("a/b/c"
// for the target "a/b/c/") and, in Emitter, of each segment in a
// subscription id. It does not allocate.
func channelHash(s string) uint32 {
	h := uint32(murmurSeed)
	n := len(s)
	for ; len(s) >= 4; s = s[4:] {
		h = murmurBlock(h, le32(s))
	}
	var k uint32
	switch len(s) {
	case 3:
		k ^= uint32(s[2]) << 16
		fallthrough
	case 2:
		k ^= uint32(s[1]) << 8
		fallthrough
	case 1:
		k ^= uint32(s[0])
		h ^= murmurTail(k)
	}
	return murmurFinish(h, uint32(n))
}

func murmurBlock(h, k uint32) uint32 {
	h ^= murmurTail(k)
	h = bits.RotateLeft32(h, 13)
	return h*5 + 0xe6546b64
}

func murmurTail(k uint32) uint32 {
	k *= murmurC1
	k = bits.RotateLeft32(k, 15)
	return k * murmurC2
}

func murmurFinish(h, n uint32) uint32 {
	h ^= n
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return bits.ReverseBytes32(h)
}

// hasher computes channelHash over a string written in pieces, so that a channel can
// be hashed segment by segment without building the joined string. The zero
// value is not ready: use newHasher.
type hasher struct {
	h    uint32
	n    uint32 // bytes written
	tail uint32 // pending bytes, little-endian
	tn   uint32 // number of pending bytes (0..3)
}

func newHasher() hasher { return hasher{h: murmurSeed} }

func (m *hasher) writeByte(c byte) {
	m.tail |= uint32(c) << (8 * m.tn)
	m.tn++
	m.n++
	if m.tn == 4 {
		m.h = murmurBlock(m.h, m.tail)
		m.tail, m.tn = 0, 0
	}
}

func (m *hasher) writeString(s string) {
	for m.tn != 0 && len(s) > 0 {
		m.writeByte(s[0])
		s = s[1:]
	}
	m.n += uint32(len(s))
	for ; len(s) >= 4; s = s[4:] {
		m.h = murmurBlock(m.h, le32(s))
	}
	for i := 0; i < len(s); i++ {
		m.tail |= uint32(s[i]) << (8 * m.tn)
		m.tn++
	}
}

// sum returns the hash of everything written so far; m is not changed.
func (m *hasher) sum() uint32 {
	h := m.h
	if m.tn != 0 {
		h ^= murmurTail(m.tail)
	}
	return murmurFinish(h, m.n)
}

// le32 reads the first four bytes of s as a little-endian uint32.
func le32(s string) uint32 {
	_ = s[3]
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}
