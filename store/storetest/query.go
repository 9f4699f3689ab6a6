package storetest

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
)

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
	got := check(t, s, m, store.Query{Filter: "a/b/", Matching: topic.MQTT})
	if len(got) != 4 || string(got[0].Payload) != "1" || string(got[3].Payload) != "3" {
		t.Fatalf("exact channel: %s", describe(got))
	}
	check(t, s, m, store.Query{Filter: "a/b/", Last: 2, Matching: topic.MQTT})
	check(t, s, m, store.Query{Filter: "a/b/", Limit: 2, Matching: topic.MQTT})
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
		for _, mode := range []topic.Mode{topic.Emitter, topic.MQTT} {
			check(t, s, m, store.Query{Filter: f, Matching: mode})
			check(t, s, m, store.Query{Filter: f, Matching: mode, Last: 4})
			check(t, s, m, store.Query{Filter: f, Matching: mode, Limit: 4})
		}
	}
	// Spot checks of the matching the model uses (topic.Match, itself fuzzed
	// against a naive model in package topic), so that a wrong one cannot hide
	// a bug.
	for _, c := range []struct {
		f, ch string
		mode  topic.Mode
		want  bool
	}{
		{"a/", "a/b/c/", topic.Emitter, true},
		{"a/", "a/b/c/", topic.MQTT, false},
		{"a/+/", "a/b/c/", topic.Emitter, true},
		{"a/+/", "a/b/c/", topic.MQTT, false},
		{"a/#/", "a/", topic.MQTT, true},
		{"a/#/", "a/", topic.Emitter, true},
		{"+/", "$sys/", topic.MQTT, false},
		{"+/", "$sys/", topic.Emitter, true},
		{"a/", "ab/", topic.Emitter, false},
		{"a/+/", "a//", topic.MQTT, true},
	} {
		if got := topic.Match(c.f, c.ch, c.mode); got != c.want {
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
