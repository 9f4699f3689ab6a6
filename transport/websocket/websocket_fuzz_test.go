package websocket_test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

// FuzzUpgrade sends opening handshakes with arbitrary header values (and a
// few methods) to a server that calls Upgrade, and checks the answer against
// RFC 6455 §4.2 written out here: 426 unless a GET asks to upgrade to
// websocket, 400 for a version other than 13, a key that is not 16 bytes of
// base64 or only unsupported subprotocols, and otherwise 101 with the accept
// value computed here and the server's most preferred subprotocol among
// those offered.
func FuzzUpgrade(f *testing.F) {
	f.Add(uint8(0), "keep-alive, Upgrade", "websocket", "13", "dGhlIHNhbXBsZSBub25jZQ==", "foo, mqttv3.1")
	f.Add(uint8(0), "Upgrade", "WebSocket", "13", "dGhlIHNhbXBsZSBub25jZQ==", "mqttv3, MQTT")
	f.Add(uint8(0), "upgrade", "websocket", "13", "dGhlIHNhbXBsZSBub25jZQ==", "")
	f.Add(uint8(0), "upgrade", "websocket", "8", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt")
	f.Add(uint8(0), "upgrade", "websocket", "13", "short", "mqtt")
	f.Add(uint8(0), "upgrade", "websocket", "13", "dGhlIHNhbXBsZSBub25jZQ==", "stomp, ,")
	f.Add(uint8(1), "upgrade", "websocket", "13", "dGhlIHNhbXBsZSBub25jZQ==", "mqtt")
	f.Add(uint8(2), "close", "h2c", "", "", "")
	protocols := []string{"mqtt", "mqttv3.1", "mqttv3"}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := websocket.Upgrade(w, r, protocols); err == nil {
			_, _ = io.Copy(io.Discard, c)
			c.Close()
		}
	}))
	defer srv.Close()
	methods := []string{"GET", "POST", "HEAD", "get", "PUT", "OPTIONS"}
	f.Fuzz(func(t *testing.T, method uint8, connection, upgrade, version, key, protocol string) {
		// Header values without control characters: net/http refuses
		// those before any handler runs; the handshake logic is what is
		// fuzzed here.
		clean := func(s string) string {
			return strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return -1
				}
				return r
			}, s)
		}
		raw := methods[int(method)%len(methods)] + " /any HTTP/1.1\r\nHost: x\r\n" +
			"Connection: " + clean(connection) + "\r\nUpgrade: " + clean(upgrade) + "\r\n" +
			"Sec-WebSocket-Version: " + clean(version) + "\r\nSec-WebSocket-Key: " + clean(key) + "\r\n" +
			"Sec-WebSocket-Protocol: " + clean(protocol) + "\r\n\r\n"
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			t.Fatalf("test request does not parse: %v\n%q", err, raw)
		}

		// The expected answer.
		has := func(name, token string) bool {
			for _, v := range req.Header.Values(name) {
				for _, tok := range strings.Split(v, ",") {
					if strings.EqualFold(strings.TrimSpace(tok), token) {
						return true
					}
				}
			}
			return false
		}
		var offered []string
		for _, v := range req.Header.Values("Sec-WebSocket-Protocol") {
			for _, tok := range strings.Split(v, ",") {
				if tok = strings.TrimSpace(tok); tok != "" {
					offered = append(offered, tok)
				}
			}
		}
		echo := ""
	pick:
		for _, p := range protocols {
			for _, o := range offered {
				if strings.EqualFold(o, p) {
					echo = o
					break pick
				}
			}
		}
		k, kerr := base64.StdEncoding.DecodeString(req.Header.Get("Sec-WebSocket-Key"))
		want := http.StatusSwitchingProtocols
		switch {
		case req.Method != "GET" || !has("Connection", "upgrade") || !has("Upgrade", "websocket"):
			want = http.StatusUpgradeRequired
		case req.Header.Get("Sec-WebSocket-Version") != "13",
			kerr != nil || len(k) != 16,
			len(offered) > 0 && echo == "":
			want = http.StatusBadRequest
		}

		c, err := net.Dial("tcp", srv.Listener.Addr().String())
		require.NoError(t, err)
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err = io.WriteString(c, raw)
		require.NoError(t, err)
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		require.NoError(t, err, "request %q", raw)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, "request %q", raw)
		switch want {
		case http.StatusSwitchingProtocols:
			sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
			require.Equal(t, base64.StdEncoding.EncodeToString(sum[:]), resp.Header.Get("Sec-WebSocket-Accept"))
			require.Equal(t, echo, resp.Header.Get("Sec-WebSocket-Protocol"))
			require.True(t, strings.EqualFold(resp.Header.Get("Upgrade"), "websocket"))
		case http.StatusUpgradeRequired:
			require.Equal(t, "websocket", resp.Header.Get("Upgrade"))
		}
	})
}
