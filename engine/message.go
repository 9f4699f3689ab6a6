package engine

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"sync/atomic"
	"time"
	"unsafe"
)

// ID identifies a message. It is unique and time-ordered: bytes 0..7 are the
// publish time in unix nanoseconds (big-endian), strictly increasing within an
// engine, and bytes 8..15 are random per engine. Comparing two IDs as byte
// strings compares their publish order.
type ID [16]byte

// Time returns the publish time encoded in the ID.
func (id ID) Time() time.Time { return time.Unix(0, int64(binary.BigEndian.Uint64(id[:8]))) }

// String returns the ID in standard base64, as Emitter's history API shows it.
func (id ID) String() string { return base64.StdEncoding.EncodeToString(id[:]) }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// MarshalText encodes the ID as String does.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes an ID encoded by MarshalText.
func (id *ID) UnmarshalText(b []byte) error {
	var tmp [24]byte
	n, err := base64.StdEncoding.Decode(tmp[:], b)
	if err != nil || n != len(id) {
		return errors.New("engine: invalid message ID")
	}
	copy(id[:], tmp[:n])
	return nil
}

// idGen hands out IDs. The time part never goes backwards and never repeats
// within one engine: two publishes that read the same clock get consecutive
// nanoseconds.
type idGen struct {
	last atomic.Int64
	node [8]byte
}

func newIDGen() *idGen {
	g := &idGen{}
	_, _ = rand.Read(g.node[:])
	return g
}

func (g *idGen) next(now time.Time) ID {
	n := now.UnixNano()
	for {
		last := g.last.Load()
		if n <= last {
			n = last + 1
		}
		if g.last.CompareAndSwap(last, n) {
			break
		}
	}
	var id ID
	binary.BigEndian.PutUint64(id[:8], uint64(n))
	copy(id[8:], g.node[:])
	return id
}

// Message is a published message as subscribers receive it. A Message is
// immutable once delivered and is shared by every subscriber that receives
// it: handlers may keep it, but must not modify it or its Payload.
type Message struct {
	// ID is unique and time-ordered; ID.Time() is the publish time.
	ID ID
	// Channel is the channel it was published to, without key or options,
	// such as "a/b/c/".
	Channel string
	// Payload is the message body.
	Payload []byte
	// TTL is how long the message is kept in history; 0 means it was not
	// stored.
	TTL time.Duration
	// Retained is true for a retained message delivered on subscribe.
	Retained bool
	// QoS is the delivery guarantee its publisher asked for (WithQoS, the
	// MQTT QoS level 0, 1 or 2). The engine carries it and does not act on
	// it; a transport delivers at the lower of it and the subscription's.
	QoS uint8

	from *Conn
}

// From returns the connection that published the message, or nil for a
// message replayed from the store.
func (m *Message) From() *Conn { return m.from }

// Time returns the publish time, taken from the ID.
func (m *Message) Time() time.Time { return m.ID.Time() }

// String returns the payload as a string (Emitter's asString).
func (m *Message) String() string { return string(m.Payload) }

// Bytes returns the payload (Emitter's asBinary). The slice is shared with
// other subscribers and must not be modified.
func (m *Message) Bytes() []byte { return m.Payload }

// Decode unmarshals a JSON payload into v (Emitter's asObject).
func (m *Message) Decode(v any) error { return json.Unmarshal(m.Payload, v) }

// newMessage returns a Message holding a copy of payload. For payloads up to
// 4 KiB the Message and the copy share one allocation, sized by powers of two.
func newMessage(payload []byte) *Message {
	switch n := len(payload); {
	case n == 0:
		return &Message{}
	case n <= 32:
		return withBuf[[32]byte](payload)
	case n <= 64:
		return withBuf[[64]byte](payload)
	case n <= 128:
		return withBuf[[128]byte](payload)
	case n <= 256:
		return withBuf[[256]byte](payload)
	case n <= 512:
		return withBuf[[512]byte](payload)
	case n <= 1024:
		return withBuf[[1024]byte](payload)
	case n <= 2048:
		return withBuf[[2048]byte](payload)
	case n <= 4096:
		return withBuf[[4096]byte](payload)
	default:
		m := &Message{Payload: make([]byte, n)}
		copy(m.Payload, payload)
		return m
	}
}

// withBuf allocates a Message followed by an array of type B (a byte array at
// least len(p) long) in one object and copies p into the array.
func withBuf[B any](p []byte) *Message {
	x := new(struct {
		m Message
		b B
	})
	buf := unsafe.Slice((*byte)(unsafe.Pointer(&x.b)), unsafe.Sizeof(x.b))
	x.m.Payload = buf[:len(p):len(p)]
	copy(x.m.Payload, p)
	return &x.m
}
