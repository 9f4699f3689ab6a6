package websocket

import (
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

var (
	// ErrNotWebSocket is returned by Upgrade for a request that does not ask
	// for a WebSocket (RFC 6455 §4.2.1). Upgrade has answered it with 400 or
	// 426.
	ErrNotWebSocket = errors.New("websocket: not a websocket handshake")

	// ErrProtocol is returned by Read when the peer breaks RFC 6455 framing: an
	// unmasked client frame, reserved bits or opcodes, a fragmented or
	// oversized control frame, a continuation without a start. The connection
	// has been sent a close frame with status 1002 and must be closed.
	ErrProtocol = errors.New("websocket: protocol error")
)

const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Upgrade answers a WebSocket opening handshake and takes over the
// connection. protocols lists the subprotocols the server accepts, in its
// order of preference; the first one the client also offers is echoed in
// Sec-WebSocket-Protocol. A client that offers none is accepted without one; a
// client that offers only others is refused with 400. Origin is not checked.
//
// The returned Conn reads the payload of data frames (binary and text, with
// fragments joined) as a byte stream and writes each Write as one binary frame.
func Upgrade(w http.ResponseWriter, r *http.Request, protocols []string) (*Conn, error) {
	if r.Method != http.MethodGet || !headerHas(r.Header, "Connection", "upgrade") ||
		!headerHas(r.Header, "Upgrade", "websocket") {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "websocket upgrade required", http.StatusUpgradeRequired)
		return nil, ErrNotWebSocket
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "unsupported websocket version", http.StatusBadRequest)
		return nil, ErrNotWebSocket
	}
	key := r.Header.Get("Sec-WebSocket-Key")
	if k, err := base64.StdEncoding.DecodeString(key); err != nil || len(k) != 16 {
		http.Error(w, "bad Sec-WebSocket-Key", http.StatusBadRequest)
		return nil, ErrNotWebSocket
	}
	// The client's spelling of the server's most preferred subprotocol it
	// offers.
	proto, offered, rank := "", false, len(protocols)
	for _, v := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			offered = true
			for i, s := range protocols[:rank] {
				if strings.EqualFold(p, s) {
					proto, rank = p, i
					break
				}
			}
		}
	}
	if offered && proto == "" {
		http.Error(w, "no supported websocket subprotocol", http.StatusBadRequest)
		return nil, ErrNotWebSocket
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "connection cannot be upgraded", http.StatusInternalServerError)
		return nil, ErrNotWebSocket
	}
	nc, rw, err := hj.Hijack()
	if err != nil {
		return nil, err
	}
	sum := sha1.Sum([]byte(key + acceptGUID))
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(sum[:]) + "\r\n"
	if proto != "" {
		resp += "Sec-WebSocket-Protocol: " + proto + "\r\n"
	}
	resp += "\r\n"
	_ = nc.SetDeadline(time.Time{}) // the HTTP server may have set some
	if _, err := io.WriteString(nc, resp); err != nil {
		nc.Close()
		return nil, err
	}
	c := &Conn{Conn: nc, protocol: proto}
	if rw != nil && rw.Reader.Buffered() > 0 {
		// Bytes the client sent right after its request.
		c.pending, _ = rw.Reader.Peek(rw.Reader.Buffered())
	}
	return c, nil
}

