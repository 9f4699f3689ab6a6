package engine

import (
	"bytes"
	"testing"
)

// TestMakeNoZero checks the chunk allocation that skips clearing: the slice
// has the length and capacity asked for, every byte of it can be written and
// read back (under -race, checkptr also checks that it lies in one
// allocation), and two slices do not overlap.
func TestMakeNoZero(t *testing.T) {
	for _, n := range []int{1, 7, smallChunkSize, largeChunkSize, 32 << 10, 64 << 10} {
		a, b := makeNoZero(n), makeNoZero(n)
		if len(a) != n || cap(a) != n {
			t.Fatalf("makeNoZero(%d): len %d cap %d", n, len(a), cap(a))
		}
		for i := range a {
			a[i], b[i] = byte(i), ^byte(i)
		}
		want := make([]byte, n)
		for i := range want {
			want[i] = byte(i)
		}
		if !bytes.Equal(a, want) {
			t.Fatalf("makeNoZero(%d): the bytes written are not read back (overlap?)", n)
		}
	}
}

// TestCopyOfFreshChunks carves payloads of every size up to the chunk's
// limit from new arenas and checks each copy against its source: a chunk's
// bytes are not cleared, so a copy must cover its payload exactly.
func TestCopyOfFreshChunks(t *testing.T) {
	src := make([]byte, maxLargePayload)
	for i := range src {
		src[i] = byte(i*7 + 1)
	}
	var small, large byteArena
	var kept [][]byte
	for n := 0; n <= maxLargePayload; n++ {
		var p []byte
		if n <= maxSmallPayload {
			p = small.copyOf(src[:n], smallChunkSize)
		} else {
			p = large.copyOf(src[:n], largeChunkSize)
		}
		if len(p) != n || cap(p) != n {
			t.Fatalf("copy of %d bytes: len %d cap %d", n, len(p), cap(p))
		}
		kept = append(kept, p)
	}
	for n, p := range kept {
		if !bytes.Equal(p, src[:n]) {
			t.Fatalf("copy of %d bytes changed after later copies", n)
		}
	}
}
