package main

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
)

// The client side of RFC 6455, just enough to carry MQTT: binary frames out
// (masked, as a client must), binary, text and continuation frames in, ping
// answered with pong, close ending the stream. One outgoing frame carries
// everything buffered at a flush, which MQTT over WebSocket allows (MQTT
// 3.1.1 §6: a frame may hold several or partial packets).

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wsHeadroom is the space kept in front of the output buffer for the largest
// client frame header: 2 bytes, 8 of extended length and 4 of mask key.
const wsHeadroom = 14

var (
	errWSHandshake = errors.New("websocket: handshake refused")
	errWSFrame     = errors.New("websocket: bad frame")
)

// wsAccept computes Sec-WebSocket-Accept for a Sec-WebSocket-Key.
func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + wsGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wsHandshake upgrades nc with a GET on path, offering subprotocol "mqtt",
// and returns the reader that holds any bytes read past the response.
func wsHandshake(nc net.Conn, host, path string) (*bufio.Reader, error) {
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := "GET " + path + " HTTP/1.1\r\nHost: " + host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(nc, 64<<10)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return nil, fmt.Errorf("websocket: reading the handshake response: %w", err)
	}
	_ = resp.Body.Close()
	switch {
	case resp.StatusCode != http.StatusSwitchingProtocols:
		return nil, fmt.Errorf("%w: status %s", errWSHandshake, resp.Status)
	case !strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"):
		return nil, fmt.Errorf("%w: Upgrade %q", errWSHandshake, resp.Header.Get("Upgrade"))
	case resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key):
		return nil, fmt.Errorf("%w: wrong Sec-WebSocket-Accept", errWSHandshake)
	case resp.Header.Get("Sec-WebSocket-Protocol") != "mqtt":
		return nil, fmt.Errorf("%w: subprotocol %q, want \"mqtt\"", errWSHandshake, resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	return br, nil
}

// wsFrame turns buf[wsHeadroom:] into one masked binary frame in place and
// returns the bytes to write (a suffix of buf). The payload is masked, so buf
// must not be reused for anything but the next frame.
func wsFrame(buf []byte, mask [4]byte) []byte {
	return wsFrameOp(buf, 0x2, mask)
}

func wsFrameOp(buf []byte, op byte, mask [4]byte) []byte {
	payload := buf[wsHeadroom:]
	n := len(payload)
	var h int // header length
	switch {
	case n <= 125:
		h = 2 + 4
	case n <= 0xFFFF:
		h = 4 + 4
	default:
		h = 10 + 4
	}
	start := wsHeadroom - h
	hdr := buf[start:wsHeadroom]
	hdr[0] = 0x80 | op // FIN
	switch {
	case n <= 125:
		hdr[1] = 0x80 | byte(n)
	case n <= 0xFFFF:
		hdr[1] = 0x80 | 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(n))
	default:
		hdr[1] = 0x80 | 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(n))
	}
	copy(hdr[h-4:], mask[:])
	maskBytes(mask, 0, payload)
	return buf[start:]
}

