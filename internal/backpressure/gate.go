// Package backpressure holds Herald's one rule for a bounded queue whose
// producers may wait for its consumer: a producer that finds the queue full
// waits for room at most the slow timeout; if none appears, the consumer is
// marked slow and, from then on, what is pushed for it is dropped without
// waiting, until the consumer takes what is queued. A stalled consumer
// therefore costs each producer at most one timeout per slow episode.
//
// The engine's subscription queues (the Block policy) and the transport's
// per-client queues both use it, so that Options.SlowTimeout means the same
// in both.
package backpressure

import (
	"context"
	"sync"
	"time"
)

// Gate is the back-pressure state of one queue. The zero value is ready to
// use. A Gate is guarded by the mutex of the queue it belongs to: every
// method must be called with that mutex held.
type Gate struct {
	room chan struct{} // closed by Wake; nil unless a producer waits
	slow bool          // a wait timed out: drop without waiting until Wake
}

// Slow reports whether the consumer is marked slow: a wait timed out and
// the consumer has not taken the queue since.
func (g *Gate) Slow() bool { return g.slow }

// Wait is called by a producer, with mu held, when the queue may be full; it
// returns with mu held. It reports true as soon as full reports false (room,
// or whatever else the queue's owner counts as no reason to wait, such as a
// closed queue). It waits, with mu released, at most timeout in all, or
// until ctx is done: if the queue is still full then, the gate turns slow
// and Wait reports false. While the gate is slow, Wait reports false at
// once. full is called with mu held.
func (g *Gate) Wait(ctx context.Context, mu *sync.Mutex, timeout time.Duration, full func() bool) bool {
	if g.slow {
		return false
	}
	if !full() {
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		if g.room == nil {
			g.room = make(chan struct{})
		}
		room := g.room
		mu.Unlock()
		expired := false
		select {
		case <-room:
		case <-t.C:
			expired = true
		case <-ctx.Done():
			expired = true
		}
		mu.Lock()
		switch {
		case !full():
			return true
		case expired:
			g.slow = true
			return false
		case g.slow: // another producer's wait timed out meanwhile
			return false
		}
	}
}

// Wake wakes every waiting producer, to look at the queue again, and ends a
// slow episode. The consumer calls it when it takes items from the queue; the
// owner also calls it when the queue closes or loses its consumer.
func (g *Gate) Wake() {
	g.slow = false
	if g.room != nil {
		close(g.room)
		g.room = nil
	}
}
