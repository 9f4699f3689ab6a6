package trie_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/trie"
)

// matchAll returns the sorted values that t reports for topic.
func matchAll[T interface {
	comparable
	~int | ~string
}](t *trie.Trie[T], topic string) []T {
	var got []T
	t.Match(topic, func(v T) { got = append(got, v) })
	slices.Sort(got)
	return got
}

type matchCase struct {
	topic string
	want  []string // filters (their own names are the values) that must match
}

// runMatchTable subscribes each filter with itself as the value, then checks
// that every topic reports exactly the wanted filters.
func runMatchTable(t *testing.T, mode topic.Mode, filters []string, cases []matchCase) {
	t.Helper()
	tr := trie.New[string](mode)
	for _, f := range filters {
		if err := tr.Insert(f, f); err != nil {
			t.Fatalf("Insert(%q): %v", f, err)
		}
	}
	if got := tr.Count(); got != len(filters) {
		t.Fatalf("Count() = %d, want %d", got, len(filters))
	}
	for _, c := range cases {
		want := slices.Clone(c.want)
		slices.Sort(want)
		got := matchAll(tr, c.topic)
		if !slices.Equal(got, want) {
			t.Errorf("%s: Match(%q) = %q, want %q", mode, c.topic, got, want)
		}
		if app := tr.MatchAppend(nil, c.topic); len(app) != len(want) {
			t.Errorf("%s: MatchAppend(%q) has %d values, want %d", mode, c.topic, len(app), len(want))
		}
	}
}

// TestEmitterReference checks the examples of the Emitter reference (§5.2):
// publishing to a/b/c/ reaches a/, a/b/, a/b/c/, a/+/, a/+/c/ and +/b/, and,
// unlike Emitter's broker, a/#/.
func TestEmitterReference(t *testing.T) {
	filters := []string{
		"a/", "a/b/", "a/b/c/", "a/+/", "a/+/c/", "+/b/", "a/#/",
		"a/b/c/d/", "b/", "a/c/", "+/c/", "+/+/+/+/", "a/b/x/", "#/", "+/#/",
	}
	cases := []matchCase{
		{"a/b/c/", []string{"a/", "a/b/", "a/b/c/", "a/+/", "a/+/c/", "+/b/", "a/#/", "#/", "+/#/"}},
		{"a/b/c", []string{"a/", "a/b/", "a/b/c/", "a/+/", "a/+/c/", "+/b/", "a/#/", "#/", "+/#/"}},
		{"a/", []string{"a/", "a/#/", "#/", "+/#/"}},
		{"a/b/c/d/e/", []string{"a/", "a/b/", "a/b/c/", "a/+/", "a/+/c/", "+/b/", "a/#/", "a/b/c/d/", "+/+/+/+/", "#/", "+/#/"}},
		{"b/c/", []string{"b/", "+/c/", "#/", "+/#/"}},
		{"x/", []string{"#/", "+/#/"}},
		{"a/c/", []string{"a/", "a/+/", "a/#/", "a/c/", "+/c/", "#/", "+/#/"}},
		{"$SYS/b/", []string{"+/b/", "#/", "+/#/"}}, // no '$' rule in Emitter mode
		{"", nil},
	}
	runMatchTable(t, topic.Emitter, filters, cases)
}

