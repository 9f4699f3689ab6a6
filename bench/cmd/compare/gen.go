package main

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// A filter or topic is kept as its levels; "+" and "#" are the MQTT
// wildcards. Each implementation gets the string in its own syntax.
type levels []string

// herald renders l in Herald's syntax: levels joined by '/', one trailing
// '/'.
func (l levels) herald() string { return strings.Join(l, "/") + "/" }

// mqtt renders l in MQTT syntax (mochi-mqtt).
func (l levels) mqtt() string { return strings.Join(l, "/") }

// nats renders l in NATS subject syntax: '.' separators, '*' for "+", '>'
// for "#".
func (l levels) nats() string {
	s := make([]string, len(l))
	for i, lv := range l {
		switch lv {
		case "+":
			s[i] = "*"
		case "#":
			s[i] = ">"
		default:
			s[i] = lv
		}
	}
	return strings.Join(s, ".")
}

// matches is the reference matcher: MQTT semantics restricted to what all
// three syntaxes agree on (a "#" filter is only matched against topics
// deeper than its prefix; the generators guarantee that).
func (l levels) matches(topic levels) bool {
	for i, lv := range l {
		if lv == "#" {
			return len(topic) > i
		}
		if i >= len(topic) || (lv != "+" && lv != topic[i]) {
			return false
		}
	}
	return len(l) == len(topic)
}

// topicDepth is the depth of every generated publish topic. Filters ending
// in "#" have fewer levels before it, so that NATS's ">" (one or more
// levels) and MQTT's "#" (zero or more) agree on every generated topic.
const topicDepth = 5

// vocab is the number of distinct words per level in random filters.
var vocab = [topicDepth + 1]int{10, 50, 100, 100, 100, 100}

func word(level, i int) string { return "l" + strconv.Itoa(level) + "w" + strconv.Itoa(i) }

// randomFilter returns a random filter of 2 to 6 levels: each level is a
// random word or, with probability 1/10, "+"; one filter in 20 ends in "#".
func randomFilter(r *rand.Rand) levels {
	depth := 2 + r.IntN(5)
	hash := depth <= topicDepth && r.IntN(20) == 0
	l := make(levels, 0, depth)
	for i := range depth {
		if hash && i == depth-1 {
			l = append(l, "#")
			break
		}
		if r.IntN(10) == 0 {
			l = append(l, "+")
		} else {
			l = append(l, word(i, r.IntN(vocab[i])))
		}
	}
	return l
}

// randomTopic returns a random literal topic of topicDepth levels.
func randomTopic(r *rand.Rand) levels {
	l := make(levels, topicDepth)
	for i := range l {
		l[i] = word(i, r.IntN(vocab[i]))
	}
	return l
}

// sub is one subscription: a filter and the subscriber's id.
type sub struct {
	f  levels
	id int
}

// subSet is a generated workload: subscriptions and the topics to publish.
type subSet struct {
	subs   []sub
	topics []levels // the lookups rotate over these
}

// randomSet returns n random subscriptions and a literal topic that matches
// at least one of them (the literal topic of a random exact filter).
func randomSet(n int, seed uint64) subSet {
	r := rand.New(rand.NewPCG(seed, 1))
	s := subSet{subs: make([]sub, n)}
	for i := range s.subs {
		s.subs[i] = sub{randomFilter(r), i}
	}
	s.subs[0].f = randomTopic(r) // guarantee one exact match
	s.topics = []levels{s.subs[0].f}
	return s
}

// wideSet is the "13 matches" workload: 10,000 exact subscriptions, 1,000
// single-level-wildcard subscriptions and 6 multi-level ones, with a topic
// ("metrics/host42/cpu/load") that matches exactly 1 exact, 8 single-level
// and 4 multi-level subscriptions. topics holds the literal topics of the
// exact subscriptions (10,000 distinct topics for the rotating lookups).
func wideSet(seed uint64) subSet {
	r := rand.New(rand.NewPCG(seed, 2))
	target := levels{"metrics", "host42", "cpu", "load"}
	host := func(i int) string { return "host" + strconv.Itoa(i) }
	metric := func(i int) string {
		if i == 0 {
			return "cpu"
		}
		return "m" + strconv.Itoa(i)
	}
	stat := func(i int) string {
		if i == 0 {
			return "load"
		}
		return "s" + strconv.Itoa(i)
	}
	var s subSet
	id := 0
	add := func(f levels) {
		s.subs = append(s.subs, sub{f, id})
		id++
	}
	// 10,000 distinct exact filters, the target among them.
	seen := map[string]bool{}
	add(target)
	seen[target.mqtt()] = true
	s.topics = append(s.topics, target)
	for len(seen) < 10_000 {
		f := levels{"metrics", host(r.IntN(1000)), metric(r.IntN(100)), stat(r.IntN(10))}
		if k := f.mqtt(); !seen[k] {
			seen[k] = true
			add(f)
			s.topics = append(s.topics, f)
		}
	}
	// 8 single-level wildcard filters that match the target...
	for _, f := range []levels{
		{"+", "host42", "cpu", "load"},
		{"metrics", "+", "cpu", "load"},
		{"metrics", "host42", "+", "load"},
		{"metrics", "host42", "cpu", "+"},
		{"+", "+", "cpu", "load"},
		{"metrics", "+", "+", "load"},
		{"metrics", "host42", "+", "+"},
		{"+", "host42", "+", "load"},
	} {
		add(f)
	}
	// ...and 992 that do not, of the same shapes.
	for n := 0; n < 992; {
		f := levels{"metrics", host(r.IntN(1000)), metric(r.IntN(100)), stat(r.IntN(10))}
		for i := range 1 + r.IntN(2) {
			_ = i
			f[r.IntN(4)] = "+"
		}
		if !f.matches(target) {
			add(f)
			n++
		}
	}
	// Multi-level: 4 match, 2 do not.
	for _, f := range []levels{
		{"#"},
		{"metrics", "#"},
		{"metrics", "host42", "#"},
		{"metrics", "host42", "cpu", "#"},
		{"logs", "#"},
		{"metrics", "host7", "#"},
	} {
		add(f)
	}
	return s
}

// fanoutSet is 100 subscribers on one topic.
func fanoutSet() subSet {
	t := levels{"room", "42", "chat"}
	s := subSet{topics: []levels{t}}
	for i := range 100 {
		s.subs = append(s.subs, sub{t, i})
	}
	return s
}

// expected returns how many subscriptions of s match topic, by brute force.
func (s *subSet) expected(topic levels) int {
	n := 0
	for _, x := range s.subs {
		if x.f.matches(topic) {
			n++
		}
	}
	return n
}
