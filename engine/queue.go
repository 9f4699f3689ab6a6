package engine

import (
	"context"
	"sync"
	"time"
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
	slow    bool          // Block policy timed out: drop until the consumer pops
	room    chan struct{} // closed when room appears; nil unless a producer waits
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
// until ctx is done.
func (q *queue) push(ctx context.Context, m *Message, timeout time.Duration) pushResult {
	q.mu.Lock()
	for {
		if q.closed {
			q.mu.Unlock()
			return pushClosed
		}
		if len(q.items) < q.size {
			break
		}
		switch q.policy {
		case DropNewest:
			q.mu.Unlock()
			return droppedNew
		case DropOldest:
			copy(q.items, q.items[1:])
			q.items[len(q.items)-1] = m
			q.mu.Unlock()
			return droppedOld
		}
		if q.slow {
			q.mu.Unlock()
			return droppedNew
		}
		if !q.waitRoom(ctx, timeout) {
			q.slow = true
			q.mu.Unlock()
			return pushTimedOut
		}
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

// waitRoom is called with q.mu held and returns with it held. It reports
// whether room may have appeared (false: timeout or ctx done).
func (q *queue) waitRoom(ctx context.Context, timeout time.Duration) bool {
	if q.room == nil {
		q.room = make(chan struct{})
	}
	room := q.room
	q.mu.Unlock()
	t := time.NewTimer(timeout)
	defer t.Stop()
	ok := false
	select {
	case <-room:
		ok = true
	case <-t.C:
	case <-ctx.Done():
	}
	q.mu.Lock()
	return ok
}

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
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
	q.slow = false // the consumer is back: publishers may wait for it again
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
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}
