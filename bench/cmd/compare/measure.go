package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

// config holds the knobs that -quick changes.
type config struct {
	rounds      int
	runTime     time.Duration // target duration of one measured run
	latencyTime time.Duration // duration of one closed-loop latency run
	matchSizes  []int         // random subscription set sizes
	churnSizes  []int         // existing subscriptions for subscribe/unsubscribe cost
	storeCount  int           // messages preloaded for history queries
}

// memSnap is a snapshot of the allocator counters.
type memSnap struct{ mallocs, bytes uint64 }

func readMem() memSnap {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memSnap{ms.Mallocs, ms.TotalAlloc}
}

func (a memSnap) sub(b memSnap) memSnap { return memSnap{a.mallocs - b.mallocs, a.bytes - b.bytes} }

// heapInUse returns the live heap after two collections.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// calibrator remembers, per measurement key, how many operations make a run
// of the target duration, so that later rounds skip calibration.
type calibrator struct {
	n map[string]int
	// gc collects garbage before each measured run. It is off for the
	// matching workload, whose lookups do not allocate (mochi's aside) and
	// whose heap holds millions of subscriptions, which a collection would
	// take long to scan.
	gc bool
}

func newCalibrator(gc bool) *calibrator { return &calibrator{n: map[string]int{}, gc: gc} }

// opResult is one measured run of a loop of operations.
type opResult struct {
	nsPerOp     float64
	allocsPerOp float64
	bytesPerOp  float64
	ops         int
}

// span is the duration and allocations of the timed part of a run.
type span struct {
	d time.Duration
	m memSnap
}

// timed runs f and returns its duration and allocations.
func timed(f func()) span {
	m0 := readMem()
	start := time.Now()
	f()
	d := time.Since(start)
	return span{d, readMem().sub(m0)}
}

// loop adapts a function performing n operations to ops.
func loop(f func(n int)) func(n int) span {
	return func(n int) span { return timed(func() { f(n) }) }
}

// ops runs fn(n) — which must perform n operations and return the span of
// the part to be timed — so that the measured call lasts about target, after
// a warm-up call, and returns the cost of one operation. Allocation counts
// include every goroutine of the process, which is idle apart from the code
// being measured.
func (c *calibrator) ops(key string, target time.Duration, fn func(n int) span) opResult {
	n, ok := c.n[key]
	if !ok {
		n = 1
		for {
			d := fn(n).d
			if d >= target/8 || n >= 1<<30 {
				n = scaleN(n, d, target)
				break
			}
			if d <= 0 {
				n *= 100
			} else {
				n = min(n*100, scaleN(n, d, target/4))
			}
		}
	} else {
		fn(max(n/10, 1)) // warm-up
	}
	if c.gc {
		runtime.GC()
	}
	sp := fn(n)
	d, m := sp.d, sp.m
	c.n[key] = scaleN(n, d, target)
	return opResult{
		nsPerOp:     float64(d.Nanoseconds()) / float64(n),
		allocsPerOp: float64(m.mallocs) / float64(n),
		bytesPerOp:  float64(m.bytes) / float64(n),
		ops:         n,
	}
}

// scaleN returns the operation count that would take target, given that n
// took d.
func scaleN(n int, d, target time.Duration) int {
	if d <= 0 {
		return n * 10
	}
	x := float64(n) * float64(target) / float64(d)
	return max(int(x), 1)
}

var started = time.Now()

// progress prints one line of progress to stderr, with the time elapsed
// since the start.
func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%5.1fs] "+format+"\n", append([]any{time.Since(started).Seconds()}, args...)...)
}
