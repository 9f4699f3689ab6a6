package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldmq/herald/store"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		os.RemoveAll(benchDir)
	}
	os.Exit(code)
}

var benchDir string

func benchTemp(b *testing.B) string {
	if benchDir == "" {
		d, err := os.MkdirTemp("", "herald-store-bench-")
		if err != nil {
			b.Fatal(err)
		}
		benchDir = d
	}
	return benchDir
}

type benchStore struct {
	name string
	open func(b *testing.B, opts store.Options) store.Store
}

var benchFile atomic.Int64

var benchStores = []benchStore{
	{"memory", func(b *testing.B, opts store.Options) store.Store { return store.NewMemory(opts) }},
	{"bbolt", func(b *testing.B, opts store.Options) store.Store {
		path := filepath.Join(benchTemp(b), fmt.Sprintf("store-%d.db", benchFile.Add(1)))
		s, err := store.OpenBolt(path, opts)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { s.Close(); os.Remove(path) })
		return s
	}},
}

// BenchmarkStore measures one stored 256-byte message per op, from 1 or 64
// concurrent writers (each Store call waits for its commit).
func BenchmarkStore(b *testing.B) {
	payload := make([]byte, 256)
	for _, bs := range benchStores {
		for _, writers := range []int{1, 64} {
			for _, mode := range []string{"durable", "nosync"} {
				b.Run(fmt.Sprintf("%s/writers=%d/%s", bs.name, writers, mode), func(b *testing.B) {
					s := bs.open(b, store.Options{NoSync: mode == "nosync", SweepInterval: -1})
					b.ResetTimer() // opening (the log is zero-filled and synced) is not storing
					ctx := context.Background()
					var seq atomic.Int64
					start := time.Now().UnixNano()
					b.ReportAllocs()
					b.SetBytes(256)
					if writers == 1 {
						for b.Loop() {
							i := seq.Add(1)
							m := store.Message{ID: store.NewID(start+i, 1), Channel: benchChannel(i), Payload: payload}
							if err := s.Store(ctx, m); err != nil {
								b.Fatal(err)
							}
						}
						return
					}
					if bb, ok := s.(*store.Bolt); ok {
						defer func() {
							c, r := bb.CommitStats()
							b.ReportMetric(float64(r)/float64(max(c, 1)), "msgs/commit")
						}()
					}
					b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
					b.RunParallel(func(pb *testing.PB) {
						for pb.Next() {
							i := seq.Add(1)
							m := store.Message{ID: store.NewID(start+i, 1), Channel: benchChannel(i), Payload: payload}
							if err := s.Store(ctx, m); err != nil {
								b.Error(err)
								return
							}
						}
					})
				})
			}
		}
	}
}

var channelNames = func() []string {
	s := make([]string, 1000)
	for i := range s {
		s[i] = fmt.Sprintf("bench/ch%04d/", i)
	}
	return s
}()

func benchChannel(i int64) string { return channelNames[i%int64(len(channelNames))] }

const queryMessages = 1_000_000

var (
	queryOnce   sync.Map // name -> *queryFixture
	queryFixMux sync.Mutex
)

type queryFixture struct {
	s store.Store
}

// queryStore returns a store holding 1M 256-byte messages over 1k channels,
// built once per process (the bbolt file lives in a temp dir per process).
// "bbolt" is the store that wrote the file (its payload cache holds the
// newest 64 MiB), "bbolt-reopened" the same file reopened (OpenBolt fills the
// cache) and "bbolt-nocache" the file reopened without a cache, so that every
// payload is read from the file.
func queryStore(b *testing.B, name string) store.Store {
	queryFixMux.Lock()
	defer queryFixMux.Unlock()
	return queryStoreLocked(b, name)
}

func queryStoreLocked(b *testing.B, name string) store.Store {
	if f, ok := queryOnce.Load(name); ok {
		return f.(*queryFixture).s
	}
	path := filepath.Join(benchTemp(b), "query.db")
	var s store.Store
	switch name {
	case "memory":
		s = store.NewMemory(store.Options{SweepInterval: -1})
	case "bbolt-reopened", "bbolt-nocache":
		queryFileLocked(b)
		opts := store.Options{NoSync: true, SweepInterval: -1}
		if name == "bbolt-nocache" {
			opts.CacheBytes = -1
		}
		var err error
		s, err = store.OpenBolt(path, opts)
		if err != nil {
			b.Fatal(err)
		}
		queryOnce.Store(name, &queryFixture{s: s})
		return s
	default:
		if queryFileBuilt {
			b.Fatal("the bbolt query fixture was closed")
		}
		var err error
		s, err = store.OpenBolt(path, store.Options{NoSync: true, SweepInterval: -1})
		if err != nil {
			b.Fatal(err)
		}
	}
	payload := make([]byte, 256)
	batch := make([]store.Message, 0, 50_000)
	start := time.Now().Add(-time.Hour).UnixNano()
	for i := range int64(queryMessages) {
		batch = append(batch, store.Message{ID: store.NewID(start+i*1000, 7), Channel: benchChannel(i), Payload: payload})
		if len(batch) == cap(batch) {
			if err := s.Store(context.Background(), batch...); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	queryOnce.Store(name, &queryFixture{s: s})
	queryFileBuilt = queryFileBuilt || name == "bbolt"
	return s
}

// queryFileBuilt reports that the bbolt query fixture's file is written.
var queryFileBuilt bool

// queryFileLocked writes the bbolt query fixture's file if needed and closes
// every store that has it open (the caller holds queryFixMux).
func queryFileLocked(b *testing.B) {
	if !queryFileBuilt {
		queryStoreLocked(b, "bbolt")
	}
	for _, name := range []string{"bbolt", "bbolt-reopened", "bbolt-nocache"} {
		closeQueryStore(name)
	}
}

// closeQueryStore closes a query fixture (the caller holds queryFixMux).
func closeQueryStore(name string) {
	if f, ok := queryOnce.LoadAndDelete(name); ok {
		f.(*queryFixture).s.Close()
	}
}

// BenchmarkQuery measures one query for the last N messages of one channel
// in a store of 1M messages over 1k channels (Emitter mode, so the query is a
// prefix query that happens to match one channel).
func BenchmarkQuery(b *testing.B) {
	for _, name := range []string{"memory", "bbolt", "bbolt-reopened", "bbolt-nocache"} {
		for _, last := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/last=%d", name, last), func(b *testing.B) {
				s := queryStore(b, name)
				ctx := context.Background()
				b.ReportAllocs()
				i := int64(0)
				for b.Loop() {
					i++
					msgs, err := s.Query(ctx, store.Query{Filter: benchChannel(i * 7919), Last: last})
					if err != nil {
						b.Fatal(err)
					}
					if len(msgs) == 0 || (last < 200 && len(msgs) != last) {
						b.Fatalf("got %d messages", len(msgs))
					}
				}
			})
		}
		if name == "memory" {
			// Drop the 1M in-memory messages so that they do not weigh on
			// the garbage collector during the bbolt runs.
			runtime.GC()
			queryFixMux.Lock()
			closeQueryStore(name)
			queryFixMux.Unlock()
			runtime.GC()
		}
	}
}

