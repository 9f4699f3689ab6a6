// Package storetest is the conformance suite for store.Store implementations.
// Herald runs it against store.Memory and store.Bolt; run it against your own
// implementation too:
//
//	func TestMyStore(t *testing.T) {
//		storetest.Run(t, func(t testing.TB) store.Store {
//			return mystore.New(...)
//		})
//	}
//
// # Requirements
//
// newStore must return an empty store with the default limits of
// store.Options (64 KiB messages and responses, at most 1000 results), whose
// expiry clock is time.Now. The suite closes every store it creates; newStore
// may also register a t.Cleanup that closes it again (Close is idempotent).
//
// Some tests run inside a testing/synctest bubble (fake time): newStore is
// then called inside the bubble, and the store must not use goroutines or
// channels created outside it. If the store has a method
// Sweep(context.Context) (int, error) that removes expired messages, the suite
// checks it and checks that a background sweeper (interval at most one
// second) removes expired messages without it.
//
// The suite checks results against a simple reference model (a slice of
// messages filtered the naive way) and checks that Close leaves no goroutine
// behind.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldmq/herald/store"
)

// Run runs the conformance suite against the stores newStore returns.
func Run(t *testing.T, newStore func(t testing.TB) store.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, newStore func(testing.TB) store.Store)
	}{
		{"Basic", testBasic},
		{"Matching", testMatching},
		{"Window", testWindow},
		{"ByteCap", testByteCap},
		{"Clamp", testClamp},
		{"Paging", testPaging},
		{"Retained", testRetained},
		{"Delete", testDelete},
		{"Errors", testErrors},
		{"Expiry", testExpiry},
		{"ExpirySweep", testExpirySweep},
		{"Ownership", testOwnership},
		{"Random", testRandom},
		{"Concurrent", testConcurrent},
		{"ConcurrentDelete", testConcurrentDelete},
		{"Cancel", testCancel},
		{"Close", testClose},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, newStore) })
	}
}

// base is the time of the suite's messages: far in the past, so that From
// and Until bounds are easy to reason about, yet after 1970.
var base = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()

func msg(t int64, tail uint64, ch, payload string) store.Message {
	return store.Message{ID: store.NewID(base+t, tail), Channel: ch, Payload: []byte(payload)}
}

func open(t *testing.T, newStore func(testing.TB) store.Store) store.Store {
	t.Helper()
	s := newStore(t)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func mustStore(t testing.TB, s store.Store, msgs ...store.Message) {
	t.Helper()
	if err := s.Store(context.Background(), msgs...); err != nil {
		t.Fatalf("Store: %v", err)
	}
}

func equal(a, b []store.Message) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Channel != y.Channel || !bytes.Equal(x.Payload, y.Payload) ||
			x.Expires != y.Expires || x.Retained != y.Retained {
			return false
		}
	}
	return true
}

func describe(ms []store.Message) string {
	var sb strings.Builder
	for _, m := range ms {
		p := m.Payload
		if len(p) > 16 {
			p = p[:16]
		}
		fmt.Fprintf(&sb, "\n\t%d/%x %s %q(%d) exp=%d ret=%v", m.ID.UnixNano()-base, m.ID[8:], m.Channel, p, len(m.Payload),
			m.Expires, m.Retained)
	}
	return sb.String()
}

// check runs q against s and the model and compares.
func check(t testing.TB, s store.Store, m *model, q store.Query) []store.Message {
	t.Helper()
	got, err := s.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("Query(%+v): %v", q, err)
	}
	want := m.query(q, time.Now().UnixNano())
	if !equal(got, want) {
		t.Fatalf("Query(%+v):\ngot %d:%s\nwant %d:%s", q, len(got), describe(got), len(want), describe(want))
	}
	return got
}

func retained(t testing.TB, s store.Store, filter string, mode store.Mode) []store.Message {
	t.Helper()
	var out []store.Message
	err := s.Retained(context.Background(), filter, mode, func(m store.Message) error {
		out = append(out, m)
		return nil
	})
	if err != nil {
		t.Fatalf("Retained(%q): %v", filter, err)
	}
	return out
}

