package engine

import (
	"log/slog"
	"time"

	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
)

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
	// Matching chooses how subscriptions match channels: topic.Emitter (the
	// zero value: a subscription to "a/" also receives "a/b/") or topic.MQTT.
	Matching topic.Mode

	// QueueSize is the default number of messages a subscription buffers
	// for a handler that has not caught up. Zero means DefaultQueueSize.
	// Per subscription, WithQueue overrides it.
	QueueSize int

	// Overflow is the default policy when a subscription's queue is full.
	// The zero value is Block. Per subscription, WithQueue overrides it.
	Overflow Overflow

	// SlowTimeout bounds how long a publisher waits for room in a full
	// queue under the Block policy: when the wait times out, the subscriber
	// is marked slow and its messages are dropped without waiting until its
	// consumer takes its queue. A stalled subscriber costs each publisher at
	// most SlowTimeout per slow episode. The MQTT transport's SlowTimeout
	// means the same for a client. Zero means DefaultSlowTimeout.
	SlowTimeout time.Duration

	// Logger receives the engine's log records (slow subscribers, handler
	// panics). Nil discards them.
	Logger *slog.Logger

	// Clock returns the current time; nil means time.Now. It is a seam for
	// tests.
	Clock func() time.Time

	// Store keeps message history and retained messages: a
	// publish with a TTL (and a key with s) is stored, a publish with the
	// retain flag sets the channel's retained message, and Subscribe replays
	// what WithLast, WithFrom and WithUntil ask for (with a key with l) and
	// the matching retained messages. Nil means no history and no retained
	// messages. Use store.NewMemory, store.OpenBolt or your own store.Store.
	// The Engine owns it from New on: Engine.Close closes it.
	Store store.Store

	// Channel keys.

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

	// Trusted connections act without channel keys: the engine checks none
	// of their operations. Set it for in-process code the embedding program
	// trusts, or for a transport's connection whose every operation the
	// transport authorises itself (as the MQTT transport does for plain
	// topics with its Authorizer). The zero value (untrusted) is the safe
	// default: every operation needs a key with the right permission.
	Trusted bool
}

// PublishOption adjusts one Publish call: WithKey, PlainTopic, WithTTL,
// WithoutEcho, WithRetain, WithQoS, NoCopy. Options are plain values: passing
// them does not allocate.
type PublishOption interface{ publishOption() }

// SubscribeOption adjusts one Subscribe call: WithKey, PlainTopic, WithLast,
// WithFrom, WithUntil, WithQueue, Inline.
type SubscribeOption interface{ subscribeOption() }

// UnsubscribeOption adjusts one Unsubscribe call: WithKey, PlainTopic.
type UnsubscribeOption interface{ unsubscribeOption() }

// HistoryOption adjusts one History call: WithKey, PlainTopic, WithLast,
// WithFrom, WithUntil, WithAfter.
type HistoryOption interface{ historyOption() }

// CallOption is an option that every call takes: WithKey and PlainTopic.
type CallOption interface {
	PublishOption
	SubscribeOption
	UnsubscribeOption
	HistoryOption
}

// ReplayOption selects stored messages, for Subscribe and History alike:
// WithLast, WithFrom, WithUntil.
type ReplayOption interface {
	SubscribeOption
	HistoryOption
}

// The option values. Each implements the interfaces of the calls it has a
// meaning for, so that a misplaced option does not compile; the calls read
// them with a type switch, which keeps them off the heap.
type (
	keyOption    string
	plainOption  struct{}
	ttlOption    int64 // seconds
	noEchoOption struct{}
	retainOption struct{}
	noCopyOption struct{}
	qosOption    uint8
	lastOption   int64
	fromOption   int64 // unix seconds
	untilOption  int64 // unix seconds
	inlineOption struct{}
	afterOption  ID
	queueOption  struct {
		size   int
		policy Overflow
	}
)

func (keyOption) publishOption()       {}
func (keyOption) subscribeOption()     {}
func (keyOption) unsubscribeOption()   {}
func (plainOption) publishOption()     {}
func (plainOption) subscribeOption()   {}
func (plainOption) unsubscribeOption() {}
func (ttlOption) publishOption()       {}
func (noEchoOption) publishOption()    {}
func (retainOption) publishOption()    {}
func (noCopyOption) publishOption()    {}
func (qosOption) publishOption()       {}
func (lastOption) subscribeOption()    {}
func (fromOption) subscribeOption()    {}
func (untilOption) subscribeOption()   {}
func (inlineOption) subscribeOption()  {}
func (queueOption) subscribeOption()   {}
func (keyOption) historyOption()       {}
func (plainOption) historyOption()     {}
func (lastOption) historyOption()      {}
func (fromOption) historyOption()      {}
func (untilOption) historyOption()     {}
func (afterOption) historyOption()     {}

// WithKey passes the channel key that authorises the call.
func WithKey(key string) CallOption { return keyOption(key) }

