package engine

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/topic"
)

// Conn is a connection to an Engine: the identity under which messages are
// published and subscriptions are held. In-process code opens one with
// Engine.Connect; a network transport opens one per client.
//
// All methods are safe for concurrent use. Messages published through one
// Conn from one goroutine reach each subscriber in the order they were
// published.
type Conn struct {
	e       *Engine
	id      Identity
	trusted bool
	alloc   *allocShard // where its messages are carved from

	closed atomic.Bool
	mu     sync.Mutex // guards subs and links
	subs   map[*Subscription]struct{}
	links  map[string]link

	memoMu sync.Mutex // guards memo; taken with TryLock only
	memo   authMemo
}

// ID returns the connection's id.
func (c *Conn) ID() string { return c.id.id }

// Username returns the username given to Connect.
func (c *Conn) Username() string { return c.id.username }

// Data returns ConnOptions.Data.
func (c *Conn) Data() any { return c.id.data }

// Identity returns the connection's identity, as the subscribers of its
// messages see it (Message.From).
func (c *Conn) Identity() *Identity { return &c.id }

// Trusted reports whether the connection may act without channel keys.
func (c *Conn) Trusted() bool { return c.trusted }

// Close ends every subscription of the connection and forgets it. It is
// idempotent.
func (c *Conn) Close() error {
	c.close()
	return nil
}

func (c *Conn) close() {
	if !c.closed.CompareAndSwap(false, true) {
		return
	}
	c.mu.Lock()
	subs := make([]*Subscription, 0, len(c.subs))
	for s := range c.subs {
		subs = append(subs, s)
	}
	c.mu.Unlock()
	for _, s := range subs {
		s.end()
	}
	c.e.removeConn(c)
}

func (c *Conn) usable() error {
	if c.closed.Load() || c.e.closed.Load() {
		return ErrClosed
	}
	return nil
}

// Publish sends payload to every subscription matching channel. The channel
// is an Emitter channel such as "a/b/c/", optionally followed by options as
// in "a/b/c/?ttl=30&me=0"; options passed as arguments override those in the
// string. Publish copies payload, so the caller may reuse it at once (unless
// the NoCopy option says otherwise).
//
// Delivery to in-process subscribers happens before Publish returns: the
// message is in every matching subscription's queue (or an Inline handler
// has run). ctx bounds the wait for a full queue under the Block policy and
// for storing the message.
func (c *Conn) Publish(ctx context.Context, channel string, payload []byte, opts ...PublishOption) error {
	if err := c.usable(); err != nil {
		return err
	}
	var co callOptions
	co.applyPublish(opts)
	ch, err := co.channel(channel, false)
	if err != nil {
		return err
	}
	if !co.plain && !ch.Static() {
		return ErrWildcardPublish
	}
	if co.has&hasTTL != 0 && co.ttl < 0 {
		return ErrInvalidOption
	}
	e := c.e
	if err := e.authorize(c, opPublish, &ch, &co); err != nil {
		return err
	}
	m := c.alloc.newMessage(payload, co.noCopy)
	m.ID = e.ids.next()
	m.Channel = ch.Path
	m.QoS, m.from = co.qos, c
	if co.has&hasTTL != 0 {
		m.TTL = time.Duration(co.ttl) * time.Second
	}
	if err := e.persist(ctx, c, m, &co); err != nil {
		return err
	}
	if co.has&hasNoEcho != 0 {
		e.subs.MatchFiltered(m.Channel,
			func(s *Subscription) bool { return s.conn != c },
			func(s *Subscription) { s.deliver(ctx, m) })
	} else {
		e.subs.Match(m.Channel, func(s *Subscription) { s.deliver(ctx, m) })
	}
	return nil
}

// channel parses the channel string of a call: a plain MQTT topic (or filter)
// with the PlainTopic option, otherwise an Emitter channel whose options are
// merged into co.
func (co *callOptions) channel(channel string, filter bool) (security.Channel, error) {
	var ch security.Channel
	if co.plain {
		if err := checkPlainTopic(channel, filter); err != nil {
			return ch, err
		}
		ch.Path, ch.Segments = channel, -1
		return ch, nil
	}
	ch, err := security.ParseChannel(channel)
	if err != nil {
		return ch, err
	}
	co.merge(&ch.Options)
	return ch, nil
}

// merge takes the options found in a channel string, unless an option
// argument already set them.
func (co *callOptions) merge(o *security.Options) {
	if o.Has(security.OptionTTL) && co.has&hasTTL == 0 {
		co.ttl, co.has = o.TTL, co.has|hasTTL
	}
	if o.Has(security.OptionLast) && co.has&hasLast == 0 {
		co.last, co.has = o.Last, co.has|hasLast
	}
	if o.Has(security.OptionFrom) && co.has&hasFrom == 0 {
		co.from, co.has = o.From, co.has|hasFrom
	}
	if o.Has(security.OptionUntil) && co.has&hasUntil == 0 {
		co.until, co.has = o.Until, co.has|hasUntil
	}
	if o.NoEcho() {
		co.has |= hasNoEcho
	}
}