// headerHas reports whether a comma-separated header contains token,
// case-insensitively.
func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// Conn is a server-side WebSocket connection seen as a net.Conn carrying a
// byte stream: Read returns the payload bytes of data frames, Write sends
// one binary frame per call. Ping frames are answered and close frames are
// echoed by Read.
//
// Read must be called from one goroutine at a time, and the writing methods
// (Write, WriteFramed, TryWriteFramed, Flush) from one goroutine at a time; a
// Read and a write may run concurrently (frames never interleave: a frame
// TryWriteFramed left half sent is finished before any other). Close may be
// called at any time from any goroutine.
type Conn struct {
	net.Conn
	protocol string
	pending  []byte // bytes read by the HTTP server past the request

	// Read state: the parser consumes raw bytes in place.
	hdr       [14]byte
	hdrLen    int
	inPayload bool
	remaining uint64
	mask      [4]byte
	maskPos   int
	opcode    byte // opcode of the current frame
	fin       bool
	inMessage bool // a fragmented data message is in progress
	ctrl      []byte
	readErr   error
	closed    bool // a close frame was received

	wmu   sync.Mutex // serialises frame writes (Write, pong, close)
	wrest []byte     // the unsent end of a frame TryWriteFramed began (under wmu)
}

// NewConn wraps a connection whose opening handshake has already been
// completed (by Upgrade or otherwise) as the server side of a WebSocket.
func NewConn(nc net.Conn) *Conn { return &Conn{Conn: nc} }

// Subprotocol returns the subprotocol chosen at the handshake, or "".
func (c *Conn) Subprotocol() string { return c.protocol }

// Read reads payload bytes of data frames into p. It returns io.EOF once the
// peer has sent a close frame (after echoing it) or closed the stream.
func (c *Conn) Read(p []byte) (int, error) {
	for {
		if c.readErr != nil {
			return 0, c.readErr
		}
		if len(p) == 0 {
			return 0, nil
		}
		var n int
		var err error
		if len(c.pending) > 0 {
			n = copy(p, c.pending)
			c.pending = c.pending[n:]
		} else {
			n, err = c.Conn.Read(p)
		}
		out, perr := c.parse(p[:n])
		if perr != nil {
			c.readErr = perr
			if out == 0 {
				return 0, perr
			}
			return out, nil
		}
		if err != nil {
			c.readErr = err
			if out == 0 {
				return 0, err
			}
			return out, nil
		}
		if out > 0 {
			return out, nil
		}
	}
}

// parse interprets the raw bytes in b, moving the unmasked payload of data
// frames to the front of b, and returns how many there are.
func (c *Conn) parse(b []byte) (int, error) {
	out := 0
	for i := 0; i < len(b); {
		if !c.inPayload {
			c.hdr[c.hdrLen] = b[i]
			c.hdrLen++
			i++
			need, ok := headerSize(c.hdr[:c.hdrLen])
			if !ok || c.hdrLen < need {
				continue
			}
			if err := c.startFrame(); err != nil {
				return out, err
			}
			if c.remaining == 0 {
				if err := c.endFrame(); err != nil {
					return out, err
				}
			}
			continue
		}
		k := len(b) - i
		if uint64(k) > c.remaining {
			k = int(c.remaining)
		}
		seg := b[i : i+k]
		if c.opcode >= 8 {
			c.maskPos = unmask(seg, seg, c.mask, c.maskPos)
			c.ctrl = append(c.ctrl, seg...)
		} else {
			// Unmasked and moved to the front in one pass.
			c.maskPos = unmask(b[out:out+k], seg, c.mask, c.maskPos)
			out += k
		}
		i += k
		c.remaining -= uint64(k)
		if c.remaining == 0 {
			if err := c.endFrame(); err != nil {
				return out, err
			}
		}
	}
	return out, nil
}