// TestMQTTSpec checks the topic-filter examples of MQTT 3.1.1 §4.7. MQTT
// strings map to trie strings by appending '/', as the transport does.
func TestMQTTSpec(t *testing.T) {
	m := func(s string) string { return s + "/" }
	filters := []string{
		m("sport/tennis/player1/#"), m("sport/#"), m("sport/tennis/+"), m("sport/+"),
		m("+/+"), m("/+"), m("+"), m("#"), m("+/monitor/Clients"), m("$SYS/#"),
		m("$SYS/monitor/+"), m("sport/tennis/player1"), m("/finance"),
	}
	cases := []matchCase{
		{m("sport/tennis/player1"), []string{m("sport/tennis/player1/#"), m("sport/#"), m("sport/tennis/+"), m("#"), m("sport/tennis/player1")}},
		{m("sport/tennis/player1/ranking"), []string{m("sport/tennis/player1/#"), m("sport/#"), m("#")}},
		{m("sport/tennis/player1/score/wimbledon"), []string{m("sport/tennis/player1/#"), m("sport/#"), m("#")}},
		{m("sport"), []string{m("sport/#"), m("+"), m("#")}},
		{m("sport/"), []string{m("sport/#"), m("sport/+"), m("+/+"), m("#")}},
		{m("sport/tennis/player2"), []string{m("sport/#"), m("sport/tennis/+"), m("#")}},
		{m("/finance"), []string{m("+/+"), m("/+"), m("#"), m("/finance")}},
		{m("$SYS/monitor/Clients"), []string{m("$SYS/#"), m("$SYS/monitor/+")}},
		{m("$SYS"), []string{m("$SYS/#")}},
		{m("x/monitor/Clients"), []string{m("+/monitor/Clients"), m("#")}},
		{m("$other"), nil},
	}
	runMatchTable(t, topic.MQTT, filters, cases)
}

// TestLevels checks the level syntax shared by filters and topics: one
// trailing '/' is optional, empty levels are levels, and wildcard bytes in a
// topic are literal.
func TestLevels(t *testing.T) {
	for _, mode := range bothModes {
		t.Run(mode.String(), func(t *testing.T) {
			filters := []string{"a/b/c", "a/b//", "/", "//", "a/+", "x/+/y/"}
			cases := []matchCase{
				{"a/b/c/", []string{"a/b/c"}},
				{"a/b/c", []string{"a/b/c"}},
				{"a/b//", []string{"a/b//"}},
				{"/", []string{"/"}},
				{"//", []string{"//"}},
				{"a/+/", []string{"a/+"}},
				{"a/#/", []string{"a/+"}},
				{"x//y", []string{"x/+/y/"}},
			}
			if mode == topic.Emitter {
				cases = []matchCase{
					{"a/b/c/", []string{"a/b/c", "a/+"}},
					{"a/b/c", []string{"a/b/c", "a/+"}},
					{"a/b//", []string{"a/b//", "a/+"}},
					{"/", []string{"/"}},
					{"//", []string{"/", "//"}},
					{"a/+/", []string{"a/+"}},
					{"x//y", []string{"x/+/y/"}},
				}
			}
			runMatchTable(t, mode, filters, cases)
		})
	}
}

func TestFilterErrors(t *testing.T) {
	cases := []struct {
		filter string
		level  int
		reason string
	}{
		{"", 0, "empty filter"},
		{"a/b+/", 2, "wildcard must be a whole level"},
		{"a/#b", 2, "wildcard must be a whole level"},
		{"++/", 1, "wildcard must be a whole level"},
		{"#/a/", 1, `"#" must be the last level`},
		{"a/#/b", 2, `"#" must be the last level`},
		{"a/#//", 2, `"#" must be the last level`},
		{"$share", 2, "missing share group name"},
		{"$share/", 2, "missing share group name"},
		{"$share//a/", 2, "empty share group name"},
		{"$share/g+/a/", 2, "wildcard in share group name"},
		{"$share/#/a/", 2, "wildcard in share group name"},
		{"$share/g", 3, "missing filter after share group"},
		{"$share/g/", 3, "missing filter after share group"},
		{"$share/g/a/#/b/", 4, `"#" must be the last level`},
	}
	for _, mode := range bothModes {
		tr := trie.New[int](mode)
		for _, c := range cases {
			err := tr.Insert(c.filter, 1)
			var fe *trie.FilterError
			if !errors.As(err, &fe) || !errors.Is(err, topic.ErrInvalid) {
				t.Fatalf("Insert(%q) = %v, want a *FilterError", c.filter, err)
			}
			if fe.Filter != c.filter || fe.Level != c.level || fe.Reason != c.reason {
				t.Errorf("Insert(%q) = %+v, want level %d reason %q", c.filter, *fe, c.level, c.reason)
			}
			if msg := err.Error(); !strings.HasPrefix(msg, "trie: invalid filter ") || !strings.Contains(msg, c.reason) ||
				(c.level > 0 && !strings.Contains(msg, fmt.Sprintf("level %d", c.level))) {
				t.Errorf("Insert(%q).Error() = %q", c.filter, msg)
			}
			if ok, err := tr.Remove(c.filter, 1); ok || !errors.Is(err, topic.ErrInvalid) {
				t.Errorf("Remove(%q) = %v, %v; want false, topic.ErrInvalid", c.filter, ok, err)
			}
		}
		if tr.Count() != 0 || len(matchAll(tr, "a/b/")) != 0 {
			t.Errorf("%s: rejected filters changed the trie", mode)
		}
	}
	err := trie.New[int](topic.MQTT).Insert("a/b+/c/", 1)
	if want := `trie: invalid filter "a/b+/c/": level 2 "b+": wildcard must be a whole level`; err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
	for _, ok := range []string{"a", "a/", "+", "#", "+/+/#", "a//b", "$share/g/#", "$share/g//", "$sharex/+/", "a/$share/g/"} {
		if err := trie.New[int](topic.MQTT).Insert(ok, 1); err != nil {
			t.Errorf("Insert(%q) = %v, want nil", ok, err)
		}
	}
}

