package websocket_test

import (
	"bytes"
	"io"
	"net"
	"testing"

	"github.com/heraldmq/herald/transport/websocket"
)

// loopConn is a net.Conn whose reads return wire again and again, as much as
// fits, like a socket with a steady flow of frames.
type loopConn struct {
	net.Conn
	wire []byte
	off  int
}

func (c *loopConn) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k := copy(p[n:], c.wire[c.off:])
		n += k
		c.off = (c.off + k) % len(c.wire)
	}
	return n, nil
}

func (c *loopConn) Write(p []byte) (int, error) { return len(p), nil }

// BenchmarkRead reads a stream of masked 16 KiB client frames (what a
// publishing client batches) through a 64 KiB buffer: framing and unmasking.
func BenchmarkRead(b *testing.B) {
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 1024)
	wire := frame(0x82, mask, payload)
	c := websocket.NewConn(&loopConn{wire: wire})
	buf := make([]byte, 64<<10)
	b.SetBytes(int64(len(buf)))
	b.ReportAllocs()
	for b.Loop() {
		for got := 0; got < len(buf); {
			n, err := c.Read(buf[got:])
			if err != nil && err != io.EOF {
				b.Fatal(err)
			}
			got += n
		}
	}
}
