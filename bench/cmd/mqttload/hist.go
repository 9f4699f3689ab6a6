package main

import (
	"math"
	"math/bits"
)

// histogram is a log-linear latency histogram over nanoseconds: values below
// 2*subBuckets are counted exactly, larger ones in buckets whose width is
// 1/subBuckets of their magnitude (relative error under 0.8%). The maximum
// is exact. It is not safe for concurrent use: each reader goroutine owns one
// and they are merged once the run is over.
type histogram struct {
	counts []uint64
	n      uint64
	sum    float64
	max    int64
}

const (
	subBits    = 7
	subBuckets = 1 << subBits // values per power of two above 2*subBuckets
	// 64 exponents are far more than any latency needs; the slice is 8 KiB.
	histBuckets = (64 - subBits) * subBuckets
)

func newHistogram() *histogram { return &histogram{counts: make([]uint64, histBuckets)} }

// bucketOf maps v >= 0 to its bucket index.
func bucketOf(v int64) int {
	if v < 2*subBuckets {
		return int(v)
	}
	e := bits.Len64(uint64(v)) - subBits - 1 // v>>e is in [subBuckets, 2*subBuckets)
	return (e+1)*subBuckets + int(uint64(v)>>e) - subBuckets
}

// bucketRange returns the smallest and largest value that bucketOf maps to i.
func bucketRange(i int) (lo, hi int64) {
	if i < 2*subBuckets {
		return int64(i), int64(i)
	}
	e := i/subBuckets - 1
	m := int64(i%subBuckets + subBuckets)
	return m << e, (m+1)<<e - 1
}

func (h *histogram) record(v int64) {
	if v < 0 {
		v = 0 // clocks are monotonic, but be safe against a zero timestamp
	}
	h.counts[bucketOf(v)]++
	h.n++
	h.sum += float64(v)
	if v > h.max {
		h.max = v
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the value below or at which a fraction q of the samples
// lie: the midpoint of the bucket holding the ceil(q*n)-th smallest sample,
// capped at the exact maximum. It returns 0 for an empty histogram.
func (h *histogram) quantile(q float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			lo, hi := bucketRange(i)
			return min(lo+(hi-lo)/2, h.max)
		}
	}
	return h.max
}

func (h *histogram) mean() float64 {
	if h.n == 0 {
		return 0
	}
	return h.sum / float64(h.n)
}