// unmask writes src XORed with the mask, starting at mask position pos, to
// dst (len(dst) == len(src)), a machine word at a time (32 bytes per step
// while it can), and returns the position after src. dst may be src, or start
// before it in the same array: every word is read before anything at or
// after it is written.
func unmask(dst, src []byte, mask [4]byte, pos int) int {
	var rot [4]byte
	for i := range rot {
		rot[i] = mask[(pos+i)&3]
	}
	m32 := binary.LittleEndian.Uint32(rot[:])
	m64 := uint64(m32) | uint64(m32)<<32
	n := len(src)
	dst = dst[:n]
	for len(src) >= 32 {
		s, d := src[:32:32], dst[:32:32]
		w0 := binary.LittleEndian.Uint64(s[0:])
		w1 := binary.LittleEndian.Uint64(s[8:])
		w2 := binary.LittleEndian.Uint64(s[16:])
		w3 := binary.LittleEndian.Uint64(s[24:])
		binary.LittleEndian.PutUint64(d[0:], w0^m64)
		binary.LittleEndian.PutUint64(d[8:], w1^m64)
		binary.LittleEndian.PutUint64(d[16:], w2^m64)
		binary.LittleEndian.PutUint64(d[24:], w3^m64)
		src, dst = src[32:], dst[32:]
	}
	for len(src) >= 8 {
		binary.LittleEndian.PutUint64(dst, binary.LittleEndian.Uint64(src)^m64)
		src, dst = src[8:], dst[8:]
	}
	for i := range src {
		dst[i] = src[i] ^ rot[i&3]
	}
	return pos + n
}

