package storetest

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
)

func testExpiry(t *testing.T, newStore func(testing.TB) store.Store) {
	s, m := open(t, newStore), newModel()
	now := time.Now()
	var all []store.Message
	for i := range 30 {
		x := msg(int64(i), 0, fmt.Sprintf("x/%d/", i%3), fmt.Sprint(i))
		switch i % 3 {
		case 0:
			x.Expires = now.Add(-time.Minute).UnixNano() // already expired
		case 1:
			x.Expires = now.Add(time.Hour).UnixNano()
		}
		all = append(all, x)
	}
	mustStore(t, s, all...)
	m.store(all...)
	for _, q := range []store.Query{{Filter: "x/"}, {Filter: "x/", Last: 2}, {Filter: "x/0/", Last: 2}, {Filter: "x/", Limit: 2}} {
		got := check(t, s, m, q)
		for _, g := range got {
			if g.Expired(now.UnixNano()) {
				t.Fatalf("expired message returned: %s", describe(got))
			}
		}
	}
}

// sweeper is the optional method the suite uses to check expiry removal.
type sweeper interface {
	Sweep(ctx context.Context) (int, error)
}

func testExpirySweep(t *testing.T, newStore func(testing.TB) store.Store) {
	synctest.Test(t, func(t *testing.T) {
		s := newStore(t)
		defer s.Close()
		ctx := context.Background()
		now := time.Now()
		var all []store.Message
		for i := range 100 {
			x := store.Message{ID: store.NewID(now.UnixNano()+int64(i), 0), Channel: fmt.Sprintf("t/%d/", i%10), Payload: []byte("p")}
			x.Expires = now.Add(time.Duration(1+i%5) * time.Second).UnixNano()
			all = append(all, x)
		}
		keep := store.Message{ID: store.NewID(now.UnixNano()+1000, 0), Channel: "t/keep/", Payload: []byte("k")}
		rexp := store.Message{ID: store.NewID(now.UnixNano()+1001, 0), Channel: "t/ret/", Payload: []byte("r"),
			Retained: true, Expires: now.Add(3 * time.Second).UnixNano()}
		all = append(all, keep, rexp)
		mustStore(t, s, all...)
		count := func(d time.Duration) int {
			got, err := s.Query(ctx, store.Query{Filter: "t/"})
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, x := range all {
				if !x.Retained && !x.Expired(now.Add(d).UnixNano()) {
					want++
				}
			}
			if len(got) != want {
				t.Fatalf("after %v: %d messages, want %d", d, len(got), want)
			}
			return len(got)
		}
		if count(0) != 101 || len(retained(t, s, "t/", topic.Emitter)) != 1 {
			t.Fatal("nothing expired yet")
		}
		time.Sleep(2500 * time.Millisecond) // fake time: expired messages vanish from queries at once
		count(2500 * time.Millisecond)
		time.Sleep(1 * time.Second)
		if count(3500 * time.Millisecond); len(retained(t, s, "t/", topic.Emitter)) != 0 {
			t.Fatal("expired retained message returned")
		}
		sw, ok := s.(sweeper)
		if !ok {
			return
		}
		// Let the background sweeper run: everything expired by now is removed
		// (the slots of a durable store may lag by about a second).
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if n, err := sw.Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("Sweep after the background sweeper: removed %d, %v", n, err)
		}
		count(13500 * time.Millisecond)
		// Sweep removes what expires, and never a live message.
		late := store.Message{ID: store.NewID(time.Now().UnixNano(), 0), Channel: "t/late/", Payload: []byte("l"),
			Expires: time.Now().Add(time.Hour).UnixNano()}
		mustStore(t, s, late)
		if n, err := sw.Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("Sweep with nothing expired: %d, %v", n, err)
		}
		if got, _ := s.Query(ctx, store.Query{Filter: "t/"}); len(got) != 2 {
			t.Fatalf("after sweeps: %s", describe(got))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
