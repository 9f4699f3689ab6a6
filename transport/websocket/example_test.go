package websocket_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/heraldmq/herald/transport/websocket"
)

// An HTTP handler upgrades the request and then uses the Conn as a byte
// stream; here it echoes five bytes and closes. The client side is written
// by hand: the opening handshake, one masked binary frame, and the server's
// unmasked frames read back.
func ExampleUpgrade() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Upgrade(w, r, []string{"mqtt"})
		if err != nil {
			return // Upgrade has answered the request
		}
		defer c.Close() // sends a close frame with status 1000
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		_, _ = c.Write(buf) // one binary frame
	}))
	defer srv.Close()

	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		panic(err)
	}
	defer nc.Close()
	_, _ = io.WriteString(nc, "GET /mqtt HTTP/1.1\r\nHost: herald\r\n"+
		"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n")
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(resp.Status, resp.Header.Get("Sec-WebSocket-Protocol"))

	// A client frame: FIN and binary opcode, mask bit and length, mask, payload.
	mask := [4]byte{0x12, 0x34, 0x56, 0x78}
	frame := append([]byte{0x82, 0x80 | 5}, mask[:]...)
	for i, b := range []byte("hello") {
		frame = append(frame, b^mask[i%4])
	}
	_, _ = nc.Write(frame)

	for range 2 { // the echo, then the close frame
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			panic(err)
		}
		p := make([]byte, h[1]&0x7f) // short frames: the length is in the second byte
		if _, err := io.ReadFull(br, p); err != nil {
			panic(err)
		}
		switch h[0] {
		case 0x82:
			fmt.Printf("binary frame %q\n", p)
		case 0x88:
			fmt.Println("close frame, status", binary.BigEndian.Uint16(p))
		}
	}
	// Output:
	// 101 Switching Protocols mqtt
	// binary frame "hello"
	// close frame, status 1000
}
