package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"
)

// A raw-socket MQTT 3.1.1 client built for load generation: packets are
// appended to one output buffer and written with one syscall per flush (one
// WebSocket frame per flush over WebSocket), and one goroutine per connection
// parses everything a read returned before it reads again.

// Packet types (high nibble of the first byte).
const (
	pConnect    = 1
	pConnack    = 2
	pPublish    = 3
	pPuback     = 4
	pSubscribe  = 8
	pSuback     = 9
	pPingreq    = 12
	pPingresp   = 13
	pDisconnect = 14
)

// maxPacket bounds what the reader accepts from the broker.
const maxPacket = 16 << 20

var (
	errMalformed = errors.New("mqtt: malformed packet from the broker")
	errTooLarge  = errors.New("mqtt: packet from the broker exceeds 16 MiB")
	errRefused   = errors.New("mqtt: refused by the broker")
)

// handler receives what a connection's reader goroutine parses. It is called
// only from that goroutine. now is the monotonic time of the read that
// returned the packet.
type handler interface {
	publish(c *client, topic, payload []byte, qos byte, id uint16, now int64)
	puback(id uint16)
	// batchEnd is called after all packets of one read have been handled.
	batchEnd()
}

type client struct {
	nc   net.Conn
	r    io.Reader // nc, or the WebSocket reader on top of it
	ws   bool
	head int // headroom kept in front of out for the WebSocket header

	wmu  sync.Mutex
	out  []byte
	rng  *mrand.ChaCha8 // WebSocket mask keys; under wmu
	werr error

	rbuf         []byte
	rstart, rend int
	rerr         error

	// coalesce, when positive, makes the reader sleep this long after a read
	// that returned less than coalesceBelow bytes, so that a broker writing one
	// packet per syscall does not cost this program one wakeup per packet.
	coalesce time.Duration
}

const coalesceBelow = 8 << 10

// target is a parsed -url.
type target struct {
	scheme string // "tcp" or "ws"
	host   string // host:port
	path   string // for ws
}

func parseTarget(s string) (target, error) {
	if !strings.Contains(s, "://") {
		s = "tcp://" + s
	}
	u, err := url.Parse(s)
	if err != nil {
		return target{}, err
	}
	t := target{scheme: u.Scheme, host: u.Host, path: u.RequestURI()}
	switch t.scheme {
	case "tcp", "mqtt":
		t.scheme = "tcp"
	case "ws":
	default:
		return target{}, fmt.Errorf("url %q: scheme must be tcp:// or ws://", s)
	}
	if _, _, err := net.SplitHostPort(t.host); err != nil {
		return target{}, fmt.Errorf("url %q: %w", s, err)
	}
	return t, nil
}

// dial connects, sends CONNECT (clean session) and waits for CONNACK.
func dial(ctx context.Context, t target, clientID string, keepAlive uint16) (*client, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", t.host)
	if err != nil {
		return nil, err
	}
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetNoDelay(true)
	}
	return dialConn(ctx, nc, t, clientID, keepAlive)
}

