package engine

import "github.com/heraldmq/herald/security"

// This file is where channel keys attach to the publish, subscribe and
// unsubscribe paths (owned by the channel-keys work).

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