// BenchmarkExpire measures the removal of one expired message (ns/op per
// removed message) by Sweep, messages spread over 1k channels.
func BenchmarkExpire(b *testing.B) {
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b, store.Options{NoSync: true, SweepInterval: -1})
			sw := s.(interface {
				Sweep(context.Context) (int, error)
			})
			payload := make([]byte, 256)
			now := time.Now().UnixNano()
			start := now - int64(time.Hour)
			batch := make([]store.Message, 0, 50_000)
			flush := func() {
				if err := s.Store(context.Background(), batch...); err != nil {
					b.Fatal(err)
				}
				batch = batch[:0]
			}
			for i := range int64(b.N) {
				// Expiry times spread over ten minutes ending two seconds ago
				// (expiry slots are about one second wide).
				exp := now - int64(10*time.Minute) + i*int64(10*time.Minute-2*time.Second)/int64(b.N)
				batch = append(batch, store.Message{ID: store.NewID(start+i, 3), Channel: benchChannel(i),
					Payload: payload, Expires: exp})
				if len(batch) == cap(batch) {
					flush()
				}
			}
			flush()
			b.ReportAllocs()
			b.ResetTimer()
			n, err := sw.Sweep(context.Background())
			b.StopTimer()
			if err != nil || n != b.N {
				b.Fatalf("swept %d of %d: %v", n, b.N, err)
			}
		})
	}
}

// BenchmarkOpen measures OpenBolt (and Close) of a file of 1M 256-byte
// messages over 1k channels: the index is rebuilt from the log. It reports
// the heap the open store holds as MB-heap.
func BenchmarkOpen(b *testing.B) {
	queryFixMux.Lock()
	queryFileLocked(b)
	queryFixMux.Unlock()
	path := filepath.Join(benchTemp(b), "query.db")
	opts := store.Options{SweepInterval: -1, NoSync: true}
	heap := func() int64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	s, err := store.OpenBolt(path, opts)
	if err != nil {
		b.Fatal(err)
	}
	if got, err := s.Query(context.Background(), store.Query{Filter: "#/", Limit: 10}); err != nil || len(got) != 10 {
		b.Fatalf("reopened store: %d messages, %v", len(got), err)
	}
	open := heap()
	s.Close()
	s = nil
	held := float64(open-heap()) / (1 << 20)
	b.ReportAllocs()
	for b.Loop() {
		s, err := store.OpenBolt(path, opts)
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
	b.ReportMetric(held, "MB-heap")
}

// BenchmarkQueryWildcard measures a query for the last 100 messages of
// `hist/+/`: 100 channels of 1,000 messages of 64 bytes each, written in
// turn (the newest messages of the channels are interleaved in time).
func BenchmarkQueryWildcard(b *testing.B) {
	for _, bs := range benchStores {
		b.Run(bs.name, func(b *testing.B) {
			s := bs.open(b, store.Options{SweepInterval: -1})
			ctx := context.Background()
			base := time.Now().UnixNano()
			exp := time.Now().Add(time.Hour).UnixNano()
			payload := make([]byte, 64)
			batch := make([]store.Message, 0, 1000)
			for i := range 100_000 {
				batch = append(batch, store.Message{ID: store.NewID(base+int64(i), 1), Channel: fmt.Sprintf("hist/ch%d/", i%100), Payload: payload, Expires: exp})
				if len(batch) == cap(batch) {
					if err := s.Store(ctx, batch...); err != nil {
						b.Fatal(err)
					}
					batch = batch[:0]
				}
			}
			b.ReportAllocs()
			for b.Loop() {
				msgs, err := s.Query(ctx, store.Query{Filter: "hist/+/", Last: 100})
				if err != nil {
					b.Fatal(err)
				}
				if len(msgs) != 100 {
					b.Fatalf("got %d messages", len(msgs))
				}
			}
		})
	}
}