func testBasic(t *testing.T, newStore func(testing.TB) store.Store) {
	s, m := open(t, newStore), newModel()
	// Within one second, several publishers: order is by ID, not by arrival.
	msgs := []store.Message{
		msg(3, 1, "a/b/", "3"), msg(1, 2, "a/b/", "1"), msg(2, 1, "a/b/", "2"),
		msg(2, 2, "a/b/", "2b"), msg(5, 0, "a/c/", "5"), msg(4, 0, "a/", "4"), msg(6, 0, "b/", "6"),
	}
	mustStore(t, s, msgs[:3]...)
	mustStore(t, s, msgs[3:]...)
	mustStore(t, s) // an empty batch is fine
	m.store(msgs...)
	got := check(t, s, m, store.Query{Filter: "a/b/", Mode: store.ModeMQTT})
	if len(got) != 4 || string(got[0].Payload) != "1" || string(got[3].Payload) != "3" {
		t.Fatalf("exact channel: %s", describe(got))
	}
	check(t, s, m, store.Query{Filter: "a/b/", Last: 2, Mode: store.ModeMQTT})
	check(t, s, m, store.Query{Filter: "a/b/", Limit: 2, Mode: store.ModeMQTT})
	got = check(t, s, m, store.Query{Filter: "a/", Last: 3})
	if len(got) != 3 || string(got[0].Payload) != "3" || string(got[2].Payload) != "5" {
		t.Fatalf("last 3 of a/ (emitter prefix): %s", describe(got))
	}
	check(t, s, m, store.Query{Filter: "#/"})
	check(t, s, m, store.Query{Filter: "x/"})
	// Storing the same (channel, ID) again replaces it.
	again := msg(2, 1, "a/b/", "2-replaced")
	mustStore(t, s, again)
	m.store(again)
	check(t, s, m, store.Query{Filter: "a/b/"})
}

var channels = []string{
	"a/", "a/b/", "a/b/c/", "a/b/c/d/", "a/c/", "a/c/d/", "a/bc/", "ab/", "b/", "b/b/", "$sys/a/", "$sys/",
	"a//", "a//c/", "/", "//", "a/b//", "x/y/z/", "a-b/", "a/b/c/d/e/",
}

var filters = []string{
	"a/", "a/b/", "a/+/", "a/+/c/", "+/", "+/b/", "#/", "a/#/", "a/b/#/", "+/+/", "$sys/", "$sys/#/", "+/#/",
	"a//", "/", "//", "/#/", "a/+/+/", "ab/", "a/b/c/d/e/", "x/+/z/", "a/b/c/", "+/+/+/+/",
}

func testMatching(t *testing.T, newStore func(testing.TB) store.Store) {
	s, m := open(t, newStore), newModel()
	var all []store.Message
	for i, ch := range channels {
		for j := range 3 {
			all = append(all, msg(int64(j*100+i), uint64(i), ch, fmt.Sprintf("%s#%d", ch, j)))
		}
	}
	mustStore(t, s, all...)
	m.store(all...)
	for _, f := range filters {
		for _, mode := range []store.Mode{store.ModeEmitter, store.ModeMQTT} {
			check(t, s, m, store.Query{Filter: f, Mode: mode})
			check(t, s, m, store.Query{Filter: f, Mode: mode, Last: 4})
			check(t, s, m, store.Query{Filter: f, Mode: mode, Limit: 4})
		}
	}
	// Spot checks of the model itself, so a wrong model cannot hide a bug.
	for _, c := range []struct {
		f, ch string
		mode  store.Mode
		want  bool
	}{
		{"a/", "a/b/c/", store.ModeEmitter, true},
		{"a/", "a/b/c/", store.ModeMQTT, false},
		{"a/+/", "a/b/c/", store.ModeEmitter, true},
		{"a/+/", "a/b/c/", store.ModeMQTT, false},
		{"a/#/", "a/", store.ModeMQTT, true},
		{"a/#/", "a/", store.ModeEmitter, true},
		{"+/", "$sys/", store.ModeMQTT, false},
		{"+/", "$sys/", store.ModeEmitter, true},
		{"a/", "ab/", store.ModeEmitter, false},
		{"a/+/", "a//", store.ModeMQTT, true},
	} {
		if got := naiveMatch(c.f, c.ch, c.mode); got != c.want {
			t.Fatalf("model match %q %q %v = %v", c.f, c.ch, c.mode, got)
		}
	}
}

func testWindow(t *testing.T, newStore func(testing.TB) store.Store) {
	s, m := open(t, newStore), newModel()
	var all []store.Message
	for i := range 50 {
		all = append(all, msg(int64(i)*int64(time.Second/4), uint64(i%3), fmt.Sprintf("w/%d/", i%4), fmt.Sprint(i)))
	}
	mustStore(t, s, all...)
	m.store(all...)
	sec := func(x float64) time.Time { return time.Unix(0, base+int64(x*float64(time.Second))) }
	for _, q := range []store.Query{
		{From: sec(2), Until: sec(5)},
		{From: sec(2), Until: sec(2)},
		{From: sec(2.1), Until: sec(2.2)},
		{From: sec(3)},
		{Until: sec(3)},
		{Until: sec(-1)},
		{From: sec(100)},
		{From: time.Unix(0, 0), Until: sec(1)},
		{From: time.Unix(-5, 0)},
		{Until: time.Unix(-5, 0)},
		{After: all[10].ID},
		{Before: all[10].ID},
		{After: all[10].ID, Before: all[20].ID},
		{After: all[20].ID, Before: all[10].ID},
		{After: all[10].ID, From: sec(1)},
		{After: all[10].ID, From: sec(4)},
		{Before: all[30].ID, Until: sec(2)},
		{After: store.ID{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}},
	} {
		for _, f := range []string{"w/", "w/1/", "w/+/", "#/"} {
			for _, n := range []store.Query{{}, {Last: 3}, {Limit: 3}} {
				q := q
				q.Filter, q.Last, q.Limit = f, n.Last, n.Limit
				check(t, s, m, q)
			}
		}
	}
}

