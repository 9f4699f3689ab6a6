package trie_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/trie"
)

// fuzzSeeds are filters and topics from the test tables.
var fuzzSeeds = [][2]string{
	{"a/b/c/", "a/b/c/"},
	{"a/+/c/", "a/b/c/d/"},
	{"a/#/", "a/"},
	{"#/", "$SYS/x/"},
	{"+/+/", "/finance/"},
	{"sport/tennis/player1/#/", "sport/tennis/player1/"},
	{"$share/g/a/+/", "a/b/"},
	{"$share/g//", "/"},
	{"a/b+/", "a/b+/"},
	{"a/#/b", "a/#/b"},
	{"", ""},
	{"//", "//"},
	{"$share", "$share/"},
}

// FuzzInsert checks that Insert never panics, rejects bad filters with a
// *FilterError and leaves the trie unchanged, and that Insert followed by
// Remove of the same subscription leaves an empty trie.
func FuzzInsert(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s[0])
	}
	f.Fuzz(func(t *testing.T, filter string) {
		for _, mode := range bothModes {
			tr := trie.New[int](mode)
			_ = tr.Insert("stable/", 1)
			err := tr.Insert(filter, 2)
			if err != nil {
				var fe *trie.FilterError
				if !errors.As(err, &fe) || !errors.Is(err, topic.ErrInvalid) || fe.Filter != filter {
					t.Fatalf("Insert(%q) error %v is not a *FilterError", filter, err)
				}
				if tr.Count() != 1 {
					t.Fatalf("failed Insert(%q) changed Count to %d", filter, tr.Count())
				}
				if _, rerr := tr.Remove(filter, 2); !errors.Is(rerr, topic.ErrInvalid) {
					t.Fatalf("Remove(%q) = %v, Insert said %v", filter, rerr, err)
				}
				continue
			}
			if tr.Count() != 2 {
				t.Fatalf("Insert(%q): Count = %d, want 2", filter, tr.Count())
			}
			if ok, err := tr.Remove(filter, 2); !ok || err != nil {
				t.Fatalf("Remove(%q) = %v, %v after a successful Insert", filter, ok, err)
			}
			n := 0
			for f, v := range tr.All() {
				if f != "stable/" || v != 1 {
					t.Fatalf("after Insert+Remove of %q, All reports %q=%d", filter, f, v)
				}
				n++
			}
			if n != 1 || tr.Count() != 1 {
				t.Fatalf("after Insert+Remove of %q: %d subscriptions, Count %d", filter, n, tr.Count())
			}
		}
	})
}

// FuzzMatch compares Match for one filter and one topic with the naive
// model, in both modes.
func FuzzMatch(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, filter, topic string) {
		for _, mode := range bothModes {
			tr := trie.New[int](mode)
			if err := tr.Insert(filter, 1); err != nil {
				tr.Match(topic, func(int) { t.Fatalf("empty trie matched %q", topic) })
				continue
			}
			_ = tr.Insert("$share/fuzz/"+filter, 2)
			m := &model{mode: mode}
			m.insert(filter, 1)
			m.insert("$share/fuzz/"+filter, 2)
			group1, _ := parseModelFilter(filter)
			plain, groups := m.match(topic, nil)
			var gotPlain []int
			gotGroups := map[string][]int{}
			tr.Match(topic, func(v int) {
				switch {
				case v == 2:
					gotGroups["fuzz"] = append(gotGroups["fuzz"], v)
				case group1 != "":
					gotGroups[group1] = append(gotGroups[group1], v)
				default:
					gotPlain = append(gotPlain, v)
				}
			})
			if !slices.Equal(gotPlain, plain) || len(gotGroups) != len(groups) {
				t.Fatalf("%s: filter %q, Match(%q) = %v %v, model says %v %v", mode, filter, topic, gotPlain, gotGroups, plain, groups)
			}
			for g, vs := range gotGroups {
				if len(vs) != 1 || !slices.Contains(groups[g], vs[0]) {
					t.Fatalf("%s: filter %q, Match(%q) reported %v for group %q, members %v", mode, filter, topic, vs, g, groups[g])
				}
			}
		}
	})
}
