package store

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"time"

	"github.com/heraldmq/herald/topic"
)

// Store keeps message history and retained messages. It is the interface the
// engine uses; Memory and Bolt implement it, and an embedder may write their
// own (run store/storetest against it).
//
// Implementations must be safe for concurrent use by multiple goroutines.
// Messages passed to Store may be reused by the caller once Store returns;
// messages returned by Query and Retained belong to the caller.
type Store interface {
	// Store saves msgs atomically: either every message is stored or, on error,
	// none is. A message with Retained set replaces the retained message of its
	// channel (an empty payload clears it) unless the current one has a greater
	// ID and has not expired; it is not added to the history. Any other
	// message is added to the history of its channel. Storing a message
	// whose (Channel, ID) is already stored replaces it.
	//
	// A durable implementation returns only once the messages are durable (see
	// the implementation's documentation). If ctx is done first, Store returns
	// ctx.Err() and the messages may or may not be stored.
	Store(ctx context.Context, msgs ...Message) error

	// Query returns the stored, unexpired history messages selected by q,
	// oldest to newest (in ID order).
	Query(ctx context.Context, q Query) ([]Message, error)

	// Retained calls fn for every unexpired retained message whose channel
	// matches filter under mode, in channel order. fn owns the message it is
	// given; it is called without any lock of the store held, so it may call
	// the store. An error returned by fn stops the iteration and is returned.
	Retained(ctx context.Context, filter string, matching topic.Mode, fn func(Message) error) error

	// Delete removes messages of the exact channel (not a pattern). With no
	// ids it removes the whole history of channel and its retained message;
	// with ids it removes those messages (history or retained) only. It
	// returns how many messages were removed.
	Delete(ctx context.Context, channel string, ids ...ID) (int, error)

	// Close flushes pending writes, stops background work and releases
	// resources. It is idempotent: later calls return nil. Every other method
	// returns ErrClosed after Close.
	Close() error
}

// ID identifies a message. Bytes 0..7 are the big-endian unix time of the
// publish in nanoseconds, bytes 8..15 distinguish publishers, so the byte order
// of IDs is their time order. The zero ID means "none" in a Query.
type ID [16]byte

// NewID returns the ID made of the given time (unix nanoseconds) and tail.
func NewID(unixNano int64, tail uint64) ID {
	var id ID
	binary.BigEndian.PutUint64(id[:8], uint64(unixNano))
	binary.BigEndian.PutUint64(id[8:], tail)
	return id
}

// UnixNano returns the publish time recorded in the ID, in unix nanoseconds.
func (id ID) UnixNano() int64 { return int64(binary.BigEndian.Uint64(id[:8])) }

