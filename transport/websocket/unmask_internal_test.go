package websocket

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestUnmask compares unmask with a byte-at-a-time XOR, in place and into a
// destination that starts up to 20 bytes before the source in the same array
// (how parse moves payloads over frame headers), for every length up to 100
// and every starting mask position.
func TestUnmask(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	mask := [4]byte{0x12, 0x9a, 0xff, 0x01}
	for n := range 101 {
		for pos := range 4 {
			for shift := range 21 {
				buf := make([]byte, shift+n+8)
				for i := range buf {
					buf[i] = byte(rng.Uint32())
				}
				src := buf[shift : shift+n]
				want := make([]byte, n)
				for i := range want {
					want[i] = src[i] ^ mask[(pos+i)&3]
				}
				tail := bytes.Clone(buf[shift+n:])
				if got := unmask(buf[:n], src, mask, pos); got != pos+n {
					t.Fatalf("n %d pos %d shift %d: position %d, want %d", n, pos, shift, got, pos+n)
				}
				if !bytes.Equal(buf[:n], want) {
					t.Fatalf("n %d pos %d shift %d: got %x, want %x", n, pos, shift, buf[:n], want)
				}
				if !bytes.Equal(buf[shift+n:], tail) {
					t.Fatalf("n %d pos %d shift %d: wrote past the end", n, pos, shift)
				}
			}
		}
	}
}