// dialConn does the WebSocket handshake if t is ws://, then sends CONNECT and
// waits for CONNACK on an open connection. It closes nc on failure.
func dialConn(ctx context.Context, nc net.Conn, t target, clientID string, keepAlive uint16) (*client, error) {
	if dl, ok := ctx.Deadline(); ok {
		_ = nc.SetDeadline(dl)
	}
	c := &client{nc: nc, r: nc, rbuf: make([]byte, 64<<10)}
	if t.scheme == "ws" {
		br, err := wsHandshake(nc, t.host, t.path)
		if err != nil {
			nc.Close()
			return nil, err
		}
		var seed [32]byte
		for i := range seed {
			seed[i] = byte(mrand.Uint32())
		}
		c.ws, c.head, c.rng = true, wsHeadroom, mrand.NewChaCha8(seed)
		c.r = &wsReader{br: br, onPing: c.pong}
	}
	c.out = make([]byte, c.head, 64<<10)

	// CONNECT: protocol "MQTT" level 4, clean session.
	body := 10 + 2 + len(clientID)
	c.out = append(c.out, pConnect<<4)
	c.out = appendVarint(c.out, body)
	c.out = append(c.out, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, byte(keepAlive>>8), byte(keepAlive))
	c.out = appendString(c.out, clientID)
	if err := c.flush(); err != nil {
		nc.Close()
		return nil, err
	}
	hdr, b, err := c.next()
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("waiting for CONNACK: %w", err)
	}
	if hdr>>4 != pConnack || len(b) != 2 {
		nc.Close()
		return nil, fmt.Errorf("%w: expected CONNACK, got packet type %d", errMalformed, hdr>>4)
	}
	if b[1] != 0 {
		nc.Close()
		return nil, fmt.Errorf("%w: CONNACK return code %d", errRefused, b[1])
	}
	return c, nil
}

// subscribe sends one SUBSCRIBE and waits for its SUBACK; it must be called
// before the reader goroutine starts.
func (c *client) subscribe(filter string, qos byte) error {
	const id = 1
	c.out = append(c.out, pSubscribe<<4|0x2)
	c.out = appendVarint(c.out, 2+2+len(filter)+1)
	c.out = append(c.out, 0, id)
	c.out = appendString(c.out, filter)
	c.out = append(c.out, qos)
	if err := c.flush(); err != nil {
		return err
	}
	for {
		hdr, b, err := c.next()
		if err != nil {
			return fmt.Errorf("waiting for SUBACK: %w", err)
		}
		if hdr>>4 != pSuback {
			continue // a retained message or an emitter/ notice; not ours
		}
		if len(b) != 3 || b[0] != 0 || b[1] != id {
			return fmt.Errorf("%w: SUBACK %x", errMalformed, b)
		}
		if b[2] == 0x80 {
			return fmt.Errorf("%w: SUBACK 0x80 for %q", errRefused, filter)
		}
		return nil
	}
}

