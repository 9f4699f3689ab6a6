package storetest

import (
	"context"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
)

func testRandom(t *testing.T, newStore func(testing.TB) store.Store) {
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("HERALD_STORETEST_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (set HERALD_STORETEST_SEED to repeat)", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	s, m := open(t, newStore), newModel()
	ctx := context.Background()
	words := []string{"a", "b", "c", "", "$s"}
	randChannel := func(wild bool) string {
		var sb strings.Builder
		n := 1 + rng.IntN(3)
		for i := range n {
			switch w := rng.IntN(10); {
			case wild && w == 0:
				sb.WriteString("+")
			case wild && w == 1 && i == n-1:
				sb.WriteString("#")
			default:
				sb.WriteString(words[rng.IntN(len(words))])
			}
			sb.WriteByte('/')
		}
		return sb.String()
	}
	now := time.Now().UnixNano()
	var ids []store.ID
	for range 400 {
		switch op := rng.IntN(10); {
		case op < 5:
			var batch []store.Message
			for range 1 + rng.IntN(5) {
				x := store.Message{ID: store.NewID(base+rng.Int64N(50), rng.Uint64N(3)), Channel: randChannel(false),
					Payload: make([]byte, rng.IntN(3000))}
				if rng.IntN(4) == 0 && len(ids) > 0 {
					x.ID = ids[rng.IntN(len(ids))]
				}
				switch rng.IntN(4) {
				case 0:
					x.Expires = now - int64(time.Minute)
				case 1:
					x.Expires = now + int64(time.Hour)
				}
				x.Retained = rng.IntN(5) == 0
				ids = append(ids, x.ID)
				batch = append(batch, x)
			}
			mustStore(t, s, batch...)
			m.store(batch...)
		case op < 6:
			ch := randChannel(false)
			var del []store.ID
			for range rng.IntN(3) {
				if len(ids) > 0 {
					del = append(del, ids[rng.IntN(len(ids))])
				}
			}
			n, err := s.Delete(ctx, ch, del...)
			// Expired messages may have been swept already.
			if want, expired := m.deleteAt(ch, time.Now().UnixNano(), del...); err != nil || n > want || n < want-expired {
				t.Fatalf("Delete(%q, %v) = %d, %v; want %d (%d of them expired)", ch, del, n, err, want, expired)
			}
		default:
			q := store.Query{Filter: randChannel(true), Matching: topic.Mode(rng.IntN(2))}
			switch rng.IntN(3) {
			case 0:
				q.Last = 1 + rng.IntN(30)
			case 1:
				q.Limit = 1 + rng.IntN(30)
			}
			if rng.IntN(3) == 0 {
				q.From = time.Unix(0, base+rng.Int64N(50))
			}
			if rng.IntN(3) == 0 {
				q.Until = q.From.Add(time.Duration(rng.Int64N(50)))
			}
			if rng.IntN(4) == 0 && len(ids) > 0 {
				q.After = ids[rng.IntN(len(ids))]
			}
			if rng.IntN(4) == 0 && len(ids) > 0 {
				q.Before = ids[rng.IntN(len(ids))]
			}
			if rng.IntN(3) == 0 {
				q.MaxBytes = rng.IntN(20000)
			}
			check(t, s, m, q)
			got, want := retained(t, s, q.Filter, q.Matching), m.retainedMatching(q.Filter, q.Matching, time.Now().UnixNano())
			if !equal(got, want) {
				t.Fatalf("Retained(%q, %v):\ngot%s\nwant%s", q.Filter, q.Matching, describe(got), describe(want))
			}
		}
	}
}
