package trie_test

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/trie"
)

// model is a naive reference implementation: a list of subscriptions and a
// matcher written from the rules, with strings.Split and no trie.
type model struct {
	mode topic.Mode
	subs []modelSub
}

type modelSub struct {
	group  string   // "" when not shared
	levels []string // filter levels, "$share/<group>/" removed
	v      int
}

func splitLevels(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "/"), "/")
}

func parseModelFilter(f string) (group string, levels []string) {
	levels = splitLevels(f)
	if levels[0] == "$share" {
		return levels[1], levels[2:]
	}
	return "", levels
}

// canonical returns the filter as All reports it.
func (m *model) canonical(s modelSub) string {
	lv := s.levels
	if m.mode == topic.Emitter && lv[len(lv)-1] == "#" {
		lv = lv[:len(lv)-1]
	}
	f := strings.Join(lv, "/") + "/"
	if len(lv) == 0 {
		f = "#/"
	}
	if s.group != "" {
		f = "$share/" + s.group + "/" + f
	}
	return f
}

func (m *model) insert(f string, v int) {
	g, lv := parseModelFilter(f)
	m.subs = append(m.subs, modelSub{g, lv, v})
}

// remove removes one occurrence of a subscription equal to (f, v).
func (m *model) remove(f string, v int) bool {
	g, lv := parseModelFilter(f)
	want := m.canonical(modelSub{g, lv, v})
	for i, s := range m.subs {
		if s.v == v && m.canonical(s) == want {
			m.subs = slices.Delete(m.subs, i, i+1)
			return true
		}
	}
	return false
}

func (m *model) matches(f, t []string) bool {
	if m.mode == topic.Emitter {
		if f[len(f)-1] == "#" {
			f = f[:len(f)-1]
		}
		if len(f) > len(t) {
			return false
		}
		for i := range f {
			if f[i] != "+" && f[i] != t[i] {
				return false
			}
		}
		return true
	}
	if strings.HasPrefix(t[0], "$") && (f[0] == "+" || f[0] == "#") {
		return false
	}
	for i := range f {
		if f[i] == "#" {
			return true
		}
		if i >= len(t) || (f[i] != "+" && f[i] != t[i]) {
			return false
		}
	}
	return len(f) == len(t)
}

// match returns the sorted plain values matching topic and, per group, the
// sorted values of the matching members.
func (m *model) match(topic string, keep func(int) bool) (plain []int, groups map[string][]int) {
	groups = map[string][]int{}
	if topic == "" {
		return nil, groups
	}
	t := splitLevels(topic)
	for _, s := range m.subs {
		if !m.matches(s.levels, t) || (keep != nil && !keep(s.v)) {
			continue
		}
		if s.group == "" {
			plain = append(plain, s.v)
		} else {
			groups[s.group] = append(groups[s.group], s.v)
		}
	}
	slices.Sort(plain)
	return plain, groups
}

// Values: plain subscribers are below shareBase; member j of group gi is
// shareBase*(gi+1)+j, so a reported value tells which group it speaks for.
const shareBase = 1000

func groupOf(v int) string {
	if v < shareBase {
		return ""
	}
	return fmt.Sprintf("g%d", v/shareBase-1)
}

// checkMatch compares one Match against the model.
func checkMatch(t *testing.T, tr *trie.Trie[int], m *model, topic string, keep func(int) bool) {
	t.Helper()
	var plain []int
	reported := map[string][]int{}
	tr.MatchFiltered(topic, keep, func(v int) {
		if g := groupOf(v); g != "" {
			reported[g] = append(reported[g], v)
		} else {
			plain = append(plain, v)
		}
	})
	slices.Sort(plain)
	wantPlain, wantGroups := m.match(topic, keep)
	if !slices.Equal(plain, wantPlain) {
		t.Fatalf("%s: Match(%q) plain = %v, want %v", m.mode, topic, plain, wantPlain)
	}
	for g, vs := range reported {
		if len(vs) != 1 {
			t.Fatalf("%s: Match(%q) reported group %s %d times: %v", m.mode, topic, g, len(vs), vs)
		}
		if !slices.Contains(wantGroups[g], vs[0]) {
			t.Fatalf("%s: Match(%q) reported %d for group %s, not a matching member (%v)", m.mode, topic, vs[0], g, wantGroups[g])
		}
	}
	for g := range wantGroups {
		if _, ok := reported[g]; !ok {
			t.Fatalf("%s: Match(%q) did not report group %s (members %v)", m.mode, topic, g, wantGroups[g])
		}
	}
}

