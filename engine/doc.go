// Package engine is Herald's embeddable pub/sub engine: Emitter's channels,
// matching and delivery as a value inside a Go program, usable with no
// network at all. Network transports (package transport) are just other
// users of this package's public API.
//
// # Basics
//
// Create an Engine with New (the zero Options works), open a connection with
// Engine.Connect, and publish and subscribe through it:
//
//	e, _ := engine.New(engine.Options{})
//	defer e.Close()
//	c, _ := e.Connect(engine.ConnOptions{Trusted: true})
//	sub, _ := c.Subscribe(ctx, "chat/", func(m *engine.Message) { fmt.Println(m) })
//	_ = c.Publish(ctx, "chat/room1/", []byte("hello"))
//
// Channels use Emitter's syntax: segments separated by '/', ending with '/',
// with '+' matching one segment and options after '?' ("a/b/?ttl=30").
// Options.Matching chooses Emitter's matching (topic.Emitter: a subscription
// to "a/" also receives "a/b/c/") or MQTT's (topic.MQTT: a filter matches at
// its own depth; '#' for the rest). A subscription to
// "$share/<group>/<channel>" joins a share group: each matching message goes
// to exactly one member of each group, members taking turns (round robin).
//
// # Connections
//
// A Conn is an identity: the connection a message was published from (for
// no-echo, WithoutEcho or "?me=0"), the holder of subscriptions, and later
// the subject of presence and keys. A transport opens one Conn per network
// client. A Conn opened with ConnOptions.Trusted acts without channel keys:
// that is for in-process code the embedding program trusts, and for a
// transport that authorises its clients itself. Subscribers see who
// published a message through Message.From, an Identity (ID, username, the
// data its owner attached) that grants nothing.
//
// # Channel keys
//
// Every Publish, Subscribe and Unsubscribe of an untrusted connection needs
// an Emitter channel key (WithKey, or the "KEY/channel/" form a transport
// receives), checked in Emitter's order: not banned, decrypts under the
// engine's license, not expired, same contract, has the permission (w to
// publish, r to subscribe; a key with e is refused), and its target allows
// the channel. Errors carry Emitter's status code and message (StatusOf). A
// key without s publishes without storing; without l it subscribes without
// replay. Options.License takes an existing Emitter license, so keys minted
// by an Emitter broker keep working; with none, New creates one (read it with
// Engine.License and keep it). Conn.Keygen mints keys from a master key, or
// private-channel keys from a key with e; Engine.Ban bans a key on every
// connection at once, and Engine.Unban lifts the ban. Decrypted keys are
// cached, so a key already seen is not decrypted again (see
// BenchmarkAuthorize).
//
// # History and retained messages
//
// With Options.Store, a publish with a TTL (and a key with s) is stored and
// a retained publish replaces the channel's retained message. A Subscribe
// with WithLast, WithFrom or WithUntil ("?last=10") first delivers the stored
// messages it asks for, oldest to newest, and the retained messages that
// match, then live messages, with none lost or duplicated in between.
// Conn.History reads stored messages without subscribing, page by page
// (WithAfter); an explicit last=0 asks for no stored message at all.
//
// # Links and keys on the wire
//
// Conn.Link names a channel, with its options and key, for a connection;
// PublishLink publishes through the name (Emitter's links). Together with
// Conn.Keygen, Engine.Ban and Conn.History they are what Emitter's
// emitter/ requests do, usable in-process.
//
// # Delivery, ordering and slow subscribers
//
// Publish matches the channel against every subscription and hands the
// message to each before it returns. Each subscription with a handler has a
// goroutine of its own that calls the handler one message at a time, fed by
// a bounded queue (Options.QueueSize, default 1024). Messages from one
// publishing goroutine reach every subscriber in the order they were
// published; messages from different publishers interleave.
//
// When a subscriber falls a full queue behind, its Overflow policy decides:
// Block (the default) makes publishers wait for it at most
// Options.SlowTimeout, then drops its messages until it catches up; DropOldest
// and DropNewest never make a publisher wait. Either way a slow subscriber
// costs the publisher at most SlowTimeout per episode and costs other
// subscribers nothing. Subscription.Dropped counts what a subscriber lost,
// and the engine logs it. A handler that panics is logged and its
// subscription goes on with the next message.
//
// Inline subscriptions run the handler on the publisher's goroutine, with no
// queue: the fastest delivery, for handlers that only hand the message on.
//
// # Memory
//
// A publish of a payload up to 2 KiB allocates nothing of its own: Messages
// and payload copies are carved from shared blocks, which the garbage
// collector frees once no Message carved from them is reachable. A Message
// kept long after its neighbours holds on to its block; keep Message.Clone
// when keeping a few messages out of many (see Message).
//
// # Options for one call
//
// Publish takes PublishOptions, Subscribe SubscribeOptions, Unsubscribe
// UnsubscribeOptions and History HistoryOptions; WithKey and PlainTopic are
// CallOptions that all of them take, and WithLast, WithFrom and WithUntil
// are ReplayOptions, for Subscribe and History. An option that means nothing to a call does not compile there.
// Some options exist for transports rather than for in-process code:
// PlainTopic (MQTT topic names instead of Emitter channels), WithQoS and
// Message.QoS (carried, not acted on), Inline (handlers that only queue),
// NoCopy (buffers the caller gives away) and ConnOptions.Data (the
// transport's per-client state, seen by subscribers through Message.From).
//
// # Concurrency
//
// All methods of Engine and Conn are safe for concurrent use. A
// Subscription's Next and Messages are for one reading goroutine. Messages
// are immutable and shared by all their subscribers: handlers may keep them
// but must not modify them. Close, on an Engine or Conn, is idempotent; the
// Engine's waits for every goroutine the engine started, so it must not be
// called from a handler.
package engine