// maskBytes XORs b with the mask key, b starting at offset pos of the frame
// payload. Masking is its own inverse.
func maskBytes(key [4]byte, pos int, b []byte) {
	if pos&3 != 0 {
		for len(b) > 0 && pos&3 != 0 {
			b[0] ^= key[pos&3]
			b = b[1:]
			pos++
		}
	}
	k := uint64(binary.LittleEndian.Uint32(key[:]))
	k |= k << 32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// wsReader presents the payloads of incoming data frames as one byte stream.
// A Read returns the payloads of every frame already buffered (not only the
// current one) without waiting for more, so that a broker sending a frame
// per message costs this program one read loop (and one PUBACK flush) per
// batch it has received, as a broker batching several messages per frame
// does.
type wsReader struct {
	br     *bufio.Reader
	remain uint64 // payload bytes left in the current data frame
	masked bool   // servers must not mask, but tolerate it
	mask   [4]byte
	pos    int
	onPing func(payload []byte) error
	err    error // to return once the bytes read before it are consumed
}

func (w *wsReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if w.err != nil {
			break
		}
		if w.remain == 0 {
			if n > 0 && !w.frameBuffered() {
				break
			}
			if err := w.next(); err != nil {
				w.err = err
			}
			continue
		}
		q := p[n:]
		if uint64(len(q)) > w.remain {
			q = q[:w.remain]
		}
		if n > 0 {
			if w.br.Buffered() == 0 {
				break
			}
			q = q[:min(len(q), w.br.Buffered())] // never wait with bytes in hand
		}
		k, err := w.br.Read(q)
		if w.masked {
			maskBytes(w.mask, w.pos, q[:k])
			w.pos += k
		}
		w.remain -= uint64(k)
		n += k
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			w.err = err
		}
	}
	if n > 0 {
		return n, nil
	}
	err := w.err
	w.err = nil
	if err == nil {
		return 0, nil
	}
	if err != io.EOF && err != io.ErrUnexpectedEOF {
		w.err = err // sticky, like a closed socket
	}
	return 0, err
}

// frameBuffered reports whether the next frame's header (and, for a control
// frame, its payload) is already buffered, so that next will not wait.
func (w *wsReader) frameBuffered() bool {
	b, _ := w.br.Peek(min(w.br.Buffered(), 14))
	if len(b) < 2 {
		return false
	}
	h := 2
	n := uint64(b[1] & 0x7F)
	switch n {
	case 126:
		h += 2
		if len(b) >= 4 {
			n = uint64(binary.BigEndian.Uint16(b[2:]))
		}
	case 127:
		h += 8
		if len(b) >= 10 {
			n = binary.BigEndian.Uint64(b[2:])
		}
	}
	if b[1]&0x80 != 0 {
		h += 4
	}
	if b[0]&0x08 != 0 { // control frame: next reads its payload too
		return uint64(w.br.Buffered()) >= uint64(h)+n
	}
	return w.br.Buffered() >= h
}

// next reads frame headers until one starts a data frame (it may be empty).
func (w *wsReader) next() error {
	var h [8]byte
	if _, err := io.ReadFull(w.br, h[:2]); err != nil {
		return err
	}
	op := h[0] & 0x0F
	if h[0]&0x70 != 0 {
		return fmt.Errorf("%w: reserved bits set", errWSFrame)
	}
	masked := h[1]&0x80 != 0
	n := uint64(h[1] & 0x7F)
	switch n {
	case 126:
		if _, err := io.ReadFull(w.br, h[:2]); err != nil {
			return err
		}
		n = uint64(binary.BigEndian.Uint16(h[:2]))
	case 127:
		if _, err := io.ReadFull(w.br, h[:8]); err != nil {
			return err
		}
		n = binary.BigEndian.Uint64(h[:8])
		if n > 1<<40 {
			return fmt.Errorf("%w: %d-byte frame", errWSFrame, n)
		}
	}
	var mask [4]byte
	if masked {
		if _, err := io.ReadFull(w.br, mask[:]); err != nil {
			return err
		}
	}
	switch op {
	case 0x0, 0x1, 0x2: // continuation, text, binary: all carry MQTT bytes
		w.remain, w.masked, w.mask, w.pos = n, masked, mask, 0
		return nil
	case 0x8, 0x9, 0xA:
		if n > 125 || h[0]&0x80 == 0 {
			return fmt.Errorf("%w: control frame of %d bytes or fragmented", errWSFrame, n)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(w.br, payload); err != nil {
			return err
		}
		if masked {
			maskBytes(mask, 0, payload)
		}
		switch op {
		case 0x8:
			return io.EOF
		case 0x9:
			if w.onPing != nil {
				return w.onPing(payload)
			}
		}
		return nil
	default:
		return fmt.Errorf("%w: opcode %#x", errWSFrame, op)
	}
}