// randFilter returns a random valid filter over a small vocabulary, so that
// filters collide and share groups often have several matching members.
func randFilter(r *rand.Rand, groups int) string {
	words := []string{"a", "b", "c", "", "$s"}
	n := 1 + r.IntN(4)
	lv := make([]string, n)
	for i := range lv {
		switch x := r.IntN(10); {
		case x < 2:
			lv[i] = "+"
		case x == 2 && i == n-1:
			lv[i] = "#"
		default:
			lv[i] = words[r.IntN(len(words))]
		}
	}
	f := joinLevels(r, lv)
	if groups > 0 && r.IntN(3) == 0 {
		f = fmt.Sprintf("$share/g%d/%s", r.IntN(groups), f)
	}
	return f
}

// joinLevels writes levels as a filter or topic, with or without the
// optional trailing '/' (which is needed when the last level is empty).
func joinLevels(r *rand.Rand, lv []string) string {
	f := strings.Join(lv, "/")
	if lv[len(lv)-1] == "" || r.IntN(2) == 0 {
		f += "/"
	}
	return f
}

func randTopic(r *rand.Rand) string {
	words := []string{"a", "b", "c", "", "$s", "+", "#", "d"}
	n := 1 + r.IntN(5)
	lv := make([]string, n)
	for i := range lv {
		lv[i] = words[r.IntN(len(words))]
	}
	return strings.Join(lv, "/") + "/"
}

// TestModel runs random Insert, Remove and Match sequences against the naive
// model, in both modes and with share groups (up to 12 groups, more than a
// Match counts in one pass).
func TestModel(t *testing.T) {
	for _, mode := range bothModes {
		for seed := range uint64(20) {
			t.Run(fmt.Sprintf("%s/seed=%d", mode, seed), func(t *testing.T) {
				runModel(t, mode, seed, 3000)
			})
		}
	}
}

func runModel(t *testing.T, mode topic.Mode, seed uint64, ops int) {
	r := rand.New(rand.NewPCG(seed, 42))
	tr := trie.New[int](mode)
	m := &model{mode: mode}
	groups := int(seed % 13) // seed 0 has no share groups at all
	for range ops {
		switch x := r.IntN(100); {
		case x < 40:
			f := randFilter(r, groups)
			v := r.IntN(20)
			if g, _ := parseModelFilter(f); g != "" {
				var gi int
				fmt.Sscanf(g, "g%d", &gi)
				v = shareBase*(gi+1) + r.IntN(5)
			}
			if err := tr.Insert(f, v); err != nil {
				t.Fatalf("Insert(%q): %v", f, err)
			}
			m.insert(f, v)
		case x < 65 && len(m.subs) > 0:
			// Remove an existing subscription, spelled differently at times.
			s := m.subs[r.IntN(len(m.subs))]
			f := joinLevels(r, s.levels)
			if s.group != "" {
				f = "$share/" + s.group + "/" + f
			}
			ok, err := tr.Remove(f, s.v)
			if want := m.remove(f, s.v); ok != want || err != nil {
				t.Fatalf("Remove(%q, %d) = %v, %v; model says %v", f, s.v, ok, err, want)
			}
		case x < 70:
			// Remove something that probably is not there.
			f, v := randFilter(r, groups), r.IntN(40)
			ok, err := tr.Remove(f, v)
			if want := m.remove(f, v); ok != want || err != nil {
				t.Fatalf("Remove(%q, %d) = %v, %v; model says %v", f, v, ok, err, want)
			}
		case x < 90:
			checkMatch(t, tr, m, randTopic(r), nil)
		default:
			mod := 2 + r.IntN(3)
			checkMatch(t, tr, m, randTopic(r), func(v int) bool { return v%mod != 0 })
		}
		if tr.Count() != len(m.subs) {
			t.Fatalf("Count() = %d, model has %d", tr.Count(), len(m.subs))
		}
	}
	var got, want []string
	for f, v := range tr.All() {
		got = append(got, fmt.Sprintf("%s=%d", f, v))
	}
	for _, s := range m.subs {
		want = append(want, fmt.Sprintf("%s=%d", m.canonical(s), s.v))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("All() = %q\nmodel  = %q", got, want)
	}
}

