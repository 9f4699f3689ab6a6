package storetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
)

func testRetained(t *testing.T, newStore func(testing.TB) store.Store) {
	s, m := open(t, newStore), newModel()
	ret := func(tm int64, ch, payload string) store.Message {
		x := msg(tm, 0, ch, payload)
		x.Retained = true
		return x
	}
	steps := [][]store.Message{
		{ret(1, "r/a/", "a1"), ret(1, "r/b/", "b1"), ret(1, "r/b/c/", "c1"), ret(1, "$r/", "d1")},
		{ret(2, "r/a/", "a2")},                         // replaces
		{ret(1, "r/b/", "b-old")},                      // an older one does not replace (same ID: replaces)
		{ret(0, "r/b/", "b-older")},                    // older: ignored
		{ret(3, "r/b/c/", "")},                         // cleared
		{ret(2, "r/b/c/", "c-late")},                   // older than the clear: still cleared? no: slot empty, so set
		{msg(5, 0, "r/a/", "history")},                 // history is separate
		{ret(9, "r/x/", "x"), ret(10, "r/x/", "x2")},   // same batch: the newer wins
		{ret(12, "r/y/", "y2"), ret(11, "r/y/", "y1")}, // same batch, reversed
	}
	for _, st := range steps {
		mustStore(t, s, st...)
		m.store(st...)
	}
	// An expired retained message is never returned.
	exp := ret(20, "r/e/", "expired")
	exp.Expires = time.Now().Add(-time.Second).UnixNano()
	live := ret(20, "r/l/", "live")
	live.Expires = time.Now().Add(time.Hour).UnixNano()
	mustStore(t, s, exp, live)
	m.store(exp, live)
	now := time.Now().UnixNano()
	for _, f := range []string{"r/", "r/+/", "#/", "+/", "r/b/", "r/#/", "r/b/c/", "$r/", "none/"} {
		for _, mode := range []topic.Mode{topic.Emitter, topic.MQTT} {
			got, want := retained(t, s, f, mode), m.retainedMatching(f, mode, now)
			if !equal(got, want) {
				t.Fatalf("Retained(%q, %v):\ngot%s\nwant%s", f, mode, describe(got), describe(want))
			}
		}
	}
	if got := retained(t, s, "r/a/", topic.MQTT); len(got) != 1 || string(got[0].Payload) != "a2" {
		t.Fatalf("replaced retained: %s", describe(got))
	}
	// History queries never return retained messages.
	check(t, s, m, store.Query{Filter: "r/"})
	// fn's error stops the iteration.
	stop := errors.New("stop")
	calls := 0
	err := s.Retained(context.Background(), "#/", topic.Emitter, func(store.Message) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("Retained with failing fn: %v after %d calls", err, calls)
	}
	// Many retained messages (more than one internal chunk), and fn may call the store.
	var many []store.Message
	for i := range 700 {
		many = append(many, ret(int64(100+i), fmt.Sprintf("many/%04d/", i), "m"))
	}
	mustStore(t, s, many...)
	m.store(many...)
	var got []store.Message
	err = s.Retained(context.Background(), "many/", topic.Emitter, func(x store.Message) error {
		got = append(got, x)
		_, err := s.Query(context.Background(), store.Query{Filter: x.Channel, Last: 1})
		return err
	})
	if err != nil || !equal(got, m.retainedMatching("many/", topic.Emitter, now)) {
		t.Fatalf("700 retained: %v, got %d", err, len(got))
	}
}

func testDelete(t *testing.T, newStore func(testing.TB) store.Store) {
	s, m := open(t, newStore), newModel()
	ctx := context.Background()
	var all []store.Message
	for i := range 60 {
		all = append(all, msg(int64(i), 0, []string{"d/a/", "d/a/b/", "d/c/"}[i%3], fmt.Sprint(i)))
	}
	r := msg(100, 0, "d/a/", "retained")
	r.Retained = true
	all = append(all, r)
	mustStore(t, s, all...)
	m.store(all...)
	for _, c := range []struct {
		ch  string
		ids []store.ID
	}{
		{"d/a/b/", []store.ID{all[1].ID, all[4].ID, all[0].ID, store.NewID(1, 1)}}, // all[0] is in d/a/
		{"d/c/", nil},
		{"d/c/", nil},
		{"d/a/", []store.ID{r.ID}},
		{"d/a/", nil},
		{"nothing/", nil},
	} {
		n, err := s.Delete(ctx, c.ch, c.ids...)
		if want := m.delete(c.ch, c.ids...); err != nil || n != want {
			t.Fatalf("Delete(%q, %d ids) = %d, %v; want %d", c.ch, len(c.ids), n, err, want)
		}
		check(t, s, m, store.Query{Filter: "d/"})
		if got, want := retained(t, s, "d/", topic.Emitter), m.retainedMatching("d/", 0, 0); !equal(got, want) {
			t.Fatalf("retained after delete: %s", describe(got))
		}
	}
	// A deleted channel can be written again.
	again := msg(200, 0, "d/c/", "again")
	mustStore(t, s, again)
	m.store(again)
	check(t, s, m, store.Query{Filter: "d/"})
}

