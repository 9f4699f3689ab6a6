package storetest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
)

func testConcurrent(t *testing.T, newStore func(testing.TB) store.Store) {
	s := open(t, newStore)
	ctx := context.Background()
	const writers, each = 16, 100
	var wg sync.WaitGroup
	errs := make(chan error, writers*2)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				x := msg(int64(i), uint64(w), fmt.Sprintf("cc/%d/", w%4), fmt.Sprint(w, i))
				if err := s.Store(ctx, x); err != nil {
					errs <- err
					return
				}
			}
		})
		wg.Go(func() { // readers run during the writes
			for range 20 {
				got, err := s.Query(ctx, store.Query{Filter: "cc/", Last: 50})
				if err != nil {
					errs <- err
					return
				}
				if !slices.IsSortedFunc(got, func(a, b store.Message) int { return a.ID.Compare(b.ID) }) {
					errs <- errors.New("results out of order")
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got, err := s.Query(ctx, store.Query{Filter: "cc/", Limit: writers * each, MaxBytes: 1 << 30})
	if err != nil || len(got) != min(writers*each, store.DefaultMaxResults) {
		t.Fatalf("after concurrent stores: %d messages, %v", len(got), err)
	}
	for w := range 4 {
		got, err := s.Query(ctx, store.Query{Filter: fmt.Sprintf("cc/%d/", w)})
		if err != nil || len(got) != writers/4*each {
			t.Fatalf("channel %d: %d messages, %v", w, len(got), err)
		}
	}
}

// testConcurrentDelete runs writers of history and retained messages that
// delete some of what they stored, while another goroutine sweeps (if the
// store can) and queries: every call returns, and each channel ends with
// exactly what its writer stored and did not delete.
func testConcurrentDelete(t *testing.T, newStore func(testing.TB) store.Store) {
	s := open(t, newStore)
	ctx := context.Background()
	const writers, each = 8, 120
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	want := make([][]store.ID, writers)
	for w := range writers {
		wg.Go(func() {
			ch := fmt.Sprintf("cd/%d/", w)
			var ids []store.ID
			for i := range each {
				m := msg(int64(i), uint64(w), ch, fmt.Sprint(w, i))
				if err := s.Store(ctx, m); err != nil {
					errs <- err
					return
				}
				ids = append(ids, m.ID)
				if i%10 == 0 { // a retained message goes to bbolt directly
					r := msg(int64(i), uint64(w), ch+"r/", "retained")
					r.Retained = true
					if err := s.Store(ctx, r); err != nil {
						errs <- err
						return
					}
				}
				if i%5 == 4 { // delete the message stored three before
					del := ids[len(ids)-4]
					if n, err := s.Delete(ctx, ch, del); err != nil || n != 1 {
						errs <- fmt.Errorf("Delete(%s, %v) = %d, %v", ch, del, n, err)
						return
					}
					ids = slices.Delete(ids, len(ids)-4, len(ids)-3)
				}
			}
			want[w] = ids
		})
	}
	stop := make(chan struct{})
	var side sync.WaitGroup
	side.Go(func() {
		sw, _ := s.(interface {
			Sweep(context.Context) (int, error)
		})
		for {
			select {
			case <-stop:
				return
			default:
			}
			if sw != nil {
				if _, err := sw.Sweep(ctx); err != nil {
					errs <- err
					return
				}
			}
			if _, err := s.Query(ctx, store.Query{Filter: "cd/", Last: 20}); err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(stop)
	side.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for w := range writers {
		got, err := s.Query(ctx, store.Query{Filter: fmt.Sprintf("cd/%d/", w), Limit: each, MaxBytes: 1 << 30})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]store.ID, len(got))
		for i, m := range got {
			ids[i] = m.ID
		}
		if !slices.Equal(ids, want[w]) {
			t.Fatalf("channel %d: %d messages, want %d\ngot  %v\nwant %v", w, len(ids), len(want[w]), ids, want[w])
		}
	}
}

// testCancel has writers whose contexts are cancelled while their Store
// calls wait: each call returns nil or the context's error, every message
// whose call returned nil is stored, and the store goes on working.
func testCancel(t *testing.T, newStore func(testing.TB) store.Store) {
	s := open(t, newStore)
	const writers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	stored := make([][]store.ID, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				ctx, cancel := context.WithCancel(context.Background())
				m := msg(int64(i), uint64(w), fmt.Sprintf("cx/%d/", w), "x")
				done := make(chan struct{})
				go func() {
					if (i+w)%3 == 0 {
						runtime.Gosched()
					}
					cancel()
					close(done)
				}()
				err := s.Store(ctx, m)
				<-done
				switch {
				case err == nil:
					stored[w] = append(stored[w], m.ID)
				case errors.Is(err, context.Canceled):
				default:
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	mustStore(t, s, msg(1000, 0, "cx/after/", "after"))
	ctx := context.Background()
	for w := range writers {
		got, err := s.Query(ctx, store.Query{Filter: fmt.Sprintf("cx/%d/", w), Limit: each})
		if err != nil {
			t.Fatal(err)
		}
		have := map[store.ID]bool{}
		for _, m := range got {
			have[m.ID] = true
		}
		for _, id := range stored[w] {
			if !have[id] {
				t.Fatalf("writer %d: message %v acknowledged but not stored", w, id)
			}
		}
	}
}

// goroutines returns the IDs of the live goroutines.
func goroutines() map[string]string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	out := map[string]string{}
	for _, g := range strings.Split(string(buf), "\n\n") {
		id, _, _ := strings.Cut(strings.TrimPrefix(g, "goroutine "), " ")
		out[id] = g
	}
	return out
}

func testClose(t *testing.T, newStore func(testing.TB) store.Store) {
	before := goroutines()
	s := newStore(t)
	ctx := context.Background()
	mustStore(t, s, msg(1, 0, "z/", "z"))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Store(ctx, msg(2, 0, "z/", "z")); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Store after Close: %v", err)
	}
	if _, err := s.Query(ctx, store.Query{Filter: "z/"}); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Query after Close: %v", err)
	}
	if err := s.Retained(ctx, "z/", topic.Emitter, func(store.Message) error { return nil }); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Retained after Close: %v", err)
	}
	if _, err := s.Delete(ctx, "z/"); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Delete after Close: %v", err)
	}
	// Close waited for its goroutines; allow them to finish returning.
	deadline := time.Now().Add(5 * time.Second)
	for {
		var leaked []string
		for id, g := range goroutines() {
			if _, ok := before[id]; !ok && !strings.Contains(g, "storetest.goroutines") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines left after Close:\n%s", strings.Join(leaked, "\n\n"))
		}
		runtime.Gosched()
	}
}