// Time returns the publish time recorded in the ID.
func (id ID) Time() time.Time { return time.Unix(0, id.UnixNano()) }

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// Compare returns -1, 0 or +1 as id sorts before, equal to or after other.
func (id ID) Compare(other ID) int {
	a, b := binary.BigEndian.Uint64(id[:8]), binary.BigEndian.Uint64(other[:8])
	if a == b {
		a, b = binary.BigEndian.Uint64(id[8:]), binary.BigEndian.Uint64(other[8:])
	}
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// String returns the ID in standard base64 with padding, the form Emitter's
// history API uses.
func (id ID) String() string { return base64.StdEncoding.EncodeToString(id[:]) }

// MarshalText encodes the ID as String does.
func (id ID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes an ID encoded by MarshalText.
func (id *ID) UnmarshalText(b []byte) error {
	var tmp [24]byte
	n, err := base64.StdEncoding.Decode(tmp[:], b)
	if err != nil || n != len(id) {
		return fmt.Errorf("store: invalid message ID %.40q", b)
	}
	copy(id[:], tmp[:n])
	return nil
}

// Message is one stored message.
type Message struct {
	// ID identifies the message and records its publish time.
	ID ID
	// Channel is the channel the message was published on, in Emitter syntax
	// ("a/b/c/"): levels separated by '/', one trailing '/'.
	Channel string
	// Payload is the message body.
	Payload []byte
	// Expires is the unix time in nanoseconds after which the message is never
	// returned (it is removed by the sweeper later). Zero means never.
	Expires int64
	// Retained marks the message as the retained message of its channel.
	Retained bool
}

// Size returns the number of bytes m counts for in a response byte cap:
// its ID, channel and payload.
func (m *Message) Size() int { return len(m.ID) + len(m.Channel) + len(m.Payload) }

// Expired reports whether m has expired at the time now (unix nanoseconds).
func (m *Message) Expired(now int64) bool { return m.Expires != 0 && m.Expires <= now }

// MaxTTL is the longest TTL ExpiresAfter accepts; longer TTLs are clamped to
// it. It is about 100 years.
const MaxTTL = 100 * 365 * 24 * time.Hour

// ExpiresAfter returns the Expires value of a message with the given ID kept
// for ttl: the ID's time plus ttl. A zero ttl returns 0 (never expires), a
// negative ttl returns ErrInvalidExpiry, a ttl above MaxTTL is clamped to
// MaxTTL, and the result saturates instead of overflowing.
func ExpiresAfter(id ID, ttl time.Duration) (int64, error) {
	switch {
	case ttl < 0:
		return 0, fmt.Errorf("%w: negative TTL %v", ErrInvalidExpiry, ttl)
	case ttl == 0:
		return 0, nil
	case ttl > MaxTTL:
		ttl = MaxTTL
	}
	t := id.UnixNano()
	if t > math.MaxInt64-int64(ttl) {
		return math.MaxInt64, nil
	}
	return max(t+int64(ttl), 1), nil
}

// Query selects history messages. The zero value of every field but Filter
// means "no constraint". Results are always returned oldest to newest.
//
// Selection: among the unexpired messages whose channel matches Filter, whose
// time is within [From, Until] and whose ID is after After and before Before,
// Query returns the Last newest ones if Last > 0, else the Limit oldest ones
// (Limit 0 means the store's maximum, Options.MaxResults). Then the byte cap
// applies: messages are kept from the newest (Last) or the oldest (Limit) end
// while the sum of their Size stays within MaxBytes; the first message is
// always kept, so a caller paging through history always makes progress.
//
// Paging forward: set After to the ID of the newest message received.
// Paging backward: set Before to the ID of the oldest message received.
// A short page does not mean the end (the byte cap may have cut it); the end
// is an empty page.
type Query struct {
	// Filter is the channel pattern ("a/+/c/"); see topic.ValidateFilter.
	Filter string
	// Matching is how Filter matches channels: topic.Emitter (the zero
	// value) or topic.MQTT.
	Matching topic.Mode
	// Last, if positive, selects the Last newest matching messages. Values
	// above the store's MaxResults are clamped to it.
	Last int
	// Limit, if positive (and Last is zero), selects the Limit oldest matching
	// messages. Values above the store's MaxResults are clamped to it.
	Limit int
	// From, if not zero, excludes messages published before it (inclusive bound).
	From time.Time
	// Until, if not zero, excludes messages published after it (inclusive bound).
	Until time.Time
	// After, if not zero, excludes messages whose ID is not greater than it.
	After ID
	// Before, if not zero, excludes messages whose ID is not less than it.
	Before ID
	// MaxBytes, if positive, lowers the response byte cap below the store's
	// MaxResponseBytes.
	MaxBytes int
}

// Defaults for Options.
const (
	DefaultMaxMessageSize   = 64 << 10
	DefaultMaxResponseBytes = 64 << 10
	DefaultMaxResults       = 1000
	DefaultSweepInterval    = time.Second
	DefaultSweepBatch       = 50_000
	DefaultCacheBytes       = 64 << 20
)

// Options configures a Memory or Bolt store. The zero value works: every zero
// field takes its default. The constructors copy the Options; the caller's
// value is never modified.
type Options struct {
	// MaxMessageSize is the largest payload Store accepts, in bytes. Default
	// 64 KiB (Emitter's limit); it may be raised.
	MaxMessageSize int
	// MaxResponseBytes is the byte cap of one Query response (see Query).
	// Default 64 KiB, like Emitter.
	MaxResponseBytes int
	// MaxResults clamps Query.Last and Query.Limit. Default 1000.
	MaxResults int
	// SweepInterval is how often the background sweeper removes expired
	// messages. Default 1s. A negative value disables the background sweeper
	// (call Sweep yourself).
	SweepInterval time.Duration
	// SweepBatch is the most messages one sweep transaction removes before
	// yielding to writers. Default 50,000. In Bolt a larger batch removes
	// more messages per page rewritten but holds the write lock longer (see
	// BenchmarkExpire).
	SweepBatch int
	// CacheBytes (Bolt only) is the size of the in-memory cache of the
	// newest history payloads: queries copy the payloads they find there
	// instead of reading them from the file (history is laid out in write
	// order, so the messages of one channel are spread over the file).
	// Default 64 MiB, allocated as it fills; a negative value disables the
	// cache. OpenBolt fills it with the newest payloads of the file.
	CacheBytes int
	// NoSync (Bolt only) skips every fsync: the write-ahead log is written,
	// not synced. THIS IS UNSAFE: after an operating system crash or power loss, acknowledged
	// messages may be lost and the file may be corrupt. A crash of the
	// process alone loses nothing.
	NoSync bool
	// Logger receives the store's logs. Default: discard.
	Logger *slog.Logger
	// Clock is the clock used for expiry. Default time.Now.
	Clock func() time.Time

	// walWrap and walApply (Bolt, tests only) replace walWrapBytes and
	// walApplyBytes.
	walWrap, walApply int64
}

func (o Options) withDefaults() Options {
	if o.MaxMessageSize <= 0 {
		o.MaxMessageSize = DefaultMaxMessageSize
	}
	if o.MaxResponseBytes <= 0 {
		o.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if o.MaxResults <= 0 {
		o.MaxResults = DefaultMaxResults
	}
	if o.SweepInterval == 0 {
		o.SweepInterval = DefaultSweepInterval
	}
	if o.SweepBatch <= 0 {
		o.SweepBatch = DefaultSweepBatch
	}
	if o.CacheBytes == 0 {
		o.CacheBytes = DefaultCacheBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.walWrap <= 0 {
		o.walWrap = walWrapBytes
	}
	if o.walApply <= 0 {
		o.walApply = walApplyBytes
	}
	return o
}

// validate checks one message against the limits.
func (o *Options) validate(m *Message) error {
	if len(m.Payload) > o.MaxMessageSize {
		return &SizeError{Size: len(m.Payload), Max: o.MaxMessageSize}
	}
	if m.Expires < 0 {
		return fmt.Errorf("%w: negative Expires %d", ErrInvalidExpiry, m.Expires)
	}
	return topic.ValidateChannel(m.Channel)
}