func testByteCap(t *testing.T, newStore func(testing.TB) store.Store) {
	s, m := open(t, newStore), newModel()
	var all []store.Message
	for i := range 40 {
		all = append(all, store.Message{ID: store.NewID(base+int64(i), 0), Channel: "big/",
			Payload: bytes.Repeat([]byte{byte(i)}, 4000+i*10)})
	}
	// One payload of the maximum size: it alone exceeds a small cap.
	all = append(all, store.Message{ID: store.NewID(base+100, 0), Channel: "huge/",
		Payload: bytes.Repeat([]byte{'h'}, store.DefaultMaxMessageSize)})
	mustStore(t, s, all...)
	m.store(all...)
	got := check(t, s, m, store.Query{Filter: "big/", Last: 1000})
	total := 0
	for i := range got {
		total += got[i].Size()
	}
	if total > store.DefaultMaxResponseBytes || len(got) == 0 || len(got) == 40 {
		t.Fatalf("byte cap: %d messages, %d bytes", len(got), total)
	}
	check(t, s, m, store.Query{Filter: "big/", Limit: 1000})
	check(t, s, m, store.Query{Filter: "big/", Last: 5, MaxBytes: 9000})
	check(t, s, m, store.Query{Filter: "big/", MaxBytes: 1})
	if got := check(t, s, m, store.Query{Filter: "huge/", MaxBytes: 10}); len(got) != 1 {
		t.Fatalf("the first message must always be returned, got %d", len(got))
	}
	check(t, s, m, store.Query{Filter: "#/", Last: 3})
}

func testClamp(t *testing.T, newStore func(testing.TB) store.Store) {
	s, m := open(t, newStore), newModel()
	var all []store.Message
	for i := range store.DefaultMaxResults + 200 {
		all = append(all, msg(int64(i), 0, "c/", ""))
	}
	mustStore(t, s, all...)
	m.store(all...)
	got := check(t, s, m, store.Query{Filter: "c/", Last: 1_000_000})
	if len(got) != store.DefaultMaxResults || got[len(got)-1].ID != all[len(all)-1].ID {
		t.Fatalf("last=1e6: %d results", len(got))
	}
	check(t, s, m, store.Query{Filter: "c/", Limit: 1 << 40})
	check(t, s, m, store.Query{Filter: "c/"})
}

