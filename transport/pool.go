package transport

import "sync"

// Buffers that a burst grows — a session's queue and in-flight list, a
// writer's batch and control bytes — stay with their session or connection
// only up to a small capacity. Larger ones go to these pools once drained,
// so that a connection idle after a burst keeps little
// (TestConnMemoryAfterBurst), and the sessions and writers that fill up
// next take them from there instead of reallocating through a chain of
// sizes (and the garbage collections that causes). Pooled slices have
// length 0 and hold no pointers (their items are cleared).
const (
	keptQueueCap    = 16  // queue entries (384 bytes)
	keptInflightCap = 16  // in-flight entries (640 bytes)
	keptBatchCap    = 16  // a writer's batch entries (640 bytes)
	keptCtrlCap     = 256 // bytes of control packets
)

var (
	queuePool    sync.Pool // *[]outMsg
	inflightPool sync.Pool // *[]inflight
	batchPool    sync.Pool // *[]inflight
	ctrlPool     sync.Pool // *[]byte
)

// grow returns b, full, with its items in a larger slice from pool when
// there is one, or b itself (append then grows it as usual). Only slices
// past half the kept capacity look in the pool.
func grow[T any](b []T, kept int, pool *sync.Pool) []T {
	if cap(b) < kept/2 {
		return b
	}
	p, ok := pool.Get().(*[]T)
	if !ok {
		return b
	}
	if cap(*p) <= cap(b) {
		pool.Put(p)
		return b
	}
	return append((*p)[:0], b...)
}

// reuse returns b emptied, or, when its owner gave it away (b is nil), one
// from pool if there is one.
func reuse[T any](b []T, pool *sync.Pool) []T {
	if b != nil {
		return b[:0]
	}
	if p, ok := pool.Get().(*[]T); ok {
		return (*p)[:0]
	}
	return nil
}

// release returns b emptied when it is small enough to keep, and otherwise
// gives it to pool and returns nil. b's items must be cleared already.
func release[T any](b []T, kept int, pool *sync.Pool) []T {
	b = b[:0]
	if cap(b) <= kept {
		return b
	}
	pool.Put(&b)
	return nil
}
