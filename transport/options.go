package transport

import (
	"crypto/tls"
	"log/slog"
	"net"
	"time"

	"github.com/heraldmq/herald/engine"
)

// Defaults for Options fields left at their zero value. QueueSize and
// SlowTimeout default to the engine's (engine.DefaultQueueSize and
// engine.DefaultSlowTimeout).
const (
	DefaultMaxConnections = 100_000
	DefaultMaxPacketSize  = 1 << 20 // 1 MiB
	DefaultMaxInflight    = 1024
	DefaultSessionExpiry  = 24 * time.Hour
	DefaultConnectTimeout = 10 * time.Second
	DefaultWriteTimeout   = 10 * time.Second
	DefaultMaxPending     = 4 << 20 // 4 MiB
)

// Options configures a Server. The zero value serves Emitter topics only,
// with the defaults above. New copies the Options; changing them afterwards
// has no effect.
type Options struct {
	// Logger receives connection errors and dropped-message notices. Nil
	// discards them.
	Logger *slog.Logger

	// MaxConnections bounds the number of open network connections; a
	// connection accepted beyond it is closed at once. Zero means
	// DefaultMaxConnections.
	MaxConnections int

	// MaxPacketSize bounds an MQTT packet, fixed header included. A client
	// that sends a larger one is disconnected (only that client); the check
	// happens on the fixed header, before the body is read. Zero means
	// DefaultMaxPacketSize; the protocol's limit is 256 MiB.
	MaxPacketSize int

	// QueueSize bounds the messages waiting for one client: queued behind
	// its connection, or kept for a persistent session while it is away.
	// When a connected client's queue is full, a message for it makes its
	// publisher wait for room, at most SlowTimeout, and is dropped after
	// that; for an absent client, messages beyond the bound are dropped.
	// QoS 0 messages are never kept for an absent client. Dropped messages
	// are counted in Stats().Dropped. It also bounds the QoS 2 messages a
	// client has sent and not yet released. Zero means
	// engine.DefaultQueueSize.
	QueueSize int

	// SlowTimeout bounds how long a publisher waits for room in a full
	// queue, as engine.Options.SlowTimeout does for the engine's queues:
	// when the wait times out, the client is marked slow and its messages
	// are dropped without waiting until its writer takes its queue. A
	// stalled client costs each publisher at most SlowTimeout per slow
	// episode. Zero means engine.DefaultSlowTimeout.
	SlowTimeout time.Duration

	// MaxInflight bounds the QoS 1 and 2 messages sent to a client and not
	// yet acknowledged; further ones wait in the queue (so a client may
	// hold up to QueueSize + MaxInflight). Zero means DefaultMaxInflight; at
	// most 65535. A larger window raises throughput on fast links (a busy
	// client's writes carry more messages; see mqttload's QoS 1 runs) but
	// also what is sent again when a persistent session reconnects; slow
	// links and small devices are better served by a much smaller one.
	MaxInflight int

	// MaxPending bounds the bytes of control packets (acknowledgements,
	// responses) waiting for a client that does not read its socket; a client
	// that lets more pile up is disconnected. Zero means DefaultMaxPending.
	MaxPending int

	// SessionExpiry is how long a persistent session (CleanSession 0) is
	// kept, with its subscriptions and queued QoS 1/2 messages, after its
	// client went away. Zero means DefaultSessionExpiry; negative means
	// forever.
	SessionExpiry time.Duration

	// ConnectTimeout bounds the wait for a new connection's first bytes and
	// its CONNECT packet. Zero means DefaultConnectTimeout.
	ConnectTimeout time.Duration

	// WriteTimeout bounds one socket write; a client that does not read for
	// that long (between half of it and all of it: the deadline is pushed back
	// lazily) is disconnected. Zero means DefaultWriteTimeout.
	WriteTimeout time.Duration

	// PlainTopics lets clients use plain MQTT topics, without a channel key,
	// next to Emitter's KEY/channel/ topics. Off by default: every topic is
	// then an Emitter topic and needs a key. When on, a topic whose first
	// level is "emitter" or a 32-character channel key (base64url letters,
	// digits, '-' and '_') is an Emitter topic and every other topic is a
	// plain topic, authorised by Authorizer (all allowed when nil). Plain
	// topics share the engine's channel space: plain "a/b" is channel "a/b/",
	// which Emitter clients reach with a key for "a/b/". For MQTT's matching
	// rules on plain topics, create the engine with topic.MQTT.
	PlainTopics bool

	// Authorizer checks CONNECT credentials (for every client) and plain
	// topics (when PlainTopics is on). Nil allows everything; Emitter topics
	// are always authorised by their channel key.
	Authorizer Authorizer

	// TLSConfig configures ServeTLS and ListenAndServeTLS: as it is when
	// they are given no certificate files, or with the files' certificate in
	// place of its own.
	TLSConfig *tls.Config

	// SessionFile, when not empty, is a file where persistent sessions
	// (subscriptions and queued messages) are saved on Shutdown and loaded by
	// New, so that they survive a restart.
	SessionFile string
}

// ClientInfo describes a client to an Authorizer.
type ClientInfo struct {
	ClientID   string
	Username   string
	RemoteAddr net.Addr
}

// Authorizer decides what a client may do. Its methods are called from
// connection goroutines, concurrently; they must be safe for concurrent use
// and should be fast (they run on every plain PUBLISH and SUBSCRIBE).
type Authorizer interface {
	// Connect reports whether a client may connect with these credentials
	// (password is nil when the client sent none). A refused client gets
	// CONNACK 0x05 (not authorised).
	Connect(c ClientInfo, password []byte) bool
	// Publish reports whether the client may publish to the plain topic
	// (and use it as its will topic).
	Publish(c ClientInfo, topic string) bool
	// Subscribe reports whether the client may subscribe to the plain
	// filter. A refused filter gets SUBACK 0x80.
	Subscribe(c ClientInfo, filter string) bool
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MaxConnections <= 0 {
		o.MaxConnections = DefaultMaxConnections
	}
	if o.MaxPacketSize <= 0 {
		o.MaxPacketSize = DefaultMaxPacketSize
	}
	if o.QueueSize <= 0 {
		o.QueueSize = engine.DefaultQueueSize
	}
	if o.SlowTimeout <= 0 {
		o.SlowTimeout = engine.DefaultSlowTimeout
	}
	if o.MaxInflight <= 0 {
		o.MaxInflight = DefaultMaxInflight
	}
	o.MaxInflight = min(o.MaxInflight, 65535)
	if o.MaxPending <= 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.SessionExpiry == 0 {
		o.SessionExpiry = DefaultSessionExpiry
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = DefaultConnectTimeout
	}
	if o.WriteTimeout <= 0 {
		o.WriteTimeout = DefaultWriteTimeout
	}
	return o
}