func testPaging(t *testing.T, newStore func(testing.TB) store.Store) {
	s, m := open(t, newStore), newModel()
	var all []store.Message
	for i := range 300 {
		all = append(all, store.Message{ID: store.NewID(base+int64(i/7), uint64(i)), Channel: fmt.Sprintf("p/%d/", i%5),
			Payload: bytes.Repeat([]byte{'p'}, 1000)})
	}
	mustStore(t, s, all...)
	m.store(all...)
	want := m.queryLimits(store.Query{Filter: "p/"}, time.Now().UnixNano(), 1<<30, 1<<30)
	if len(want) != 300 {
		t.Fatalf("model: %d", len(want))
	}
	// Forward with After; pages are cut by the byte cap as well as by Limit.
	var fwd []store.Message
	q := store.Query{Filter: "p/", Limit: 50}
	for {
		page := check(t, s, m, q)
		if len(page) == 0 {
			break
		}
		fwd = append(fwd, page...)
		q.After = page[len(page)-1].ID
	}
	// Backward with Last and Before.
	var back []store.Message
	q = store.Query{Filter: "p/", Last: 50}
	for {
		page := check(t, s, m, q)
		if len(page) == 0 {
			break
		}
		back = append(page, back...)
		q.Before = page[0].ID
	}
	if !equal(fwd, want) || !equal(back, want) {
		t.Fatalf("paging: forward %d, backward %d, want %d", len(fwd), len(back), len(want))
	}
}

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
		for _, mode := range []store.Mode{store.ModeEmitter, store.ModeMQTT} {
			got, want := retained(t, s, f, mode), m.retainedMatching(f, mode, now)
			if !equal(got, want) {
				t.Fatalf("Retained(%q, %v):\ngot%s\nwant%s", f, mode, describe(got), describe(want))
			}
		}
	}
	if got := retained(t, s, "r/a/", store.ModeMQTT); len(got) != 1 || string(got[0].Payload) != "a2" {
		t.Fatalf("replaced retained: %s", describe(got))
	}
	// History queries never return retained messages.
	check(t, s, m, store.Query{Filter: "r/"})
	// fn's error stops the iteration.
	stop := errors.New("stop")
	calls := 0
	err := s.Retained(context.Background(), "#/", store.ModeEmitter, func(store.Message) error { calls++; return stop })
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
	err = s.Retained(context.Background(), "many/", store.ModeEmitter, func(x store.Message) error {
		got = append(got, x)
		_, err := s.Query(context.Background(), store.Query{Filter: x.Channel, Last: 1})
		return err
	})
	if err != nil || !equal(got, m.retainedMatching("many/", store.ModeEmitter, now)) {
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
		if got, want := retained(t, s, "d/", store.ModeEmitter), m.retainedMatching("d/", 0, 0); !equal(got, want) {
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
		{"empty channel", msg(1, 0, "", "x"), store.ErrInvalidChannel},
		{"no trailing slash", msg(1, 0, "a/b", "x"), store.ErrInvalidChannel},
		{"wildcard +", msg(1, 0, "a/+/", "x"), store.ErrInvalidChannel},
		{"wildcard #", msg(1, 0, "a/#/", "x"), store.ErrInvalidChannel},
		{"NUL", msg(1, 0, "a\x00b/", "x"), store.ErrInvalidChannel},
		{"long channel", msg(1, 0, strings.Repeat("a", store.MaxChannelLen)+"/", "x"), store.ErrInvalidChannel},
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
	var ce *store.ChannelError
	if err := s.Store(ctx, msg(1, 0, "x", "")); !errors.As(err, &ce) {
		t.Errorf("ChannelError: %v", err)
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
		{"empty filter", store.Query{}, store.ErrInvalidChannel},
		{"bad filter", store.Query{Filter: "a/#/b/"}, store.ErrInvalidChannel},
		{"no slash", store.Query{Filter: "a"}, store.ErrInvalidChannel},
		{"negative last", store.Query{Filter: "a/", Last: -1}, store.ErrInvalidQuery},
		{"negative limit", store.Query{Filter: "a/", Limit: -1}, store.ErrInvalidQuery},
		{"negative bytes", store.Query{Filter: "a/", MaxBytes: -1}, store.ErrInvalidQuery},
		{"last and limit", store.Query{Filter: "a/", Last: 1, Limit: 1}, store.ErrInvalidQuery},
		{"until before from", store.Query{Filter: "a/", From: now, Until: now.Add(-time.Second)}, store.ErrInvalidQuery},
		{"bad mode", store.Query{Filter: "a/", Mode: 7}, store.ErrInvalidQuery},
	} {
		if _, err := s.Query(ctx, c.q); !errors.Is(err, c.want) {
			t.Errorf("%s: Query = %v, want %v", c.name, err, c.want)
		}
	}
	if err := s.Retained(ctx, "a/#/b/", store.ModeMQTT, func(store.Message) error { return nil }); !errors.Is(err, store.ErrInvalidChannel) {
		t.Errorf("Retained with a bad filter: %v", err)
	}
	if _, err := s.Delete(ctx, "a/+/"); !errors.Is(err, store.ErrInvalidChannel) {
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
		if count(0) != 101 || len(retained(t, s, "t/", store.ModeEmitter)) != 1 {
			t.Fatal("nothing expired yet")
		}
		time.Sleep(2500 * time.Millisecond) // fake time: expired messages vanish from queries at once
		count(2500 * time.Millisecond)
		time.Sleep(1 * time.Second)
		if count(3500 * time.Millisecond); len(retained(t, s, "t/", store.ModeEmitter)) != 0 {
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
			q := store.Query{Filter: randChannel(true), Mode: store.Mode(rng.IntN(2))}
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
			got, want := retained(t, s, q.Filter, q.Mode), m.retainedMatching(q.Filter, q.Mode, time.Now().UnixNano())
			if !equal(got, want) {
				t.Fatalf("Retained(%q, %v):\ngot%s\nwant%s", q.Filter, q.Mode, describe(got), describe(want))
			}
		}
	}
}

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
	if err := s.Retained(ctx, "z/", store.ModeEmitter, func(store.Message) error { return nil }); !errors.Is(err, store.ErrClosed) {
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
