package security

import (
	"encoding/hex"
	"math/bits"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// murmurRef is a textbook MurmurHash3 x86 32 (byte at a time, no shortcuts),
// an independent model for Hash and hasher.
func murmurRef(data []byte, seed uint32) uint32 {
	h := seed
	nblocks := len(data) / 4
	for i := 0; i < nblocks; i++ {
		k := uint32(data[4*i]) | uint32(data[4*i+1])<<8 | uint32(data[4*i+2])<<16 | uint32(data[4*i+3])<<24
		k *= 0xcc9e2d51
		k = k<<15 | k>>17
		k *= 0x1b873593
		h ^= k
		h = h<<13 | h>>19
		h = h*5 + 0xe6546b64
	}
	tail := data[nblocks*4:]
	var k uint32
	for i := len(tail) - 1; i >= 0; i-- {
		k = k<<8 | uint32(tail[i])
	}
	if len(tail) > 0 {
		k *= 0xcc9e2d51
		k = k<<15 | k>>17
		k *= 0x1b873593
		h ^= k
	}
	h ^= uint32(len(data))
	h ^= h >> 16
	h *= 0x85ebca6b
	h ^= h >> 13
	h *= 0xc2b2ae35
	h ^= h >> 16
	return h
}

func TestHashMatchesReference(t *testing.T) {
	// Published MurmurHash3_x86_32 values (seed 0) pin the reference itself.
	require.Equal(t, uint32(0), murmurRef(nil, 0))
	require.Equal(t, uint32(0x514E28B7), murmurRef(nil, 1))
	require.Equal(t, uint32(0xba6bd213), murmurRef([]byte("test"), 0))
	require.Equal(t, uint32(0x2e4ff723), murmurRef([]byte("The quick brown fox jumps over the lazy dog"), 0))

	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		b := make([]byte, r.IntN(40))
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		want := bits.ReverseBytes32(murmurRef(b, 37))
		require.Equal(t, want, channelHash(string(b)), "%s", hex.EncodeToString(b))

		// The streaming hasher gives the same result however the input is
		// split.
		h := newHasher()
		for rest := b; len(rest) > 0; {
			n := r.IntN(len(rest) + 1)
			if n == 1 && r.IntN(2) == 0 {
				h.writeByte(rest[0])
			} else {
				h.writeString(string(rest[:n]))
			}
			rest = rest[n:]
		}
		require.Equal(t, want, h.sum(), "%s", hex.EncodeToString(b))
	}
}

// TestVectorLicenseBody checks the decoded secret fields of the reference
// license directly (reference §3.6).
func TestVectorLicenseBody(t *testing.T) {
	l, err := ParseLicense("PfA8IFBKLxUndYEooeCnvtECGQI5CuDvpHbu1NUoTSPNosAJEAnVyfJ1ZTw-FCroriETLMvbyOuJCISnu_wFAQ:3")
	require.NoError(t, err)
	require.Equal(t, "504a2f1527758128a1e0a7bed1021902390ae0efa476eed4d5284d23cda2c009", hex.EncodeToString(l.key[:]))
	require.Equal(t, "09d5c9f275653c3e142ae8ae21132ccb", hex.EncodeToString(l.salt[:16]))
	require.Equal(t, make([]byte, 8), l.salt[16:], "a v3 salt is 16 bytes")
	require.EqualValues(t, 2168120411, l.user)
	require.EqualValues(t, 1603195780, l.sign)
	require.EqualValues(t, 1, l.index)
}
