package engine_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald/engine"
)

// benchSubscribers subscribes n handlers to channel; the returned wait
// function blocks until every handler has received total messages.
func benchSubscribers(b *testing.B, c *engine.Conn, channel string, n int) (wait func(total int64)) {
	b.Helper()
	counts := make([]atomic.Int64, n)
	for i := range n {
		if _, err := c.Subscribe(context.Background(), channel, func(*engine.Message) { counts[i].Add(1) }); err != nil {
			b.Fatal(err)
		}
	}
	return func(total int64) {
		for i := range counts {
			for counts[i].Load() < total {
				time.Sleep(50 * time.Microsecond) // benchmark only: poll for the tail of the run
			}
		}
	}
}

// benchEngine returns an engine (closed with the benchmark), a trusted
// connection, and the wait function of subs subscribers on "bench/room/".
func benchEngine(b *testing.B, subs int) (*engine.Engine, *engine.Conn, func(total int64)) {
	b.Helper()
	e, err := engine.New(engine.Options{SlowTimeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = e.Close() })
	c, err := e.Connect(engine.ConnOptions{Trusted: true})
	if err != nil {
		b.Fatal(err)
	}
	return e, c, benchSubscribers(b, c, "bench/room/", subs)
}

// BenchmarkPublish measures one publisher delivering to in-process
// subscribers, end to end: the timer stops when every subscriber has
// received every message. ns/op is per published message.
func BenchmarkPublish(b *testing.B) {
	for _, subs := range []int{1, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			_, c, wait := benchEngine(b, subs)
			payload := make([]byte, 64)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := c.Publish(ctx, "bench/room/", payload); err != nil {
					b.Fatal(err)
				}
			}
			wait(int64(b.N))
			b.StopTimer()
			b.ReportMetric(float64(b.N*subs)/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkPublishParallel is BenchmarkPublish with concurrent publishers
// (GOMAXPROCS of them), each on its own connection.
func BenchmarkPublishParallel(b *testing.B) {
	for _, subs := range []int{1, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			e, _, wait := benchEngine(b, subs)
			payload := make([]byte, 64)
			var published atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c, _ := e.Connect(engine.ConnOptions{Trusted: true})
				ctx := context.Background()
				n := int64(0)
				for pb.Next() {
					if err := c.Publish(ctx, "bench/room/", payload); err != nil {
						b.Error(err)
						return
					}
					n++
				}
				published.Add(n)
			})
			wait(published.Load())
			b.StopTimer()
			b.ReportMetric(float64(published.Load()*int64(subs))/b.Elapsed().Seconds(), "deliveries/s")
		})
	}
}

// BenchmarkPublishInline is the floor: an Inline handler runs on the
// publisher's goroutine, with no queue.
func BenchmarkPublishInline(b *testing.B) {
	for _, subs := range []int{1, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			e, _ := engine.New(engine.Options{})
			defer e.Close()
			c, _ := e.Connect(engine.ConnOptions{Trusted: true})
			var n atomic.Int64
			for range subs {
				_, _ = c.Subscribe(context.Background(), "bench/room/", func(*engine.Message) { n.Add(1) }, engine.Inline())
			}
			payload := make([]byte, 64)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_ = c.Publish(ctx, "bench/room/", payload)
			}
		})
	}
}

// BenchmarkPublishPayload compares copying the payload (the default) with
// NoCopy for one subscriber, end to end.
func BenchmarkPublishPayload(b *testing.B) {
	for _, size := range []int{64, 1024, 16384} {
		for _, mode := range []string{"copy", "nocopy"} {
			b.Run(fmt.Sprintf("%s/size=%d", mode, size), func(b *testing.B) {
				_, c, wait := benchEngine(b, 1)
				payload := make([]byte, size)
				var opts []engine.PublishOption
				if mode == "nocopy" {
					opts = append(opts, engine.NoCopy())
				}
				ctx := context.Background()
				b.SetBytes(int64(size))
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if err := c.Publish(ctx, "bench/room/", payload, opts...); err != nil {
						b.Fatal(err)
					}
				}
				wait(int64(b.N))
			})
		}
	}
}

// BenchmarkLatency is closed-loop: one message in flight, timed from Publish
// until the last of the subscribers' handlers has run. ns/op is that latency.
func BenchmarkLatency(b *testing.B) {
	for _, subs := range []int{1, 100} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			e, _ := engine.New(engine.Options{})
			defer e.Close()
			c, _ := e.Connect(engine.ConnOptions{Trusted: true})
			var left atomic.Int64
			done := make(chan struct{}, 1)
			for range subs {
				_, _ = c.Subscribe(context.Background(), "lat/", func(*engine.Message) {
					if left.Add(-1) == 0 {
						done <- struct{}{}
					}
				})
			}
			payload := make([]byte, 64)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				left.Store(int64(subs))
				_ = c.Publish(ctx, "lat/", payload)
				<-done
			}
		})
	}
}

// BenchmarkRetention measures the memory a handler holds on to by keeping
// one message in every keep (64-byte and 1 KiB payloads, copied): the live
// heap after the run divided by the messages kept. Messages are carved from shared
// blocks, so keeping a few of many holds more than the kept messages.
func BenchmarkRetention(b *testing.B) {
	for _, size := range []int{64, 1024} {
		for _, keep := range []int{1, 8, 64, 1024} {
			b.Run(fmt.Sprintf("size=%d/keep=1of%d", size, keep), func(b *testing.B) {
				e, _ := engine.New(engine.Options{})
				defer e.Close()
				c, _ := e.Connect(engine.ConnOptions{Trusted: true})
				kept := make([]*engine.Message, 0, b.N/keep+1)
				n := 0
				_, _ = c.Subscribe(context.Background(), "r/", func(m *engine.Message) {
					if n%keep == 0 {
						kept = append(kept, m)
					}
					n++
				}, engine.Inline())
				payload := make([]byte, size)
				ctx := context.Background()
				var m0, m1 runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&m0)
				b.ReportAllocs()
				for b.Loop() {
					_ = c.Publish(ctx, "r/", payload)
				}
				b.StopTimer()
				runtime.GC()
				runtime.ReadMemStats(&m1)
				b.ReportMetric(float64(int64(m1.HeapAlloc)-int64(m0.HeapAlloc))/float64(len(kept)), "live-B/kept")
				runtime.KeepAlive(kept)
			})
		}
	}
}

// BenchmarkPublishPlain is a publish as the MQTT transport makes it: a plain
// topic, the QoS option and an inline subscriber, so that the cost of
// checking the topic and reading the options shows.
func BenchmarkPublishPlain(b *testing.B) {
	e, err := engine.New(engine.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	c, _ := e.Connect(engine.ConnOptions{Trusted: true})
	got := 0
	if _, err := c.Subscribe(context.Background(), "a/b/c/", func(*engine.Message) { got++ }, engine.Inline(), engine.PlainTopic()); err != nil {
		b.Fatal(err)
	}
	payload := make([]byte, 64)
	ctx := context.Background()
	kind := engine.PlainTopic()
	b.ReportAllocs()
	for b.Loop() {
		var optBuf [4]engine.PublishOption
		opts := append(optBuf[:0], kind, engine.WithQoS(1))
		if err := c.Publish(ctx, "a/b/c/", payload, opts...); err != nil {
			b.Fatal(err)
		}
	}
	if got != b.N {
		b.Fatalf("delivered %d of %d", got, b.N)
	}
}
