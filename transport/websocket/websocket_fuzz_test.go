package websocket_test

import (
	"bytes"
	"testing"

	"github.com/heraldmq/herald/transport/websocket"
)

// FuzzRead feeds arbitrary bytes, in arbitrary chunks, to a Conn: it must
// never panic and never return more bytes than it was given. It also frames
// payload as a sequence of masked client frames split at the fuzzer's chosen
// sizes, with pings in between, and checks that reading gives the payload
// back exactly, whatever the read and chunk sizes.
func FuzzRead(f *testing.F) {
	mask := [4]byte{1, 2, 3, 4}
	f.Add(frame(0x82, mask, []byte("hello")), []byte("hello world"), uint8(3), uint8(7))
	f.Add(append(frame(0x01, mask, []byte("a")), frame(0x80, mask, []byte("b"))...), []byte{}, uint8(1), uint8(1))
	f.Add([]byte{0x82, 0x7e, 0x00}, bytes.Repeat([]byte("x"), 300), uint8(200), uint8(64))
	f.Add(frame(0x88, mask, []byte{3, 232}), []byte("z"), uint8(0), uint8(0))
	f.Fuzz(func(t *testing.T, raw, payload []byte, split, chunk uint8) {
		chunks := func(b []byte) [][]byte {
			var out [][]byte
			size := int(chunk)%23 + 1
			for len(b) > size {
				out = append(out, b[:size])
				b = b[size:]
			}
			return append(out, b)
		}
		c := websocket.NewConn(&chunkConn{chunks: chunks(bytes.Clone(raw))})
		got, _ := readAll(c, int(split)%40+1)
		if len(got) > len(raw) {
			t.Fatalf("read %d bytes from %d", len(got), len(raw))
		}

		// Frame payload: fragments of `split` bytes as one fragmented
		// binary message, a ping after each fragment, then a close.
		var wire []byte
		step := int(split)%50 + 1
		rest := payload
		first := true
		for {
			n := min(step, len(rest))
			op := byte(0x00)
			if first {
				op = 0x02
			}
			if n == len(rest) {
				op |= 0x80
			}
			m := [4]byte{byte(n), split, chunk, 7}
			wire = append(wire, frame(op, m, rest[:n])...)
			wire = append(wire, frame(0x89, m, rest[:min(n, 125)])...)
			rest = rest[n:]
			first = false
			if len(rest) == 0 {
				break
			}
		}
		wire = append(wire, frame(0x88, mask, nil)...)
		cc := &chunkConn{chunks: chunks(wire)}
		got, err := readAll(websocket.NewConn(cc), int(chunk)%40+1)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("got %q, want %q", got, payload)
		}
	})
}
