package engine

import (
	"context"
	"iter"
	"sync/atomic"
	"time"
)

// Subscription is one subscription of a Conn to a channel filter. End it with
// Unsubscribe (or Conn.Unsubscribe, Conn.Close, Engine.Close).
type Subscription struct {
	e       *Engine
	conn    *Conn
	channel string
	handler Handler
	inline  bool
	q       *queue // nil for inline subscriptions

	replay   atomic.Pointer[replayBuffer] // non-nil while stored messages are replayed
	ended    atomic.Bool
	dropped  atomic.Uint64
	lastWarn atomic.Int64
	done     chan struct{} // closed when the handler goroutine has returned

	// pull mode (nil handler): the batch being read by Next.
	pending []*Message
	pos     int
}

// Channel returns the subscribed channel filter, without options.
func (s *Subscription) Channel() string { return s.channel }

// Conn returns the connection that holds the subscription.
func (s *Subscription) Conn() *Conn { return s.conn }

// Dropped returns how many messages the subscription has lost to its
// overflow policy.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Unsubscribe ends the subscription. Messages still queued are discarded; a
// handler call already running finishes, and no other starts once it does.
// Unsubscribe does not wait for that: see Done. It is idempotent.
func (s *Subscription) Unsubscribe() error {
	s.end()
	return nil
}

// Done returns a channel that is closed once the subscription has ended and
// its handler will not be called again.
func (s *Subscription) Done() <-chan struct{} { return s.done }

func (s *Subscription) end() {
	if !s.ended.CompareAndSwap(false, true) {
		return
	}
	_, _ = s.e.subs.Remove(s.channel, s)
	if s.q != nil {
		s.q.close()
	}
	s.conn.forget(s)
}

// deliver hands m to the subscription. It runs on the publisher's goroutine.
func (s *Subscription) deliver(ctx context.Context, m *Message) {
	if r := s.replay.Load(); r != nil && r.hold(m) { // held until the replay ends
		return
	}
	s.deliverNow(ctx, m)
}

// deliverNow hands m to the subscription's handler or queue.
func (s *Subscription) deliverNow(ctx context.Context, m *Message) {
	if s.inline {
		if !s.ended.Load() {
			s.call(m)
		}
		return
	}
	switch s.q.push(ctx, m, s.e.opts.SlowTimeout) {
	case droppedNew, droppedOld, pushTimedOut:
		s.drop()
	}
}

// drop counts a lost message and logs it, at most once a second per
// subscription.
func (s *Subscription) drop() {
	n := s.dropped.Add(1)
	now := time.Now().UnixNano()
	last := s.lastWarn.Load()
	if now-last >= int64(time.Second) && s.lastWarn.CompareAndSwap(last, now) {
		s.e.log.Warn("engine: slow subscriber is losing messages",
			"conn", s.conn.id.id, "channel", s.channel, "dropped", n, "policy", s.q.policy.String())
	}
}

// call runs the handler, containing a panic.
func (s *Subscription) call(m *Message) {
	defer func() {
		if r := recover(); r != nil {
			s.e.log.Error("engine: subscription handler panicked",
				"conn", s.conn.id.id, "channel", s.channel, "panic", r)
		}
	}()
	s.handler(m)
}

// run is the handler goroutine of a queued subscription.
func (s *Subscription) run() {
	defer s.e.wg.Done()
	defer close(s.done)
	var spare []*Message
	for {
		batch, ok := s.q.pop(context.Background(), spare)
		if !ok {
			return
		}
		for i, m := range batch {
			if s.ended.Load() {
				break
			}
			s.call(m)
			batch[i] = nil
		}
		clear(batch)
		spare = batch[:0]
	}
}

// Next returns the next message of a subscription made with a nil handler,
// waiting for one until ctx is done. It returns ErrClosed once the
// subscription has ended. Next and Messages must not be called concurrently
// on one Subscription.
func (s *Subscription) Next(ctx context.Context) (*Message, error) {
	if s.q == nil || s.handler != nil {
		return nil, ErrInvalidOption
	}
	if s.pos < len(s.pending) {
		m := s.pending[s.pos]
		s.pending[s.pos] = nil
		s.pos++
		return m, nil
	}
	batch, ok := s.q.pop(ctx, s.pending[:0])
	if !ok {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, ErrClosed
	}
	m := batch[0]
	batch[0] = nil
	s.pending, s.pos = batch, 1
	return m, nil
}

// Messages returns an iterator over the messages of a subscription made with
// a nil handler. The iteration ends when the subscription ends or ctx is
// done:
//
//	for m := range sub.Messages(ctx) {
//		fmt.Println(m.Channel, m.String())
//	}
func (s *Subscription) Messages(ctx context.Context) iter.Seq[*Message] {
	return func(yield func(*Message) bool) {
		for {
			m, err := s.Next(ctx)
			if err != nil || !yield(m) {
				return
			}
		}
	}
}