func testErrors(t *testing.T, newStore func(testing.TB) store.Store) {
	s := open(t, newStore)
	ctx := context.Background()
	good := msg(1, 0, "e/", "ok")
	for _, c := range []struct {
		name string
		m    store.Message
		want error
	}{
		{"empty channel", msg(1, 0, "", "x"), topic.ErrInvalid},
		{"no trailing slash", msg(1, 0, "a/b", "x"), topic.ErrInvalid},
		{"wildcard +", msg(1, 0, "a/+/", "x"), topic.ErrInvalid},
		{"wildcard #", msg(1, 0, "a/#/", "x"), topic.ErrInvalid},
		{"NUL", msg(1, 0, "a\x00b/", "x"), topic.ErrInvalid},
		{"long channel", msg(1, 0, strings.Repeat("a", topic.MaxLen)+"/", "x"), topic.ErrInvalid},
		{"too large", store.Message{ID: good.ID, Channel: "e/", Payload: make([]byte, store.DefaultMaxMessageSize+1)},
			store.ErrTooLarge},
		{"negative expiry", store.Message{ID: good.ID, Channel: "e/", Expires: -1}, store.ErrInvalidExpiry},
	} {
		// The bad message is in the middle of a batch: nothing is stored.
		err := s.Store(ctx, good, c.m, msg(2, 0, "e/", "ok2"))
		if !errors.Is(err, c.want) {
			t.Errorf("%s: Store = %v, want %v", c.name, err, c.want)
		}
	}
	var se *store.SizeError
	if err := s.Store(ctx, store.Message{Channel: "e/", Payload: make([]byte, store.DefaultMaxMessageSize+1)}); !errors.As(err, &se) ||
		se.Max != store.DefaultMaxMessageSize {
		t.Errorf("SizeError: %v", err)
	}
	var ce *topic.Error
	if err := s.Store(ctx, msg(1, 0, "x", "")); !errors.As(err, &ce) {
		t.Errorf("topic.Error: %v", err)
	}
	if got, err := s.Query(ctx, store.Query{Filter: "#/"}); err != nil || len(got) != 0 {
		t.Fatalf("a failed batch stored %d messages (%v)", len(got), err)
	}
	// A message of exactly the maximum size is fine.
	mustStore(t, s, store.Message{ID: good.ID, Channel: "e/", Payload: make([]byte, store.DefaultMaxMessageSize)})
	now := time.Now()
	for _, c := range []struct {
		name string
		q    store.Query
		want error
	}{
		{"empty filter", store.Query{}, topic.ErrInvalid},
		{"bad filter", store.Query{Filter: "a/#/b/"}, topic.ErrInvalid},
		{"no slash", store.Query{Filter: "a"}, topic.ErrInvalid},
		{"negative last", store.Query{Filter: "a/", Last: -1}, store.ErrInvalidQuery},
		{"negative limit", store.Query{Filter: "a/", Limit: -1}, store.ErrInvalidQuery},
		{"negative bytes", store.Query{Filter: "a/", MaxBytes: -1}, store.ErrInvalidQuery},
		{"last and limit", store.Query{Filter: "a/", Last: 1, Limit: 1}, store.ErrInvalidQuery},
		{"until before from", store.Query{Filter: "a/", From: now, Until: now.Add(-time.Second)}, store.ErrInvalidQuery},
		{"bad mode", store.Query{Filter: "a/", Matching: 7}, store.ErrInvalidQuery},
	} {
		if _, err := s.Query(ctx, c.q); !errors.Is(err, c.want) {
			t.Errorf("%s: Query = %v, want %v", c.name, err, c.want)
		}
	}
	if err := s.Retained(ctx, "a/#/b/", topic.MQTT, func(store.Message) error { return nil }); !errors.Is(err, topic.ErrInvalid) {
		t.Errorf("Retained with a bad filter: %v", err)
	}
	if _, err := s.Delete(ctx, "a/+/"); !errors.Is(err, topic.ErrInvalid) {
		t.Errorf("Delete of a pattern: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Store(cctx, msg(3, 0, "e/", "x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Store with a cancelled context: %v", err)
	}
	if _, err := s.Query(cctx, store.Query{Filter: "e/"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Query with a cancelled context: %v", err)
	}
}

func testOwnership(t *testing.T, newStore func(testing.TB) store.Store) {
	s := open(t, newStore)
	p := []byte("original")
	mustStore(t, s, store.Message{ID: store.NewID(base, 0), Channel: "o/", Payload: p})
	copy(p, "MUTATED!")
	got, err := s.Query(context.Background(), store.Query{Filter: "o/"})
	if err != nil || len(got) != 1 || string(got[0].Payload) != "original" {
		t.Fatalf("the store kept the caller's buffer: %s %v", describe(got), err)
	}
	copy(got[0].Payload, "MUTATED!")
	got, _ = s.Query(context.Background(), store.Query{Filter: "o/"})
	if string(got[0].Payload) != "original" {
		t.Fatalf("the store returned its own buffer: %s", describe(got))
	}
}
