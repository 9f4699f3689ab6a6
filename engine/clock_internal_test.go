package engine

import (
	"bytes"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWallClockReal compares a wallClock with time.Now, read on either side of
// it, across several resync intervals.
func TestWallClockReal(t *testing.T) {
	var c wallClock
	c.init()
	const slack = int64(time.Millisecond) // gradual clock adjustments over 10 ms are microseconds
	for start := time.Now(); time.Since(start) < 5*wallResync; {
		before := time.Now().UnixNano()
		v := c.now()
		after := time.Now().UnixNano()
		require.GreaterOrEqual(t, v, before-slack)
		require.LessOrEqual(t, v, after+slack)
	}
}

// TestWallClockResync makes the wall clock step (by moving the wallClock's
// idea of it an hour back) and checks that the step is followed within
// wallResync.
func TestWallClockResync(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c wallClock
		c.init()
		require.Equal(t, time.Now().UnixNano(), c.now())
		time.Sleep(wallResync / 2)
		require.Equal(t, time.Now().UnixNano(), c.now())

		c.offset.Add(-int64(time.Hour))
		require.Equal(t, time.Now().UnixNano()-int64(time.Hour), c.now(), "between resyncs the monotonic clock is trusted")
		time.Sleep(wallResync)
		require.Equal(t, time.Now().UnixNano(), c.now())
		time.Sleep(wallResync / 3)
		require.Equal(t, time.Now().UnixNano(), c.now())
	})
}

// TestIDTime checks that message IDs carry the wall time of their publish
// with the default clock, and strictly increase.
func TestIDTime(t *testing.T) {
	g := newIDGen(nil)
	var last ID
	for range 10000 {
		before := time.Now()
		id := g.next()
		after := time.Now()
		require.False(t, id.Time().Before(before.Add(-time.Millisecond)), "%v before %v", id.Time(), before)
		require.False(t, id.Time().After(after.Add(time.Millisecond)), "%v after %v", id.Time(), after)
		require.Positive(t, bytes.Compare(id[:], last[:]))
		last = id
	}
}
