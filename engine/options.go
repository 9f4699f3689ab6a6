package engine

import (
	"log/slog"
	"time"

	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/trie"
)

// Matcher selects how subscriptions match channels. It is chosen once per
// Engine.
type Matcher uint8

const (
	// MatchEmitter is Emitter's default matching: a subscription to "a/"
	// receives "a/", "a/b/" and "a/b/c/"; "+" matches exactly one segment; a
	// trailing "#" segment ("a/#/") means the same as the prefix ("a/").
	MatchEmitter Matcher = iota
	// MatchMQTT is MQTT 3.1.1 matching: a filter matches only at its own
	// depth, "+" matches one level, a trailing "#" matches the rest
	// (including the parent level), and a filter starting with a wildcard
	// never matches a channel whose first segment starts with '$'.
	MatchMQTT
)

// String returns "emitter" or "mqtt".
func (m Matcher) String() string {
	if m == MatchMQTT {
		return "mqtt"
	}
	return "emitter"
}

func (m Matcher) trieMode() trie.Mode {
	if m == MatchMQTT {
		return trie.MQTT
	}
	return trie.Emitter
}

// Overflow is what a subscription does when a message arrives and its queue
// is full, that is when its handler (or the goroutine ranging over it) has
// fallen QueueSize messages behind.
type Overflow uint8

const (
	// Block makes the publisher wait for room, at most Options.SlowTimeout
	// (or until the publisher's context is done). When the wait times out
	// the subscription is marked slow: that message and every later one are
	// dropped for it, without waiting, until its consumer takes the queued
	// messages, after which publishers wait for it again. A stalled subscriber
	// therefore delays publishers by at most SlowTimeout per slow episode,
	// and no other subscriber is affected beyond that. This is the default.
	Block Overflow = iota
	// DropOldest discards the oldest queued message to make room. The
	// publisher never waits.
	DropOldest
	// DropNewest discards the arriving message. The publisher never waits.
	DropNewest
)

// String returns the policy's name.
func (o Overflow) String() string {
	switch o {
	case DropOldest:
		return "drop-oldest"
	case DropNewest:
		return "drop-newest"
	default:
		return "block"
	}
}

// Defaults for Options fields left at their zero value.
const (
	DefaultQueueSize   = 1024
	DefaultSlowTimeout = 100 * time.Millisecond
)

// Options configures an Engine. The zero value is a working in-memory engine
// with Emitter matching and no history. New copies the Options; changing
// them afterwards has no effect.
type Options struct {
	// Matcher chooses Emitter (default) or MQTT matching semantics.
	Matcher Matcher

	// QueueSize is the default number of messages a subscription buffers
	// for a handler that has not caught up. Zero means DefaultQueueSize.
	// Per subscription, WithQueue overrides it.
	QueueSize int

	// Overflow is the default policy when a subscription's queue is full.
	// The zero value is Block. Per subscription, WithQueue overrides it.
	Overflow Overflow

	// SlowTimeout bounds how long a publisher waits for a full queue under
	// the Block policy. Zero means DefaultSlowTimeout.
	SlowTimeout time.Duration

	// Logger receives the engine's log records (slow subscribers, handler
	// panics). Nil discards them.
	Logger *slog.Logger

	// Clock returns the current time; nil means time.Now. It is a seam for
	// tests.
	Clock func() time.Time

	// Store keeps message history and retained messages (history.go): a
	// publish with a TTL (and a key with s) is stored, a publish with the
	// retain flag sets the channel's retained message, and Subscribe replays
	// what WithLast, WithFrom and WithUntil ask for (with a key with l) and
	// the matching retained messages. Nil means no history and no retained
	// messages. Use store.NewMemory, store.OpenBolt or your own store.Store.
	// The Engine owns it from New on: Engine.Close closes it.
	Store store.Store

	// Channel keys (auth.go, keys.go).

	// License is the Emitter license string channel keys are checked
	// against (any generation; an Emitter broker's license keeps its keys
	// working). Empty means New creates a new license: read it with
	// Engine.License and keep its Encode() string where you keep secrets,
	// so that the keys minted now stay valid after a restart. An invalid
	// license makes New fail.
	License string

	// KeyCacheSize bounds how many decrypted channel keys the engine keeps,
	// so that a key already seen is not decrypted again. Zero means
	// DefaultKeyCacheSize; a negative value disables the cache.
	KeyCacheSize int

	// Bans keeps banned keys across restarts (see BanFile). Nil means
	// Options.Store when it implements BanStore, and otherwise memory only
	// (bans are lost on restart).
	Bans BanStore
}