// TestMultiset checks that a subscription inserted twice is stored twice and
// that Remove drops one occurrence at a time.
func TestMultiset(t *testing.T) {
	for _, mode := range bothModes {
		tr := trie.New[int](mode)
		for range 2 {
			if err := tr.Insert("a/b/", 7); err != nil {
				t.Fatal(err)
			}
		}
		if err := tr.Insert("a/b/", 8); err != nil {
			t.Fatal(err)
		}
		if got := matchAll(tr, "a/b/"); !slices.Equal(got, []int{7, 7, 8}) {
			t.Fatalf("%s: Match = %v, want [7 7 8]", mode, got)
		}
		for i, want := range []bool{true, true, false} {
			if ok, err := tr.Remove("a/b/", 7); ok != want || err != nil {
				t.Fatalf("%s: Remove #%d = %v, %v; want %v", mode, i, ok, err, want)
			}
		}
		if ok, _ := tr.Remove("a/x/", 8); ok {
			t.Fatalf("%s: Remove of a missing filter reported true", mode)
		}
		if ok, _ := tr.Remove("$share/g/a/b/", 8); ok {
			t.Fatalf("%s: Remove of a missing share member reported true", mode)
		}
		if got := matchAll(tr, "a/b/"); !slices.Equal(got, []int{8}) || tr.Count() != 1 {
			t.Fatalf("%s: after removes Match = %v, Count = %d; want [8], 1", mode, got, tr.Count())
		}
	}
}

// TestEmitterHashIsPrefix checks that in Emitter mode "a/#/" and "a/" are the
// same filter, while in MQTT mode they are different.
func TestEmitterHashIsPrefix(t *testing.T) {
	tr := trie.New[int](topic.Emitter)
	_ = tr.Insert("a/#/", 1)
	if ok, _ := tr.Remove("a/", 1); !ok || tr.Count() != 0 {
		t.Fatalf("Emitter: Remove(a/) of a/#/ = %v, Count %d", ok, tr.Count())
	}
	tr = trie.New[int](topic.MQTT)
	_ = tr.Insert("a/#/", 1)
	if ok, _ := tr.Remove("a/", 1); ok || tr.Count() != 1 {
		t.Fatalf("MQTT: Remove(a/) of a/#/ = %v, Count %d", ok, tr.Count())
	}
}

