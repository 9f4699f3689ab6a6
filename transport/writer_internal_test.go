package transport

import (
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPublisherReservations has handlers on other goroutines reserve inline
// writes on an open publisher while its own goroutine does too, as the
// engine's replay of held messages may, and checks that every reservation
// reported is kept, none is lost to the close, and none is taken after it.
// (A reservation that finds another in progress is refused: the subscriber
// then gets a writer goroutine.)
func TestPublisherReservations(t *testing.T) {
	sess := &session{}
	c := &conn{sess: sess}
	var p publisher
	p.state.Store(pubOpen)
	p.sess = sess
	for range 3 {
		require.True(t, p.reserve(&outbox{}, c), "alone, a reservation always succeeds")
	}
	require.True(t, p.close())
	require.Len(t, p.pending, 3)
	p.pending = p.pending[:0]
	for round := range 200 {
		// As begin does, for a publish that ends its client's burst.
		p.state.Store(pubOpen)
		require.True(t, sess.publishing.CompareAndSwap(nil, &p))
		p.sess = sess
		var wg sync.WaitGroup
		var mu sync.Mutex
		reserved := 0
		for range 4 {
			wg.Go(func() {
				for range 50 {
					if sess.publishing.Load().reserve(&outbox{}, c) {
						mu.Lock()
						reserved++
						mu.Unlock()
					}
				}
			})
		}
		own := 0
		for range 20 {
			if p.reserve(&outbox{}, c) {
				own++
			}
		}
		require.True(t, p.close())
		wg.Wait()
		require.Nil(t, sess.publishing.Load())
		require.False(t, p.reserve(&outbox{}, c), "round %d: reserved on a closed publisher", round)
		require.Len(t, p.pending, reserved+own, "round %d", round)
		require.False(t, p.close())
		clear(p.pending)
		p.pending = p.pending[:0]
	}
}
