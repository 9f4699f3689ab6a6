package trie_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/trie"
)

// In Emitter mode a subscription receives its own channel and every channel
// below it.
func ExampleTrie_Match() {
	t := trie.New[string](topic.Emitter)
	_ = t.Insert("a/", "alice")
	_ = t.Insert("a/+/c/", "bob")
	_ = t.Insert("a/b/c/d/", "carol")

	var got []string
	t.Match("a/b/c/", func(who string) { got = append(got, who) })
	slices.Sort(got)
	fmt.Println(got)
	// Output: [alice bob]
}

// In MQTT mode a filter matches only at its own depth, "#" matches the rest
// including the parent level, and wildcards do not match "$" topics.
func ExampleTrie_Match_mqtt() {
	t := trie.New[string](topic.MQTT)
	_ = t.Insert("sport/tennis/#", "fan")
	_ = t.Insert("sport/+", "casual")
	_ = t.Insert("#", "everything")
	_ = t.Insert("$SYS/#", "admin")

	for _, topic := range []string{"sport/tennis", "sport/tennis/player1", "$SYS/uptime"} {
		got := t.MatchAppend(nil, topic)
		slices.Sort(got)
		fmt.Println(topic, got)
	}
	// Output:
	// sport/tennis [casual everything fan]
	// sport/tennis/player1 [everything fan]
	// $SYS/uptime [admin]
}

// A share group receives each message once, through its members in turn.
func ExampleTrie_Insert_shareGroup() {
	t := trie.New[string](topic.Emitter)
	_ = t.Insert("$share/workers/jobs/", "w1")
	_ = t.Insert("$share/workers/jobs/", "w2")
	_ = t.Insert("jobs/", "logger")

	for range 4 {
		got := t.MatchAppend(nil, "jobs/")
		slices.Sort(got)
		fmt.Println(got)
	}
	// Output:
	// [logger w1]
	// [logger w2]
	// [logger w1]
	// [logger w2]
}

// MatchFiltered leaves out values, for example the publisher itself.
func ExampleTrie_MatchFiltered() {
	t := trie.New[string](topic.Emitter)
	_ = t.Insert("chat/", "alice")
	_ = t.Insert("chat/", "bob")

	notAlice := func(who string) bool { return who != "alice" }
	t.MatchFiltered("chat/", notAlice, func(who string) { fmt.Println(who) })
	// Output: bob
}

// MatchAppend reuses the caller's buffer, so a loop allocates nothing once the
// buffer is large enough.
func ExampleTrie_MatchAppend() {
	t := trie.New[int](topic.Emitter)
	for id := range 3 {
		_ = t.Insert("metrics/", id)
	}
	buf := make([]int, 0, 16)
	for range 2 {
		buf = t.MatchAppend(buf[:0], "metrics/cpu/")
		fmt.Println(len(buf))
	}
	// Output:
	// 3
	// 3
}

func ExampleFilterError() {
	t := trie.New[int](topic.MQTT)
	err := t.Insert("a/b+/c/", 1)

	var fe *trie.FilterError
	if errors.As(err, &fe) {
		fmt.Println(fe.Level, fe.Reason)
	}
	fmt.Println(errors.Is(err, topic.ErrInvalid))
	fmt.Println(err)
	// Output:
	// 2 wildcard must be a whole level
	// true
	// trie: invalid filter "a/b+/c/": level 2 "b+": wildcard must be a whole level
}

// All lists the subscriptions with their filters in canonical form.
func ExampleTrie_All() {
	t := trie.New[string](topic.Emitter)
	_ = t.Insert("news/sport", "alice")
	_ = t.Insert("$share/g/news/#", "bob")

	var subs []string
	for filter, who := range t.All() {
		subs = append(subs, filter+" "+who)
	}
	slices.Sort(subs)
	fmt.Println(strings.Join(subs, "\n"))
	// Output:
	// $share/g/news/ bob
	// news/sport/ alice
}