func TestMatchFiltered(t *testing.T) {
	for _, mode := range bothModes {
		tr := trie.New[int](mode)
		for v := 1; v <= 4; v++ {
			_ = tr.Insert("a/b/", v)
		}
		_ = tr.Insert("$share/g/a/b/", 10)
		_ = tr.Insert("$share/g/a/+/", 11)
		odd := func(v int) bool { return v%2 == 1 }
		for range 10 {
			var got []int
			tr.MatchFiltered("a/b/", odd, func(v int) { got = append(got, v) })
			slices.Sort(got)
			// The group must pick 11, its only member with keep true.
			if !slices.Equal(got, []int{1, 3, 11}) {
				t.Fatalf("%s: MatchFiltered = %v, want [1 3 11]", mode, got)
			}
		}
		var got []int
		tr.MatchFiltered("a/b/", func(int) bool { return false }, func(v int) { got = append(got, v) })
		if len(got) != 0 {
			t.Fatalf("%s: MatchFiltered with keep=false reported %v", mode, got)
		}
	}
}

// TestShareEvenness checks the round-robin policy: 3 members matching 3000
// times get exactly 1000 messages each, and other groups and plain
// subscribers are unaffected.
func TestShareEvenness(t *testing.T) {
	for _, mode := range bothModes {
		tr := trie.New[string](mode)
		_ = tr.Insert("$share/g/a/b/", "m1")
		_ = tr.Insert("$share/g/a/+/", "m2")
		_ = tr.Insert("$share/g/+/b/", "m3")
		_ = tr.Insert("$share/g/x/", "x1") // same group, never matches a/b/
		_ = tr.Insert("$share/h/a/b/", "h1")
		_ = tr.Insert("a/b/", "plain")
		got := map[string]int{}
		for range 3000 {
			n := 0
			tr.Match("a/b/", func(v string) { got[v]++; n++ })
			if n != 3 {
				t.Fatalf("%s: Match reported %d values, want 3 (plain, one of g, one of h)", mode, n)
			}
		}
		want := map[string]int{"m1": 1000, "m2": 1000, "m3": 1000, "h1": 3000, "plain": 3000}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: deliveries %v, want %v", mode, got, want)
		}
	}
}

// TestManyShareGroups checks groups beyond what one pass counts at once, and
// more matching share sets than the first pass remembers: every group must be
// represented exactly once, and evenly.
func TestManyShareGroups(t *testing.T) {
	const groups, members = 37, 3
	tr := trie.New[int](topic.Emitter)
	filters := []string{"a/", "a/b/", "a/b/c/", "+/", "a/+/", "+/b/", "+/+/", "a/+/c/", "+/b/c/", "+/+/c/", "a/b/+/", "#/"}
	for g := range groups {
		for m := range members {
			f := filters[(g*members+m)%len(filters)]
			if err := tr.Insert(fmt.Sprintf("$share/g%d/%s", g, f), g*100+m); err != nil {
				t.Fatal(err)
			}
		}
	}
	counts := map[int]int{}
	for range 3 * 300 {
		perGroup := map[int]int{}
		tr.Match("a/b/c/", func(v int) { perGroup[v/100]++; counts[v]++ })
		if len(perGroup) != groups {
			t.Fatalf("%d groups reported, want %d", len(perGroup), groups)
		}
		for g, n := range perGroup {
			if n != 1 {
				t.Fatalf("group %d reported %d times", g, n)
			}
		}
	}
	for v, n := range counts {
		if n != 300 {
			t.Errorf("member %d got %d, want 300", v, n)
		}
	}
}

func TestModeString(t *testing.T) {
	for m, want := range map[topic.Mode]string{topic.Emitter: "emitter", topic.MQTT: "mqtt", 7: "Mode(7)"} {
		if got := m.String(); got != want {
			t.Errorf("Mode(%d).String() = %q, want %q", m, got, want)
		}
	}
	if trie.New[int](topic.MQTT).Matching() != topic.MQTT {
		t.Error("Matching() does not return the mode given to New")
	}
	defer func() {
		if recover() == nil {
			t.Error("New with an unknown mode did not panic")
		}
	}()
	trie.New[int](7)
}