// PlainTopic marks the channel as a plain MQTT topic name (or filter) rather
// than an Emitter channel: any UTF-8 text except the wildcards (which only a
// filter may have), '?' being an ordinary character and no options. It must
// still end with '/', which the transport adds, and obey topic.MaxLen. Plain
// topics are meant for transports serving MQTT clients.
func PlainTopic() CallOption { return plainOption{} }

// WithTTL stores a published message in history for d (rounded down to whole
// seconds, as Emitter's ttl option). It overrides a ?ttl= option in the
// channel string.
func WithTTL(d time.Duration) PublishOption { return ttlOption(d / time.Second) }

// WithoutEcho makes Publish skip the publishing connection's own
// subscriptions (Emitter's me=0).
func WithoutEcho() PublishOption { return noEchoOption{} }

// WithRetain makes Publish keep the message as the channel's retained
// message (MQTT semantics: one per channel, replaced by the next retained
// publish, cleared by an empty one).
func WithRetain() PublishOption { return retainOption{} }

// NoCopy makes Publish hand payload itself to subscribers instead of a copy:
// the engine and every subscriber may hold on to it, so the caller must not
// modify it after Publish returns. It saves a copy and, for payloads over
// 2 KiB, an allocation; use it for buffers made for this one message.
func NoCopy() PublishOption { return noCopyOption{} }

// WithQoS records on the published message the delivery guarantee its
// publisher asked for (Message.QoS). The engine does not act on it; a
// transport does.
func WithQoS(qos uint8) PublishOption { return qosOption(qos) }

// WithLast makes Subscribe replay the n newest stored messages first, and
// History return at most n messages.
func WithLast(n int) ReplayOption { return lastOption(n) }

// WithFrom selects stored messages published at or after t (whole seconds,
// as Emitter's from option).
func WithFrom(t time.Time) ReplayOption { return fromOption(t.Unix()) }

// WithUntil selects stored messages published at or before t (whole
// seconds, as Emitter's until option).
func WithUntil(t time.Time) ReplayOption { return untilOption(t.Unix()) }

// WithAfter makes History return the messages published after the one with
// id, oldest first: pass the ID of the last message of a page to read the
// next one (Emitter's startFromID).
func WithAfter(id ID) HistoryOption { return afterOption(id) }

// WithQueue sets a subscription's queue size and overflow policy, instead of
// the engine's defaults.
func WithQueue(size int, policy Overflow) SubscribeOption {
	return queueOption{size: size, policy: policy}
}

// Inline makes a subscription's handler run synchronously on the publishing
// goroutine, with no queue and no goroutine of its own. It is the fastest
// delivery, meant for handlers that only hand the message on (a network
// transport's outbound queue, a non-blocking channel send). An inline
// handler must not block: it delays its publisher and every subscriber after
// it. It may be called concurrently by different publishers.
func Inline() SubscribeOption { return inlineOption{} }

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
	after       ID
	noLoad      bool // the key lacks l: no history, no retained messages
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
	hasAfter
)

func (c *callOptions) applyPublish(opts []PublishOption) {
	for _, o := range opts {
		switch o := o.(type) {
		case keyOption:
			c.key, c.has = string(o), c.has|hasKey
		case plainOption:
			c.plain = true
		case ttlOption:
			c.ttl, c.has = int64(o), c.has|hasTTL
		case noEchoOption:
			c.has |= hasNoEcho
		case retainOption:
			c.has |= hasRetain
		case noCopyOption:
			c.noCopy = true
		case qosOption:
			c.qos = uint8(o)
		}
	}
}

func (c *callOptions) applySubscribe(opts []SubscribeOption) {
	for _, o := range opts {
		switch o := o.(type) {
		case keyOption:
			c.key, c.has = string(o), c.has|hasKey
		case plainOption:
			c.plain = true
		case lastOption:
			c.last, c.has = int64(o), c.has|hasLast
		case fromOption:
			c.from, c.has = int64(o), c.has|hasFrom
		case untilOption:
			c.until, c.has = int64(o), c.has|hasUntil
		case queueOption:
			c.queue, c.overflow, c.has = o.size, o.policy, c.has|hasQueue
		case inlineOption:
			c.inline = true
		}
	}
}

func (c *callOptions) applyUnsubscribe(opts []UnsubscribeOption) {
	for _, o := range opts {
		switch o := o.(type) {
		case keyOption:
			c.key, c.has = string(o), c.has|hasKey
		case plainOption:
			c.plain = true
		}
	}
}

func (c *callOptions) applyHistory(opts []HistoryOption) {
	for _, o := range opts {
		switch o := o.(type) {
		case keyOption:
			c.key, c.has = string(o), c.has|hasKey
		case plainOption:
			c.plain = true
		case lastOption:
			c.last, c.has = int64(o), c.has|hasLast
		case fromOption:
			c.from, c.has = int64(o), c.has|hasFrom
		case untilOption:
			c.until, c.has = int64(o), c.has|hasUntil
		case afterOption:
			c.after, c.has = ID(o), c.has|hasAfter
		}
	}
}