// TestLongFilters checks filters and topics deeper than the level
// boundaries a parsed filter records (16), against the model.
func TestLongFilters(t *testing.T) {
	for _, mode := range bothModes {
		r := rand.New(rand.NewPCG(5, 6))
		tr := trie.New[int](mode)
		m := &model{mode: mode}
		gen := func(wild bool) string {
			n := 12 + r.IntN(12)
			lv := make([]string, n)
			for i := range lv {
				lv[i] = []string{"a", "b"}[r.IntN(2)]
				if wild && r.IntN(8) == 0 {
					lv[i] = "+"
				}
			}
			if wild && r.IntN(4) == 0 {
				lv[n-1] = "#"
			}
			return joinLevels(r, lv)
		}
		var filters []string
		for i := range 300 {
			f := gen(true)
			if err := tr.Insert(f, i); err != nil {
				t.Fatalf("Insert(%q): %v", f, err)
			}
			m.insert(f, i)
			filters = append(filters, f)
		}
		for range 500 {
			checkMatch(t, tr, m, gen(false), nil)
		}
		for i, f := range filters {
			checkMatch(t, tr, m, strings.ReplaceAll(strings.ReplaceAll(f, "+", "a"), "#", "b/b"), nil)
			if ok, err := tr.Remove(f, i); !ok || err != nil {
				t.Fatalf("Remove(%q) = %v, %v", f, ok, err)
			}
			m.remove(f, i)
		}
		if tr.Count() != 0 {
			t.Fatalf("Count() = %d after removing everything", tr.Count())
		}
	}
}

// TestLargeSets grows the subscriber list of a few channels far beyond the
// size at which it is sharded (with duplicates, and values reported through
// several filters), then shrinks it back, checking Match against the model
// along the way.
func TestLargeSets(t *testing.T) {
	for _, mode := range bothModes {
		r := rand.New(rand.NewPCG(9, 10))
		tr := trie.New[int](mode)
		m := &model{mode: mode}
		filters := []string{"big/chan/", "big/+/", "big/chan/#"}
		type sub struct {
			f string
			v int
		}
		var subs []sub
		check := func() {
			t.Helper()
			checkMatch(t, tr, m, "big/chan/", nil)
			checkMatch(t, tr, m, "big/chan/", func(v int) bool { return v%3 == 0 })
			if tr.Count() != len(m.subs) {
				t.Fatalf("Count() = %d, model has %d", tr.Count(), len(m.subs))
			}
		}
		for i := range 5000 {
			s := sub{filters[r.IntN(len(filters))], r.IntN(900)}
			if err := tr.Insert(s.f, s.v); err != nil {
				t.Fatal(err)
			}
			m.insert(s.f, s.v)
			subs = append(subs, s)
			if i%250 == 0 {
				check()
			}
		}
		check()
		r.Shuffle(len(subs), func(i, j int) { subs[i], subs[j] = subs[j], subs[i] })
		for i, s := range subs {
			ok, err := tr.Remove(s.f, s.v)
			if want := m.remove(s.f, s.v); ok != want || err != nil {
				t.Fatalf("Remove(%q, %d) = %v, %v; model says %v", s.f, s.v, ok, err, want)
			}
			if ok, _ := tr.Remove(s.f, 1000+s.v); ok {
				t.Fatalf("Remove of a value never inserted succeeded")
			}
			if i%250 == 0 {
				check()
			}
		}
		check()
	}
}

// bothModes lists the matching modes every table and fuzz test runs in.
var bothModes = []topic.Mode{topic.Emitter, topic.MQTT}
