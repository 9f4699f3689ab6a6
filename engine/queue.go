package engine

import (
	"context"
	"sync"
	"time"

	"github.com/heraldmq/herald/internal/backpressure"
)

// queue is a bounded multi-producer, single-consumer FIFO of messages.
//
// Producers append under a mutex; the consumer swaps the whole pending slice
// for its spare one, so a batch of any size costs one lock round trip and
// no allocation. The consumer is woken through a channel of capacity one, and
// only when it is known to be waiting.
type queue struct {
	mu      sync.Mutex
	items   []*Message
	size    int
	policy  Overflow
	waiting bool          // the consumer is blocked on wake
	wake    chan struct{} // consumer wake-up, capacity 1
	closed  bool
	gate    backpressure.Gate // the Block policy's wait for room
}

func newQueue(size int, policy Overflow) *queue {
	return &queue{
		items:  make([]*Message, 0, min(size, 64)),
		size:   size,
		policy: policy,
		wake:   make(chan struct{}, 1),
	}
}

// pushResult says what happened to a pushed message.
type pushResult uint8

const (
	pushed pushResult = iota
	droppedNew
	droppedOld
	pushClosed
	pushTimedOut // Block policy gave up; the subscription is now slow
)

// push appends m. Under the Block policy it waits for room at most timeout or
// until ctx is done (see backpressure.Gate).
func (q *queue) push(ctx context.Context, m *Message, timeout time.Duration) pushResult {
	q.mu.Lock()
	if !q.closed && len(q.items) >= q.size {
		switch {
		case q.policy == DropNewest:
			q.mu.Unlock()
			return droppedNew
		case q.policy == DropOldest:
			copy(q.items, q.items[1:])
			q.items[len(q.items)-1] = m
			q.mu.Unlock()
			return droppedOld
		case q.gate.Slow():
			q.mu.Unlock()
			return droppedNew
		case !q.gate.Wait(ctx, &q.mu, timeout, q.full):
			q.mu.Unlock()
			return pushTimedOut
		}
	}
	if q.closed {
		q.mu.Unlock()
		return pushClosed
	}
	q.items = append(q.items, m)
	wake := q.waiting
	q.waiting = false
	q.mu.Unlock()
	if wake {
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	return pushed
}

// full reports, with q.mu held, whether a producer must wait for room.
func (q *queue) full() bool { return !q.closed && len(q.items) >= q.size }

// pop waits until messages are queued (or the queue closes or ctx is done),
// then moves all of them into spare[:0] and returns it. A nil result with
// ok == false means the queue is closed and drained, or ctx is done.
func (q *queue) pop(ctx context.Context, spare []*Message) (batch []*Message, ok bool) {
	q.mu.Lock()
	for len(q.items) == 0 {
		if q.closed {
			q.mu.Unlock()
			return nil, false
		}
		q.waiting = true
		q.mu.Unlock()
		if done := ctx.Done(); done == nil {
			<-q.wake // a plain receive parks and wakes faster than a select
		} else {
			select {
			case <-q.wake:
			case <-done:
				q.mu.Lock()
				q.waiting = false
				q.mu.Unlock()
				return nil, false
			}
		}
		q.mu.Lock()
	}
	batch = q.items
	q.items = spare[:0]
	q.gate.Wake() // the consumer is back: publishers may wait for it again
	q.mu.Unlock()
	return batch, true
}

// close stops the queue: pending messages are discarded, producers get
// pushClosed, and a waiting consumer returns.
func (q *queue) close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return
	}
	q.closed = true
	clear(q.items)
	q.items = q.items[:0]
	q.gate.Wake()
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