// headerSize returns the size of the frame header that starts with h, once
// enough of it is known to tell.
func headerSize(h []byte) (int, bool) {
	if len(h) < 2 {
		return 0, false
	}
	if h[1]&0x80 == 0 {
		return 2, true // unmasked: refused by startFrame without waiting for more
	}
	n := 2 + 4
	switch h[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	return n, true
}

func (c *Conn) startFrame() error {
	h := c.hdr[:c.hdrLen]
	c.hdrLen = 0
	c.fin = h[0]&0x80 != 0
	op := h[0] & 0x0f
	if h[0]&0x70 != 0 {
		return c.fail("reserved bits set")
	}
	if h[1]&0x80 == 0 {
		return c.fail("unmasked client frame")
	}
	length := uint64(h[1] & 0x7f)
	m := 2
	switch length {
	case 126:
		length = uint64(binary.BigEndian.Uint16(h[2:]))
		m = 4
	case 127:
		length = binary.BigEndian.Uint64(h[2:])
		if length>>63 != 0 {
			return c.fail("frame length with the top bit set")
		}
		m = 10
	}
	copy(c.mask[:], h[m:m+4])
	c.maskPos = 0
	switch op {
	case 0:
		if !c.inMessage {
			return c.fail("continuation without a message")
		}
	case 1, 2:
		if c.inMessage {
			return c.fail("new message inside a fragmented one")
		}
		c.inMessage = !c.fin
	case 8, 9, 10:
		if !c.fin || length > 125 {
			return c.fail("fragmented or long control frame")
		}
		c.ctrl = c.ctrl[:0]
	default:
		return c.fail("reserved opcode")
	}
	if op == 0 && c.fin {
		c.inMessage = false
	}
	c.opcode = op
	c.remaining = length
	c.inPayload = true
	return nil
}

func (c *Conn) endFrame() error {
	c.inPayload = false
	switch c.opcode {
	case 8: // close: echo the status code and stop reading
		c.closed = true
		code := c.ctrl
		if len(code) >= 2 {
			code = code[:2]
		} else {
			code = nil
		}
		_ = c.writeFrame(8, code)
		return io.EOF
	case 9:
		return c.writeFrame(10, c.ctrl)
	}
	return nil
}

func (c *Conn) fail(reason string) error {
	_ = c.writeFrame(8, []byte{0x03, 0xea}) // 1002 protocol error
	return &protocolError{reason}
}

type protocolError struct{ reason string }

func (e *protocolError) Error() string { return ErrProtocol.Error() + ": " + e.reason }
func (e *protocolError) Unwrap() error { return ErrProtocol }

// Write sends p as one binary frame, header and payload in one system call.
func (c *Conn) Write(p []byte) (int, error) {
	if err := c.writeFrame(2, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// MaxHeaderLen is the largest header of a frame the server sends.
const MaxHeaderLen = 10

// WriteFramed sends b[MaxHeaderLen:] as one binary frame. The frame header is
// written into the free space at the front of b, so that header and payload
// go out with one Write and without a copy, whatever the underlying
// connection (net.Buffers gathers only on a bare TCP connection).
func (c *Conn) WriteFramed(b []byte) error {
	if len(b) < MaxHeaderLen {
		return errors.New("websocket: WriteFramed needs MaxHeaderLen bytes of headroom")
	}
	n := len(b) - MaxHeaderLen
	var hb [MaxHeaderLen]byte
	h := appendHeader(hb[:0], 2, n)
	start := MaxHeaderLen - len(h)
	copy(b[start:], h)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.flushLocked(); err != nil {
		return err
	}
	_, err := c.Conn.Write(b[start:])
	return err
}

// TryWriteFramed is WriteFramed for a caller that must not wait: it frames
// b[MaxHeaderLen:] in place and gives the frame to write, which must make one
// attempt without blocking and report how much it took (0 when the socket
// is full) or an error. It returns ok false, having written nothing, when
// another frame is being written (the caller then sends b later with
// WriteFramed). When write takes only part of the frame, Conn keeps the rest
// (kept is true): it goes out before any later frame, and Flush sends it.
// Frames therefore never interleave on the stream.
func (c *Conn) TryWriteFramed(b []byte, write func([]byte) (int, error)) (ok, kept bool, err error) {
	if len(b) < MaxHeaderLen {
		return false, false, errors.New("websocket: TryWriteFramed needs MaxHeaderLen bytes of headroom")
	}
	if !c.wmu.TryLock() {
		return false, false, nil
	}
	defer c.wmu.Unlock()
	n := len(b) - MaxHeaderLen
	var hb [MaxHeaderLen]byte
	h := appendHeader(hb[:0], 2, n)
	start := MaxHeaderLen - len(h)
	copy(b[start:], h)
	frame := b[start:]
	if len(c.wrest) > 0 {
		c.wrest = append(c.wrest, frame...)
		return true, true, nil
	}
	w, err := write(frame)
	if err != nil {
		return true, false, err
	}
	if w < len(frame) {
		c.wrest = append(c.wrest[:0], frame[w:]...)
		return true, true, nil
	}
	return true, false, nil
}

// Flush sends what TryWriteFramed kept, if anything, waiting for the
// socket (under the connection's write deadline).
func (c *Conn) Flush() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.flushLocked()
}

func (c *Conn) flushLocked() error {
	if len(c.wrest) == 0 {
		return nil
	}
	_, err := c.Conn.Write(c.wrest)
	c.wrest = c.wrest[:0]
	if cap(c.wrest) > 64<<10 {
		c.wrest = nil
	}
	return err
}

// AppendFrameHeader appends the header of an unmasked final binary frame
// carrying n bytes (2, 4 or 10 bytes).
func AppendFrameHeader(dst []byte, n int) []byte {
	return appendHeader(dst, 2, n)
}

func appendHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xffff:
		return append(dst, 126, byte(n>>8), byte(n))
	}
	return binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
}

func (c *Conn) writeFrame(op byte, p []byte) error {
	var hb [10]byte
	h := appendHeader(hb[:0], op, len(p))
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.flushLocked(); err != nil {
		return err
	}
	if len(p) == 0 {
		_, err := c.Conn.Write(h)
		return err
	}
	bufs := net.Buffers{h, p}
	_, err := bufs.WriteTo(c.Conn)
	return err
}

// Close sends a close frame with status 1000 (normal closure) if no write is
// in progress and no frame is half sent, then closes the connection.
func (c *Conn) Close() error {
	if c.wmu.TryLock() {
		if len(c.wrest) > 0 {
			c.wmu.Unlock()
			return c.Conn.Close()
		}
		_ = c.Conn.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		_, _ = c.Conn.Write([]byte{0x88, 2, 0x03, 0xe8})
		c.wmu.Unlock()
	}
	return c.Conn.Close()
}
