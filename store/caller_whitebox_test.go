package store

import (
	"testing"
	"time"
)

// BenchmarkStoreCallerWork measures what Bolt.Store does on the calling
// goroutine besides waiting for its commit: validation, taking a pooled
// request and copying the message into it (256-byte payload).
func BenchmarkStoreCallerWork(b *testing.B) {
	o := Options{}.withDefaults()
	bs := &Bolt{opts: o}
	bs.pool.New = func() any { return new(request) }
	msgs := []Message{{ID: NewID(time.Now().UnixNano(), 1), Channel: "bench/ch0001/", Payload: make([]byte, 256)}}
	b.ReportAllocs()
	for b.Loop() {
		for i := range msgs {
			if err := bs.opts.validate(&msgs[i]); err != nil {
				b.Fatal(err)
			}
		}
		r := bs.pool.Get().(*request)
		r.encode(msgs)
		bs.mu.Lock()
		bs.queue = append(bs.queue[:0], r)
		bs.mu.Unlock()
		bs.pool.Put(r)
	}
}
