package engine

import (
	"context"

	"github.com/heraldmq/herald/security"
)

// This file holds the points where channel keys (authorize) and message
// history (persist, replay) attach to the publish and subscribe paths.

// operation is what a connection asks to do with a channel.
type operation uint8

const (
	opPublish operation = iota + 1
	opSubscribe
	opUnsubscribe
)

// authorize checks that c may perform op on ch, with the key in co.
func (e *Engine) authorize(c *Conn, op operation, ch *security.Channel, co *callOptions) error {
	return nil
}

// persist stores m when it has a TTL or is retained.
func (e *Engine) persist(ctx context.Context, c *Conn, m *Message, co *callOptions) error {
	return nil
}

// replay delivers stored and retained messages to a new subscription.
func (e *Engine) replay(ctx context.Context, s *Subscription, ch *security.Channel, co *callOptions) error {
	return nil
}