func TestAll(t *testing.T) {
	for _, mode := range bothModes {
		tr := trie.New[int](mode)
		in := []string{"a/b/", "a/b", "a/+/c/", "#/", "a/#", "$share/g/x//", "/"}
		for i, f := range in {
			_ = tr.Insert(f, i)
		}
		var got []string
		for f, v := range tr.All() {
			got = append(got, fmt.Sprintf("%s=%d", f, v))
		}
		slices.Sort(got)
		want := []string{"/=6", "a/b/=0", "a/b/=1", "a/+/c/=2", "#/=3", "a/#/=4", "$share/g/x//=5"}
		if mode == topic.Emitter {
			want[5] = "a/=4"
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: All = %q, want %q", mode, got, want)
		}
		n := 0
		for range tr.All() {
			n++
			break
		}
		if n != 1 {
			t.Errorf("All did not stop when asked")
		}
	}
}

// TestMatchDoesNotAllocate checks that Match, MatchFiltered and MatchAppend
// (into a large enough buffer) do not allocate, and that the caller's
// callback and the variables it captures stay on the caller's stack.
func TestMatchDoesNotAllocate(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	for _, mode := range bothModes {
		tr := trie.New[int](mode)
		for i, f := range []string{"a/b/c/", "a/+/c/", "a/#", "+/b/", "$share/g/a/b/c/", "$share/g/a/+/c/", "$share/h/#"} {
			if err := tr.Insert(f, i); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]int, 0, 16)
		allocs := testing.AllocsPerRun(100, func() {
			n := 0
			tr.Match("a/b/c/", func(int) { n++ })
			tr.MatchFiltered("a/b/c/", func(v int) bool { return v != n }, func(int) { n++ })
			buf = tr.MatchAppend(buf[:0], "a/b/c/")
		})
		if allocs != 0 || len(buf) == 0 {
			t.Errorf("%s: %v allocations per run, want 0 (%d matches)", mode, allocs, len(buf))
		}
	}
}

// TestSubscribeAllocations guards the cost of the write path: subscribing to
// a new channel takes one allocation for its new nodes with their subscriber
// list, plus two (the word and a copy of the level) for each level that no
// other node has (one here: "xN"; "y" is shared), and unsubscribing the last
// subscriber of a channel takes none.
func TestSubscribeAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector changes allocation counts")
	}
	for _, mode := range bothModes {
		tr := trie.New[int](mode)
		_ = tr.Insert("a/b/", 1)
		_ = tr.Insert("a/c/", 1)
		filters := make([]string, 101) // AllocsPerRun(100, f) calls f 101 times
		for i := range filters {
			filters[i] = fmt.Sprintf("a/b/x%d/y/", i)
		}
		i := 0
		if n := testing.AllocsPerRun(100, func() {
			_ = tr.Insert(filters[i], 2)
			i++
		}); n != 3 {
			t.Errorf("%s: Insert of a new channel: %v allocations, want 3", mode, n)
		}
		i = 0
		if n := testing.AllocsPerRun(100, func() {
			_, _ = tr.Remove(filters[i], 2)
			i++
		}); n != 0 {
			t.Errorf("%s: Remove of a channel's last subscriber: %v allocations, want 0", mode, n)
		}
		if tr.Count() != 2 {
			t.Errorf("%s: Count() = %d, want 2", mode, tr.Count())
		}
	}
}

// TestCallbackMayWrite checks that a Match callback may change the trie.
func TestCallbackMayWrite(t *testing.T) {
	tr := trie.New[int](topic.Emitter)
	for i := range 10 {
		_ = tr.Insert("a/", i)
	}
	n := 0
	tr.Match("a/b/", func(v int) {
		n++
		if _, err := tr.Remove("a/", v); err != nil {
			t.Fatal(err)
		}
		_ = tr.Insert("a/b/c/", v)
	})
	if n != 10 || tr.Count() != 10 || len(tr.MatchAppend(nil, "a/b/")) != 0 {
		t.Fatalf("after the callbacks: %d calls, Count %d", n, tr.Count())
	}
}