// checkPlainTopic validates a plain MQTT topic name or filter (with the
// trailing '/' the transport adds): topic's rules, UTF-8, not empty, and no
// wildcard character in a topic name. A topic name is checked in one pass,
// as it is on every publish: without '+', '#' or NUL bytes, a string that
// ends with '/' within topic.MaxLen is a valid channel.
func checkPlainTopic(t string, filter bool) error {
	if filter {
		if err := topic.ValidateFilter(t); err != nil {
			return err
		}
	} else {
		if t == "" || len(t) > topic.MaxLen || t[len(t)-1] != '/' {
			return topic.ValidateChannel(t) // says which rule
		}
		for i := 0; i < len(t); i++ {
			switch t[i] {
			case 0:
				return topic.ValidateChannel(t)
			case '+', '#':
				return &topic.Error{Channel: t[:min(len(t), 64)], Reason: "wildcard character in a topic name"}
			}
		}
	}
	switch {
	case len(t) < 2:
		return &topic.Error{Channel: t, Reason: "empty topic"}
	case !utf8.ValidString(t):
		return &topic.Error{Channel: t[:min(len(t), 64)], Reason: "not UTF-8"}
	}
	return nil
}

// Handler receives messages for a subscription. The Message is shared with
// other subscribers and must not be modified; it may be kept.
type Handler func(*Message)

// Subscribe subscribes to channel, an Emitter channel filter such as
// "a/+/c/", "a/" or "$share/group/a/b/", optionally with options such as
// "?last=10". Messages go to h on a goroutine of the subscription's own, one
// at a time and in order, through a queue of Options.QueueSize messages (see
// Overflow for what a full queue does). With the Inline option h runs on the
// publisher's goroutine instead. With a nil h, read the messages with
// Subscription.Next or Subscription.Messages.
//
// A connection may hold several subscriptions to the same channel; each
// receives every matching message.
func (c *Conn) Subscribe(ctx context.Context, channel string, h Handler, opts ...SubscribeOption) (*Subscription, error) {
	if err := c.usable(); err != nil {
		return nil, err
	}
	var co callOptions
	co.applySubscribe(opts)
	ch, err := co.channel(channel, true)
	if err != nil {
		return nil, err
	}
	if co.inline && h == nil {
		return nil, ErrInvalidOption
	}
	e := c.e
	if err := e.authorize(c, opSubscribe, &ch, &co); err != nil {
		return nil, err
	}
	s := &Subscription{e: e, conn: c, channel: ch.Path, handler: h, inline: co.inline, done: make(chan struct{})}
	if !co.inline {
		size, policy := e.opts.QueueSize, e.opts.Overflow
		if co.has&hasQueue != 0 {
			if co.queue <= 0 {
				return nil, ErrInvalidOption
			}
			size, policy = co.queue, co.overflow
		}
		s.q = newQueue(size, policy)
	}
	if err := e.beginReplay(s, &ch, &co); err != nil { // hold live messages until replay
		return nil, err
	}
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.subs[s] = struct{}{}
	c.mu.Unlock()
	if err := e.subs.Insert(s.channel, s); err != nil {
		c.forget(s)
		return nil, err
	}
	if s.ended.Load() || !e.startHandler(s) {
		// Closed meanwhile: end may have run before Insert.
		s.end()
		_, _ = e.subs.Remove(s.channel, s)
		close(s.done) // no handler goroutine was started
		return nil, ErrClosed
	}
	if err := e.replay(ctx, s, &ch, &co); err != nil {
		s.end()
		return nil, err
	}
	// A Close that raced with this Subscribe may have missed s.
	if c.closed.Load() {
		s.end()
		return nil, ErrClosed
	}
	return s, nil
}

// Unsubscribe ends every subscription of this connection to channel (the
// same string, without options, that was given to Subscribe). Unsubscribing
// from a channel with no subscription is not an error. It does not block:
// messages already queued for the subscriptions are discarded.
func (c *Conn) Unsubscribe(channel string, opts ...UnsubscribeOption) error {
	if err := c.usable(); err != nil {
		return err
	}
	var co callOptions
	co.applyUnsubscribe(opts)
	ch, err := co.channel(channel, true)
	if err != nil {
		return err
	}
	if err := c.e.authorize(c, opUnsubscribe, &ch, &co); err != nil {
		return err
	}
	c.mu.Lock()
	var ended []*Subscription
	for s := range c.subs {
		if s.channel == ch.Path {
			ended = append(ended, s)
		}
	}
	c.mu.Unlock()
	for _, s := range ended {
		s.end()
	}
	return nil
}

func (c *Conn) forget(s *Subscription) {
	c.mu.Lock()
	delete(c.subs, s)
	c.mu.Unlock()
}