// flush writes the output buffer; the caller holds wmu or owns c exclusively.
func (c *client) flush() error {
	if len(c.out) == c.head || c.werr != nil {
		return c.werr
	}
	b := c.out
	if c.ws {
		var mask [4]byte
		v := c.rng.Uint64()
		mask[0], mask[1], mask[2], mask[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
		b = wsFrame(c.out, mask)
	}
	_, c.werr = c.nc.Write(b)
	c.out = c.out[:c.head]
	return c.werr
}

// pong answers a WebSocket ping from the reader goroutine.
func (c *client) pong(payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if err := c.flush(); err != nil {
		return err
	}
	buf := make([]byte, wsHeadroom, wsHeadroom+len(payload))
	buf = append(buf, payload...)
	v := c.rng.Uint64()
	_, err := c.nc.Write(wsFrameOp(buf, 0xA, [4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}))
	return err
}

// fill reads once into the input buffer, keeping any partial packet.
func (c *client) fill() error {
	if c.rerr != nil {
		return c.rerr
	}
	if c.rstart > 0 {
		c.rend = copy(c.rbuf, c.rbuf[c.rstart:c.rend])
		c.rstart = 0
	}
	if c.rend == len(c.rbuf) {
		if len(c.rbuf) >= 2*maxPacket {
			return errTooLarge
		}
		nb := make([]byte, 2*len(c.rbuf))
		copy(nb, c.rbuf[:c.rend])
		c.rbuf = nb
	}
	n, err := c.r.Read(c.rbuf[c.rend:])
	c.rend += n
	if err != nil {
		c.rerr = err
		if n > 0 {
			return nil
		}
	}
	return err
}

// parse returns the next complete packet in the input buffer, if any. body
// aliases the buffer until the next fill.
func (c *client) parse() (hdr byte, body []byte, ok bool, err error) {
	b := c.rbuf[c.rstart:c.rend]
	if len(b) < 2 {
		return 0, nil, false, nil
	}
	n, mul, i := 0, 1, 1
	for {
		if i == len(b) {
			return 0, nil, false, nil
		}
		d := b[i]
		n += int(d&0x7F) * mul
		i++
		if d&0x80 == 0 {
			break
		}
		if i == 5 {
			return 0, nil, false, fmt.Errorf("%w: remaining length over 4 bytes", errMalformed)
		}
		mul <<= 7
	}
	if n > maxPacket {
		return 0, nil, false, errTooLarge
	}
	if len(b) < i+n {
		return 0, nil, false, nil
	}
	c.rstart += i + n
	return b[0], b[i : i+n], true, nil
}

// next returns the next packet, reading as needed (setup phase only).
func (c *client) next() (byte, []byte, error) {
	for {
		hdr, body, ok, err := c.parse()
		if err != nil || ok {
			return hdr, body, err
		}
		if err := c.fill(); err != nil {
			return 0, nil, err
		}
	}
}

// readLoop parses packets until the connection fails or closes, passing them
// to h. It returns the error that ended it.
func (c *client) readLoop(h handler) error {
	for {
		before := c.rend - c.rstart
		if err := c.fill(); err != nil {
			return err
		}
		now := mono()
		got := c.rend - c.rstart - before
		for {
			hdr, b, ok, err := c.parse()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			switch hdr >> 4 {
			case pPublish:
				qos := hdr >> 1 & 3
				if len(b) < 2 {
					return fmt.Errorf("%w: short PUBLISH", errMalformed)
				}
				tl := int(b[0])<<8 | int(b[1])
				p := 2 + tl
				if qos > 0 {
					p += 2
				}
				if len(b) < p {
					return fmt.Errorf("%w: short PUBLISH", errMalformed)
				}
				var id uint16
				if qos > 0 {
					id = uint16(b[2+tl])<<8 | uint16(b[3+tl])
				}
				h.publish(c, b[2:2+tl], b[p:], qos, id, now)
			case pPuback:
				if len(b) != 2 {
					return fmt.Errorf("%w: PUBACK of %d bytes", errMalformed, len(b))
				}
				h.puback(uint16(b[0])<<8 | uint16(b[1]))
			case pPingresp, pSuback:
			default:
				return fmt.Errorf("%w: unexpected packet type %d", errMalformed, hdr>>4)
			}
		}
		h.batchEnd()
		if c.coalesce > 0 && got < coalesceBelow {
			time.Sleep(c.coalesce)
		}
	}
}

// appendPuback queues a PUBACK; the caller holds wmu.
func (c *client) appendPuback(id uint16) {
	c.out = append(c.out, pPuback<<4, 2, byte(id>>8), byte(id))
}

// ping sends PINGREQ.
func (c *client) ping() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.out = append(c.out, pPingreq<<4, 0)
	return c.flush()
}

// close sends DISCONNECT (best effort, bounded) and closes the socket.
func (c *client) close() {
	c.wmu.Lock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	c.out = append(c.out, pDisconnect<<4, 0)
	_ = c.flush()
	c.wmu.Unlock()
	_ = c.nc.Close()
}

func appendVarint(b []byte, n int) []byte {
	for {
		d := byte(n & 0x7F)
		n >>= 7
		if n == 0 {
			return append(b, d)
		}
		b = append(b, d|0x80)
	}
}

func appendString(b []byte, s string) []byte {
	b = append(b, byte(len(s)>>8), byte(len(s)))
	return append(b, s...)
}

// publishTemplate precomputes the bytes of a PUBLISH up to its packet id (QoS
// 1) or payload (QoS 0) for a topic and payload size.
func publishTemplate(topic string, qos byte, size int) []byte {
	rl := 2 + len(topic) + size
	if qos > 0 {
		rl += 2
	}
	b := []byte{pPublish<<4 | qos<<1}
	b = appendVarint(b, rl)
	return appendString(b, topic)
}
