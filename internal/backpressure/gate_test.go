package backpressure_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald/internal/backpressure"
)

// box is a bounded queue of n items guarded by mu, as the gate's users keep
// one.
type box struct {
	mu     sync.Mutex
	gate   backpressure.Gate
	n, max int
	closed bool
}

func (b *box) full() bool { return !b.closed && b.n >= b.max }

// push waits for room as the engine and the transport do and reports
// whether the item went in.
func (b *box) push(ctx context.Context, timeout time.Duration) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.gate.Wait(ctx, &b.mu, timeout, b.full) || b.closed {
		return false
	}
	b.n++
	return true
}

// take empties the queue, as a consumer does.
func (b *box) take() {
	b.mu.Lock()
	b.n = 0
	b.gate.Wake()
	b.mu.Unlock()
}

func TestRoomWithoutWaiting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &box{max: 2}
		t0 := time.Now()
		for i := range 2 {
			if !b.push(context.Background(), time.Second) {
				t.Fatalf("push %d into a queue with room failed", i)
			}
		}
		if d := time.Since(t0); d != 0 {
			t.Fatalf("waited %v with room", d)
		}
	})
}

func TestTimeoutThenSlowThenWake(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := &box{max: 1, n: 1}
		t0 := time.Now()
		if b.push(ctx, time.Second) {
			t.Fatal("push into a full queue succeeded")
		}
		if d := time.Since(t0); d != time.Second {
			t.Fatalf("waited %v, want the timeout", d)
		}
		if !b.gate.Slow() {
			t.Fatal("not slow after a timed-out wait")
		}
		// Slow: the next push is dropped without waiting.
		t0 = time.Now()
		if b.push(ctx, time.Second) {
			t.Fatal("push while slow succeeded")
		}
		if d := time.Since(t0); d != 0 {
			t.Fatalf("waited %v while slow", d)
		}
		// The consumer takes the queue: producers wait for it again.
		b.take()
		if b.gate.Slow() {
			t.Fatal("still slow after Wake")
		}
		if !b.push(ctx, time.Second) {
			t.Fatal("push after Wake failed")
		}
	})
}

func TestWaitEndsWhenConsumerTakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &box{max: 1, n: 1}
		go func() {
			time.Sleep(300 * time.Millisecond)
			b.take()
		}()
		t0 := time.Now()
		if !b.push(context.Background(), time.Second) {
			t.Fatal("push failed although the consumer made room")
		}
		if d := time.Since(t0); d != 300*time.Millisecond {
			t.Fatalf("waited %v, want until the consumer took", d)
		}
	})
}

// TestTimeoutBoundsWholeWait has a second producer take the room the first
// was woken for: the first keeps waiting, but no longer than one timeout
// from its start.
func TestTimeoutBoundsWholeWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		b := &box{max: 1, n: 1}
		done := make(chan time.Duration)
		go func() {
			t0 := time.Now()
			if b.push(ctx, time.Second) {
				t.Error("first producer got room")
			}
			done <- time.Since(t0)
		}()
		time.Sleep(400 * time.Millisecond)
		synctest.Wait()
		b.mu.Lock()
		b.n = 0
		b.n++ // the second producer is first to the room
		b.gate.Wake()
		b.mu.Unlock()
		if d := <-done; d != time.Second {
			t.Fatalf("waited %v in all, want the timeout", d)
		}
	})
}

func TestContextEndsWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &box{max: 1, n: 1}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		t0 := time.Now()
		if b.push(ctx, time.Second) {
			t.Fatal("push succeeded")
		}
		if d := time.Since(t0); d != 10*time.Millisecond {
			t.Fatalf("waited %v, want until ctx was done", d)
		}
	})
}

func TestCloseWakesProducers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := &box{max: 1, n: 1}
		go func() {
			time.Sleep(time.Millisecond)
			b.mu.Lock()
			b.closed = true
			b.gate.Wake()
			b.mu.Unlock()
		}()
		t0 := time.Now()
		if b.push(context.Background(), time.Second) {
			t.Fatal("push into a closed queue succeeded")
		}
		if d := time.Since(t0); d != time.Millisecond {
			t.Fatalf("waited %v, want until the close", d)
		}
	})
}
