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
// Options.Matcher chooses Emitter's matching (a subscription to "a/" also
// receives "a/b/c/") or MQTT's (a filter matches at its own depth; '#' for
// the rest). A subscription to "$share/<group>/<channel>" joins a share
// group: each matching message goes to exactly one member of each group,
// members taking turns (round robin).
//
// # Connections
//
// A Conn is an identity: the connection a message was published from (for
// no-echo, WithoutEcho or "?me=0"), the holder of subscriptions, and later
// the subject of presence and keys. A transport opens one Conn per network
// client. A Conn opened with ConnOptions.Trusted may act without a channel
// key; that is for in-process code the embedding program trusts.
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
// # Concurrency
//
// All methods of Engine and Conn are safe for concurrent use. A
// Subscription's Next and Messages are for one reading goroutine. Messages
// are immutable and shared by all their subscribers: handlers may keep them
// but must not modify them. Close, on an Engine or Conn, is idempotent; the
// Engine's waits for every goroutine the engine started, so it must not be
// called from a handler.
package engine
