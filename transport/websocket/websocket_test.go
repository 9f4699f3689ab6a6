package websocket_test

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/transport/websocket"
)

// frame encodes a client frame independently of the package: masked with
// mask, with the given first byte (FIN, RSV and opcode).
func frame(first byte, mask [4]byte, payload []byte) []byte {
	b := []byte{first}
	switch n := len(payload); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n < 1<<16:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, mask[:]...)
	for i, c := range payload {
		b = append(b, c^mask[i%4])
	}
	return b
}

// readServerFrame reads one unmasked server frame.
func readServerFrame(t *testing.T, r *bufio.Reader) (byte, []byte) {
	t.Helper()
	var h [2]byte
	_, err := io.ReadFull(r, h[:])
	require.NoError(t, err)
	require.Zero(t, h[1]&0x80, "server frames are not masked")
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var e [2]byte
		_, err = io.ReadFull(r, e[:])
		n = uint64(binary.BigEndian.Uint16(e[:]))
	case 127:
		var e [8]byte
		_, err = io.ReadFull(r, e[:])
		n = binary.BigEndian.Uint64(e[:])
	}
	require.NoError(t, err)
	p := make([]byte, n)
	_, err = io.ReadFull(r, p)
	require.NoError(t, err)
	return h[0], p
}

// echoServer upgrades every request and echoes what it reads, one Write per
// Read, until the stream ends.
func echoServer(t *testing.T) (*httptest.Server, chan error) {
	errs := make(chan error, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Upgrade(w, r, []string{"mqtt", "mqttv3.1", "mqttv3"})
		if err != nil {
			errs <- err
			return
		}
		defer c.Close()
		buf := make([]byte, 64)
		for {
			n, err := c.Read(buf)
			if n > 0 {
				if _, werr := c.Write(buf[:n]); werr != nil {
					errs <- werr
					return
				}
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, errs
}

func dial(t *testing.T, srv *httptest.Server, headers string) (net.Conn, *bufio.Reader, *http.Response) {
	t.Helper()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	_, err = io.WriteString(c, "GET /any/path HTTP/1.1\r\nHost: x\r\n"+headers+"\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	require.NoError(t, err)
	return c, br, resp
}

const upgradeHeaders = "Upgrade: websocket\r\nConnection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"

func TestHandshakeAndEcho(t *testing.T) {
	srv, errs := echoServer(t)
	c, br, resp := dial(t, srv, upgradeHeaders+"Sec-WebSocket-Protocol: foo, mqttv3.1\r\n")
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	// The accept value of the example in RFC 6455 §1.3.
	require.Equal(t, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", resp.Header.Get("Sec-WebSocket-Accept"))
	require.Equal(t, "mqttv3.1", resp.Header.Get("Sec-WebSocket-Protocol"))

	mask := [4]byte{1, 2, 3, 4}
	big := bytes.Repeat([]byte("0123456789"), 7000) // 70000 bytes: 8-byte length
	var wire []byte
	wire = append(wire, frame(0x01, mask, []byte("hel"))...)         // text, not final
	wire = append(wire, frame(0x89, mask, []byte("ping!"))...)       // ping in between
	wire = append(wire, frame(0x80, mask, []byte("lo "))...)         // final continuation
	wire = append(wire, frame(0x82, mask, nil)...)                   // empty binary
	wire = append(wire, frame(0x82, [4]byte{9, 8, 7, 6}, big)...)    // large binary
	wire = append(wire, frame(0x8A, mask, []byte("unsolicited"))...) // pong: ignored
	_, err := c.Write(wire)
	require.NoError(t, err)

	want := append([]byte("hello "), big...)
	var got []byte
	sawPong := false
	for len(got) < len(want) {
		op, p := readServerFrame(t, br)
		switch op {
		case 0x8A:
			require.Equal(t, "ping!", string(p))
			sawPong = true
		case 0x82:
			got = append(got, p...)
		default:
			t.Fatalf("unexpected frame %x", op)
		}
	}
	require.Equal(t, want, got)
	require.True(t, sawPong)

	// A close frame is echoed with its status and ends the stream.
	_, err = c.Write(frame(0x88, mask, []byte{0x03, 0xe8, 'b', 'y', 'e'}))
	require.NoError(t, err)
	op, p := readServerFrame(t, br)
	require.Equal(t, byte(0x88), op)
	require.Equal(t, []byte{0x03, 0xe8}, p)
	require.ErrorIs(t, <-errs, io.EOF)
}

func TestHandshakeRefusals(t *testing.T) {
	srv, errs := echoServer(t)
	for _, tc := range []struct {
		headers string
		status  int
	}{
		{"", http.StatusUpgradeRequired},
		{"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", http.StatusBadRequest},
		{"Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: short\r\n", http.StatusBadRequest},
		{upgradeHeaders + "Sec-WebSocket-Protocol: stomp\r\n", http.StatusBadRequest},
	} {
		_, _, resp := dial(t, srv, tc.headers)
		require.Equal(t, tc.status, resp.StatusCode, tc.headers)
		require.ErrorIs(t, <-errs, websocket.ErrNotWebSocket)
	}
	// No subprotocol offered: accepted without one.
	_, _, resp := dial(t, srv, upgradeHeaders)
	require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
	require.Empty(t, resp.Header.Get("Sec-WebSocket-Protocol"))
}

func TestProtocolErrors(t *testing.T) {
	mask := [4]byte{5, 6, 7, 8}
	unmasked := []byte{0x82, 0x01, 'x'}
	for name, wire := range map[string][]byte{
		"unmasked":          unmasked,
		"reserved bit":      frame(0xC2, mask, []byte("x")),
		"reserved opcode":   frame(0x83, mask, []byte("x")),
		"lone continuation": frame(0x80, mask, []byte("x")),
		"nested message":    append(frame(0x02, mask, []byte("x")), frame(0x82, mask, []byte("y"))...),
		"fragmented ping":   frame(0x09, mask, nil),
		"long ping":         frame(0x89, mask, make([]byte, 126)),
		"huge length":       {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4},
	} {
		t.Run(name, func(t *testing.T) {
			srv, errs := echoServer(t)
			c, br, resp := dial(t, srv, upgradeHeaders)
			require.Equal(t, http.StatusSwitchingProtocols, resp.StatusCode)
			_, err := c.Write(wire)
			require.NoError(t, err)
			err = <-errs
			require.ErrorIs(t, err, websocket.ErrProtocol)
			require.True(t, strings.HasPrefix(err.Error(), "websocket: protocol error: "))
			// The data before the bad frame was echoed, then a 1002 close.
			for {
				op, p := readServerFrame(t, br)
				if op == 0x88 {
					require.Equal(t, []byte{0x03, 0xea}, p)
					return
				}
			}
		})
	}
}

// chunkConn is a net.Conn whose reads return the given chunks in order.
type chunkConn struct {
	net.Conn
	chunks [][]byte
	wrote  bytes.Buffer
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	c.chunks[0] = c.chunks[0][n:]
	if len(c.chunks[0]) == 0 {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

func (c *chunkConn) Write(p []byte) (int, error) { return c.wrote.Write(p) }

func readAll(c *websocket.Conn, bufSize int) ([]byte, error) {
	var out []byte
	buf := make([]byte, bufSize)
	for {
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return out, err
		}
	}
}

func TestWriteFrames(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536} {
		cc := &chunkConn{}
		c := websocket.NewConn(cc)
		p := bytes.Repeat([]byte{7}, n)
		m, err := c.Write(p)
		require.NoError(t, err)
		require.Equal(t, n, m)
		require.Equal(t, len(websocket.AppendFrameHeader(nil, n))+n, cc.wrote.Len())
		op, got := readServerFrame(t, bufio.NewReader(&cc.wrote))
		require.Equal(t, byte(0x82), op)
		require.Equal(t, p, got)
		require.Zero(t, cc.wrote.Len(), "one frame, nothing after it")
		require.Equal(t, byte(0x82), websocket.AppendFrameHeader(nil, n)[0])
	}
}

func TestWriteFramed(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 65535, 65536} {
		cc := &chunkConn{}
		c := websocket.NewConn(cc)
		p := bytes.Repeat([]byte{9}, n)
		b := append(make([]byte, websocket.MaxHeaderLen), p...)
		require.NoError(t, c.WriteFramed(b))
		require.Equal(t, len(websocket.AppendFrameHeader(nil, n))+n, cc.wrote.Len(), "one frame, nothing else")
		op, got := readServerFrame(t, bufio.NewReader(&cc.wrote))
		require.Equal(t, byte(0x82), op)
		require.Equal(t, p, got)
	}
	require.Error(t, websocket.NewConn(&chunkConn{}).WriteFramed([]byte{1}))
}

// TestTryWriteFramed checks that a frame the socket takes only part of is
// finished before any later frame (another TryWriteFramed, a Write, a pong
// answering a ping) and by Flush, so the stream decodes to whole frames in
// order whatever the socket takes.
func TestTryWriteFramed(t *testing.T) {
	for _, take := range []int{0, 1, 2, 5, 200, 1 << 20} {
		ping := frame(0x89, [4]byte{1, 2, 3, 4}, []byte("hi"))
		cc := &chunkConn{chunks: [][]byte{ping}}
		c := websocket.NewConn(cc)
		partial := func(b []byte) (int, error) { // one attempt that takes at most take bytes
			n := min(take, len(b))
			cc.wrote.Write(b[:n])
			return n, nil
		}
		p1 := bytes.Repeat([]byte{1}, 300)
		p2 := bytes.Repeat([]byte{2}, 10)
		ok, kept, err := c.TryWriteFramed(append(make([]byte, websocket.MaxHeaderLen), p1...), partial)
		require.NoError(t, err)
		require.True(t, ok)
		require.Equal(t, take < 304, kept, "take %d", take)
		ok, _, err = c.TryWriteFramed(append(make([]byte, websocket.MaxHeaderLen), p2...), partial)
		require.NoError(t, err)
		require.True(t, ok)
		_, err = readAll(c, 64) // answers the ping: after what was kept
		require.NoError(t, err)
		_, err = c.Write([]byte("p3"))
		require.NoError(t, err)
		require.NoError(t, c.Flush())

		r := bufio.NewReader(&cc.wrote)
		var got [][]byte
		var ops []byte
		for cc.wrote.Len() > 0 || r.Buffered() > 0 {
			op, p := readServerFrame(t, r)
			ops = append(ops, op)
			got = append(got, p)
		}
		require.Equal(t, []byte{0x82, 0x82, 0x8a, 0x82}, ops, "take %d", take)
		require.Equal(t, [][]byte{p1, p2, []byte("hi"), []byte("p3")}, got, "take %d", take)
	}
	c := websocket.NewConn(&chunkConn{})
	_, _, err := c.TryWriteFramed([]byte{1}, func(b []byte) (int, error) { return len(b), nil })
	require.Error(t, err)
}
