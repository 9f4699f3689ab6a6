package engine

import (
	"context"

	"github.com/heraldmq/herald/security"
)

// This file is where message history attaches to the publish and subscribe
// paths (owned by the message-history work).

// persist stores m when it has a TTL or is retained.
func (e *Engine) persist(ctx context.Context, c *Conn, m *Message, co *callOptions) error {
	return nil
}

// replay delivers stored and retained messages to a new subscription.
func (e *Engine) replay(ctx context.Context, s *Subscription, ch *security.Channel, co *callOptions) error {
	return nil
}
