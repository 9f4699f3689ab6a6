package mqtt

import (
	"bytes"
	"io"
	"testing"

	"github.com/stretchr/testify/require"
)

// smallReads returns at most n bytes per Read: a peer whose bytes arrive a
// little at a time.
type smallReads struct {
	rd io.Reader
	n  int
}

func (s *smallReads) Read(p []byte) (int, error) { return s.rd.Read(p[:min(len(p), s.n)]) }

// TestReaderBufferTiers checks when a Reader holds which buffer: nothing
// pooled once everything read is decoded, the 64 KiB buffer only for a peer
// whose reads keep filling the 16 KiB one, and not for one that sends a few
// KiB at a time or announces a large packet.
func TestReaderBufferTiers(t *testing.T) {
	var wire []byte
	for i := range 200 {
		var err error
		wire, err = AppendPublish(wire, "tiers/", bytes.Repeat([]byte{byte(i)}, 1000), 0, 0, false, false)
		require.NoError(t, err)
	}
	run := func(rd io.Reader) (sawMid, sawBig bool) {
		r := NewReader(rd, 0)
		var p Packet
		for i := range 200 {
			require.NoError(t, r.ReadPacket(&p))
			require.Equal(t, bytes.Repeat([]byte{byte(i)}, 1000), p.Payload)
			sawMid = sawMid || r.mid != nil
			sawBig = sawBig || r.big != nil
		}
		require.ErrorIs(t, r.ReadPacket(&p), io.EOF)
		require.Nil(t, r.mid, "nothing pooled once all is decoded")
		require.Nil(t, r.big)
		return sawMid, sawBig
	}

	mid, big := run(bytes.NewReader(wire)) // everything at once
	require.True(t, mid || big)
	require.True(t, big, "reads that fill 16 KiB move to 64 KiB")

	mid, big = run(&smallReads{rd: bytes.NewReader(wire), n: 4 << 10})
	require.True(t, mid)
	require.False(t, big, "4 KiB at a time never needs 64 KiB")

	// A packet of 60 KiB announced, its body arriving slowly: it is
	// collected in a body buffer that grows with what arrives.
	huge, err := AppendPublish(nil, "t", make([]byte, 60<<10), 0, 0, false, false)
	require.NoError(t, err)
	r := NewReader(&smallReads{rd: bytes.NewReader(huge), n: 1000}, 0)
	var p Packet
	require.NoError(t, r.ReadPacket(&p))
	require.Len(t, p.Payload, 60<<10)
	require.Nil(t, r.big)
}

// loopReader returns the same bytes over and over.
type loopReader struct {
	b   []byte
	off int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.b[l.off:])
	l.off = (l.off + n) % len(l.b)
	return n, nil
}

// TestReaderAllocs checks that reading packets allocates nothing once the
// pools are warm, whether they fit the read buffers or are collected in body
// buffers.
func TestReaderAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector drops pooled items at random")
	}
	for _, size := range []int{64, 1000, 20000, 100000} {
		wire, err := AppendPublish(nil, "allocs/", make([]byte, size), 1, 7, false, false)
		require.NoError(t, err)
		r := NewReader(&loopReader{b: wire}, 0)
		var p Packet
		for range 10 {
			require.NoError(t, r.ReadPacket(&p))
		}
		allocs := testing.AllocsPerRun(100, func() {
			if err := r.ReadPacket(&p); err != nil || len(p.Payload) != size {
				t.Fatalf("size %d: %v, %d bytes", size, err, len(p.Payload))
			}
		})
		require.Zero(t, allocs, "size %d", size)
	}
}
