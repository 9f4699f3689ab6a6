package engine

import (
	"context"
	"fmt"

	"github.com/heraldmq/herald/security"
)

// ErrInvalidLinkName is returned by Link for a name that is not one or two
// ASCII letters or digits (Emitter answers 400 with its own message).
var ErrInvalidLinkName = fmt.Errorf("engine: invalid link name: %w", security.ErrStatusLinkName)

// ErrNoLink is returned by PublishLink for a name the connection has not
// linked (a 400 for Emitter's clients, whose topic it then is).
var ErrNoLink = fmt.Errorf("engine: no such link: %w", security.ErrStatusBadRequest)

// link is a channel a connection has named: where PublishLink publishes and
// with which key.
type link struct {
	channel string // as given to Link, options included
	key     string
}

// validLinkName reports whether name is Emitter's link name: one or two
// ASCII letters or digits.
func validLinkName(name string) bool {
	if len(name) < 1 || len(name) > 2 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// Link names channel (an Emitter channel, with options such as
// "a/b/?ttl=30&me=0") name for this connection, as Emitter's emitter/link/
// request does: PublishLink(name, ...) then publishes to channel with those
// options and key. The key is checked when the link is used, not now (a key
// may be empty for a trusted connection). The channel must parse and be
// static. A link replaces an earlier one of the same name, and ends with the
// connection.
func (c *Conn) Link(name, channel, key string) error {
	if err := c.usable(); err != nil {
		return err
	}
	if !validLinkName(name) {
		return ErrInvalidLinkName
	}
	ch, err := security.ParseChannel(channel)
	if err != nil {
		return err
	}
	if !ch.Static() {
		return ErrWildcardPublish
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.links == nil {
		c.links = make(map[string]link)
	}
	c.links[name] = link{channel: channel, key: key}
	return nil
}

// Links returns the connection's links, name to channel (with its options),
// as Emitter's emitter/me/ lists them. The map is the caller's.
func (c *Conn) Links() map[string]string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]string, len(c.links))
	for name, l := range c.links {
		out[name] = l.channel
	}
	return out
}

// HasLink reports whether the connection has a link called name.
func (c *Conn) HasLink(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.links[name]
	return ok
}

// PublishLink publishes payload through the link called name: to its
// channel, with the channel's options and the link's key, as Publish does
// (opts may add to them, such as WithQoS). It returns ErrNoLink for a name
// the connection has not linked.
func (c *Conn) PublishLink(ctx context.Context, name string, payload []byte, opts ...PublishOption) error {
	c.mu.Lock()
	l, ok := c.links[name]
	c.mu.Unlock()
	if !ok {
		return ErrNoLink
	}
	if l.key != "" {
		var buf [8]PublishOption
		opts = append(append(buf[:0], opts...), WithKey(l.key))
	}
	return c.Publish(ctx, l.channel, payload, opts...)
}