func (o Options) withDefaults() Options {
	if o.QueueSize <= 0 {
		o.QueueSize = DefaultQueueSize
	}
	if o.SlowTimeout <= 0 {
		o.SlowTimeout = DefaultSlowTimeout
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.KeyCacheSize == 0 {
		o.KeyCacheSize = DefaultKeyCacheSize
	}
	return o
}

// ConnOptions describes a connection: the identity under which in-process
// code (or a network client, through a transport) publishes and subscribes.
type ConnOptions struct {
	// ID is the connection's identity. Empty means a random 26-character
	// id (base32, like Emitter's connection ids). It must be unique among
	// the engine's open connections.
	ID string

	// Username is shown in presence and logs; it grants nothing.
	Username string

	// Data is any value the connection's owner wants to find from it, such
	// as a transport's session; see Conn.Data and Message.From.
	Data any

	// Trusted connections may act without a channel key. Only in-process
	// code the embedding program trusts should set it; a transport never
	// does for its network clients. The zero value (untrusted) is the safe
	// default.
	Trusted bool
}

// Option adjusts one Publish, Subscribe or Unsubscribe call. Options are
// plain values: passing them does not allocate.
type Option struct {
	kind optionKind
	n    int64
	s    string
	ovf  Overflow
}

type optionKind uint8

const (
	optKey optionKind = iota + 1
	optTTL
	optLast
	optFrom
	optUntil
	optNoEcho
	optRetain
	optQueue
	optInline
	optPlain
	optNoCopy
	optQoS
)

// WithKey passes the channel key that authorises the call.
func WithKey(key string) Option { return Option{kind: optKey, s: key} }

// WithTTL stores a published message in history for d (rounded down to whole
// seconds, as Emitter's ttl option). It overrides a ?ttl= option in the
// channel string.
func WithTTL(d time.Duration) Option { return Option{kind: optTTL, n: int64(d / time.Second)} }

// WithLast makes Subscribe replay the n newest stored messages first.
func WithLast(n int) Option { return Option{kind: optLast, n: int64(n)} }

// WithFrom makes Subscribe replay stored messages published at or after t.
func WithFrom(t time.Time) Option { return Option{kind: optFrom, n: t.Unix()} }

// WithUntil makes Subscribe replay stored messages published at or before t.
func WithUntil(t time.Time) Option { return Option{kind: optUntil, n: t.Unix()} }

// WithoutEcho makes Publish skip the publishing connection's own
// subscriptions (Emitter's me=0).
func WithoutEcho() Option { return Option{kind: optNoEcho} }

// WithRetain makes Publish keep the message as the channel's retained
// message (MQTT semantics: one per channel, replaced by the next retained
// publish, cleared by an empty one).
func WithRetain() Option { return Option{kind: optRetain} }

// WithQueue sets a subscription's queue size and overflow policy, instead of
// the engine's defaults.
func WithQueue(size int, policy Overflow) Option {
	return Option{kind: optQueue, n: int64(size), ovf: policy}
}

// Inline makes a subscription's handler run synchronously on the publishing
// goroutine, with no queue and no goroutine of its own. It is the fastest
// delivery, meant for handlers that only hand the message on (a network
// transport's outbound queue, a non-blocking channel send). An inline
// handler must not block: it delays its publisher and every subscriber after
// it. It may be called concurrently by different publishers.
func Inline() Option { return Option{kind: optInline} }

// PlainTopic marks the channel as a plain MQTT topic name rather than an
// Emitter channel: any UTF-8 text except the wildcards, '?' being an ordinary
// character and no options. It must still end with '/', which the transport
// adds. Plain topics are meant for transports serving MQTT clients.
func PlainTopic() Option { return Option{kind: optPlain} }

// NoCopy makes Publish hand payload itself to subscribers instead of a copy:
// the engine and every subscriber may hold on to it, so the caller must not
// modify it after Publish returns. It saves a copy and, for payloads over
// 2 KiB, an allocation; use it for buffers made for this one message.
func NoCopy() Option { return Option{kind: optNoCopy} }

// WithQoS records on the published message the delivery guarantee its
// publisher asked for (Message.QoS). The engine does not act on it.
func WithQoS(qos uint8) Option { return Option{kind: optQoS, n: int64(qos)} }

// callOptions is the decoded form of a call's options.
type callOptions struct {
	key         string
	ttl         int64
	last        int64
	from, until int64
	has         uint16
	queue       int
	overflow    Overflow
	inline      bool
	plain       bool
	noCopy      bool
	qos         uint8
	noLoad      bool // the key lacks l: no history, no retained messages (auth.go)
}

const (
	hasTTL uint16 = 1 << iota
	hasLast
	hasFrom
	hasUntil
	hasNoEcho
	hasRetain
	hasQueue
	hasKey
)

func (c *callOptions) apply(opts []Option) {
	for i := range opts {
		o := &opts[i]
		switch o.kind {
		case optKey:
			c.key, c.has = o.s, c.has|hasKey
		case optTTL:
			c.ttl, c.has = o.n, c.has|hasTTL
		case optLast:
			c.last, c.has = o.n, c.has|hasLast
		case optFrom:
			c.from, c.has = o.n, c.has|hasFrom
		case optUntil:
			c.until, c.has = o.n, c.has|hasUntil
		case optNoEcho:
			c.has |= hasNoEcho
		case optRetain:
			c.has |= hasRetain
		case optQueue:
			c.queue, c.overflow, c.has = int(o.n), o.ovf, c.has|hasQueue
		case optInline:
			c.inline = true
		case optPlain:
			c.plain = true
		case optNoCopy:
			c.noCopy = true
		case optQoS:
			c.qos = uint8(o.n)
		}
	}
}
