package engine

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/heraldmq/herald/store"
)

// ID identifies a message. It is unique and time-ordered: bytes 0..7 are the
// publish time in unix nanoseconds (big-endian), strictly increasing within an
// engine, and bytes 8..15 are random per engine. Comparing two IDs as byte
// strings compares their publish order. It is the store's ID, so a message
// and its stored copy share one.
type ID = store.ID

// idGen hands out IDs. The time part never goes backwards and never repeats
// within one engine: two publishes that read the same clock get consecutive
// nanoseconds.
type idGen struct {
	_     [64]byte     // last, written by every publish, gets a cache line
	last  atomic.Int64 // the time part of the last ID
	wall  wallClock
	clock func() time.Time // Options.Clock, or nil for wall
	node  [8]byte
	_     [64]byte
}

// newIDGen returns an idGen reading clock, or the system's wall clock (through
// a wallClock) if clock is nil.
func newIDGen(clock func() time.Time) *idGen {
	g := &idGen{clock: clock}
	g.wall.init()
	_, _ = rand.Read(g.node[:])
	return g
}

func (g *idGen) next() ID {
	var n int64
	if g.clock != nil {
		n = g.clock().UnixNano()
	} else {
		n = g.wall.now()
	}
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

// wallResync is how often a wallClock reads the wall clock itself: how long a
// step of the system's wall clock (not a gradual adjustment, which the
// monotonic clock follows too) can go unnoticed.
const wallResync = 10 * time.Millisecond

// wallClock tells the wall time, in unix nanoseconds, from one reading of the
// monotonic clock: time.Now reads both clocks, which on a busy publish path
// costs twice as much (an ordered time-stamp counter read each). It reads the
// wall clock again every wallResync. Safe for concurrent use; allocates
// nothing.
type wallClock struct {
	start  time.Time    // the monotonic reference
	offset atomic.Int64 // wall time minus monotonic time since start, at the last read of both
	synced atomic.Int64 // monotonic time since start at that read
}

func (c *wallClock) init() {
	c.start = time.Now()
	c.offset.Store(c.start.UnixNano())
	c.synced.Store(0)
}

// now returns the wall time in unix nanoseconds.
func (c *wallClock) now() int64 {
	m := int64(time.Since(c.start))
	if d := m - c.synced.Load(); d >= 0 && d < int64(wallResync) {
		return c.offset.Load() + m
	}
	// Concurrent resyncs may interleave their two stores; each offset is
	// right on its own, and a mismatched synced only brings the next resync
	// forward or back by one interval.
	t := time.Now()
	m = int64(t.Sub(c.start))
	c.offset.Store(t.UnixNano() - m)
	c.synced.Store(m)
	return t.UnixNano()
}

// Message is a published message as subscribers receive it. A Message is
// immutable once delivered and is shared by every subscriber that receives
// it: handlers may keep it, but must not modify it or its Payload.
//
// So that a publish allocates nothing of its own, Publish carves Messages
// from blocks of 64 (about 5 KiB) and copies payloads of up to 512 bytes into
// shared chunks of 8 KiB, and payloads of up to 2 KiB into shared chunks of
// 28 KiB. A block or chunk stays in memory as long as any Message carved from
// it is reachable. Keeping messages while they are handled, queued or batched
// costs nothing extra; but a kept Message holds on to its whole block of 64
// headers, to what those headers reference (their channels, connections, and
// payloads too large for a chunk or published with NoCopy) and to its
// payload's chunk, some tens of KiB (see BenchmarkRetention), against about
// 150 bytes plus its payload for a Message of its own. A program that keeps
// a few messages out of many for a long time (the last message of each
// channel, say) should keep a Clone instead.
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

// Identity is who a connection is, as the subscribers of its messages see
// it: its ID, its username and the data its owner attached (ConnOptions).
// It grants nothing: a subscriber cannot act as the publisher. Its methods
// may be called on a nil *Identity, which is no one (a replayed message's
// publisher).
type Identity struct {
	id       string
	username string
	data     any
}

// ID returns the connection's id, "" for a nil Identity.
func (i *Identity) ID() string {
	if i == nil {
		return ""
	}
	return i.id
}

// Username returns the username given to Connect, "" for a nil Identity.
func (i *Identity) Username() string {
	if i == nil {
		return ""
	}
	return i.username
}

// Data returns ConnOptions.Data, nil for a nil Identity.
func (i *Identity) Data() any {
	if i == nil {
		return nil
	}
	return i.data
}

// From returns the identity of the connection that published the message,
// or nil for a message replayed from the store.
func (m *Message) From() *Identity {
	if m.from == nil {
		return nil
	}
	return &m.from.id
}

// Time returns the publish time, taken from the ID.
func (m *Message) Time() time.Time { return m.ID.Time() }

// String returns the payload as a string (Emitter's asString).
func (m *Message) String() string { return string(m.Payload) }

// Bytes returns the payload (Emitter's asBinary). The slice is shared with
// other subscribers and must not be modified.
func (m *Message) Bytes() []byte { return m.Payload }

// Decode unmarshals a JSON payload into v (Emitter's asObject).
func (m *Message) Decode(v any) error { return json.Unmarshal(m.Payload, v) }

// Clone returns a copy of m, payload included, in memory of its own, so that
// keeping it for long holds on to nothing else (see Message). The copy may be
// modified.
func (m *Message) Clone() *Message {
	c := *m
	if m.Payload != nil {
		c.Payload = bytes.Clone(m.Payload)
	}
	return &c
}

// Messages are carved from shared blocks so that a publish costs no
// allocation of its own: headers from blocks of msgsPerSlab Messages, and
// copied payloads up to maxSmallPayload bytes from chunks of smallChunkSize
// bytes, up to maxLargePayload from chunks of largeChunkSize (a payload of its
// own costs its publisher an allocation and its collection; see
// BenchmarkPublishPayload). All are
// carved with one atomic add, so concurrent publishers take no lock. A block
// lives as long as any Message (or payload) carved from it, which bounds what
// a kept Message holds on to: see the Message documentation.
const (
	msgsPerSlab     = 64
	smallChunkSize  = 8 << 10
	maxSmallPayload = 512
	largeChunkSize  = 28 << 10 // a size class: 32 KiB would be a large object (a span of its own)
	maxLargePayload = 2 << 10
)

// msgSlab is a block of Message headers.
type msgSlab struct {
	next atomic.Uint32 // index of the next free header; may run past the end
	msgs [msgsPerSlab]Message
}

// msgAlloc hands out zeroed Messages from the current slab.
type msgAlloc struct {
	cur atomic.Pointer[msgSlab]
}

// new returns a zeroed Message. It is safe for concurrent use.
func (a *msgAlloc) new() *Message {
	s := a.cur.Load()
	if s != nil {
		if i := s.next.Add(1) - 1; i < msgsPerSlab {
			return &s.msgs[i]
		}
	}
	// The slab is full: start a new one. A publisher that loses the race to
	// install it keeps its own slab for this one message.
	ns := new(msgSlab)
	ns.next.Store(1)
	a.cur.CompareAndSwap(s, ns)
	return &ns.msgs[0]
}

// arenaChunk is a block of payload bytes. Its buffer holds no pointers, so
// the garbage collector does not scan it.
type arenaChunk struct {
	off atomic.Uint64 // bytes handed out; may run past the end
	buf []byte
}

// byteArena hands out payload buffers from the current chunk.
type byteArena struct {
	cur atomic.Pointer[arenaChunk]
}

// copyOf returns a copy of p (len(p) <= chunkSize) carved from the arena's
// chunks of chunkSize bytes (always the same for one arena), with its
// capacity equal to its length so that an append cannot reach a neighbour.
// It is safe for concurrent use.
func (a *byteArena) copyOf(p []byte, chunkSize int) []byte {
	n := uint64(len(p)+7) &^ 7 // keep payloads word-aligned
	c := a.cur.Load()
	if c != nil {
		if end := c.off.Add(n); end <= uint64(len(c.buf)) {
			b := c.buf[end-n : end-n+uint64(len(p)) : end-n+uint64(len(p))]
			copy(b, p)
			return b
		}
	}
	nc := &arenaChunk{buf: makeNoZero(chunkSize)}
	nc.off.Store(n)
	a.cur.CompareAndSwap(c, nc)
	b := nc.buf[:len(p):len(p)]
	copy(b, p)
	return b
}

// makeNoZero returns a byte slice of length n (at most a few tens of KiB)
// whose contents are not cleared: strings.Builder.Grow allocates its buffer
// without zeroing it, which a chunk, overwritten piece by piece with
// payloads, does not need (clearing chunks showed in the MQTT broker's CPU
// profile at high WebSocket rates). The bytes between and after the
// payloads carved from a chunk are stale but unreachable: every payload's
// capacity is its length.
func makeNoZero(n int) []byte {
	var sb strings.Builder
	sb.Grow(n)
	sb.WriteByte(0)  // String of an empty Builder need not point at its buffer
	s := sb.String() // s and sb are dropped here: nothing reads them again
	return unsafe.Slice(unsafe.StringData(s), sb.Cap())[:n:n]
}

// allocShard is the slab and arena of a group of connections. The engine
// keeps a few, so that publishers on different connections (and, mostly,
// processors) do not contend for one counter.
type allocShard struct {
	msgs  msgAlloc
	small byteArena // payloads up to maxSmallPayload
	large byteArena // payloads up to maxLargePayload
	_     [40]byte  // one cache line per shard
}

// newAllocShards returns a power of two of shards, twice GOMAXPROCS (at most
// 64): at most some 45 KiB of partly used blocks each.
func newAllocShards() []allocShard {
	n := 1
	for n < 2*runtime.GOMAXPROCS(0) && n < 64 {
		n *= 2
	}
	return make([]allocShard, n)
}

// newMessage returns a zeroed Message from the shard's slabs holding a copy
// of payload (or payload itself with noCopy).
func (a *allocShard) newMessage(payload []byte, noCopy bool) *Message {
	m := a.msgs.new()
	switch n := len(payload); {
	case noCopy:
		m.Payload = payload
	case n == 0:
	case n <= maxSmallPayload:
		m.Payload = a.small.copyOf(payload, smallChunkSize)
	case n <= maxLargePayload:
		m.Payload = a.large.copyOf(payload, largeChunkSize)
	default:
		m.Payload = make([]byte, n)
		copy(m.Payload, payload)
	}
	return m
}
