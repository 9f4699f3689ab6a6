// Package trie is a concurrent wildcard subscription trie for Herald
// channels.
//
// A [Trie] maps filters to subscriber values of any comparable type and
// answers "who is subscribed to this topic?" without taking a lock and
// without allocating. Writers ([Trie.Insert], [Trie.Remove]) serialise among
// themselves on a mutex; readers ([Trie.Match], [Trie.MatchFiltered],
// [Trie.MatchAppend], [Trie.Count], [Trie.All]) never wait for them.
//
//	t := trie.New[*Conn](trie.Emitter)
//	_ = t.Insert("chat/+/", conn)
//	t.Match("chat/general/", func(c *Conn) { c.deliver(msg) })
//
// # Filters and topics
//
// Filters and topics are strings of levels separated by '/'. One trailing '/'
// ends the string and is not a level, so "a/b/c/" and "a/b/c" are both the
// levels [a b c], and "a/b//" is [a b ""]. Empty levels are allowed (MQTT
// allows them); the empty string is not a valid filter and matches nothing as
// a topic.
//
// In a filter, a level "+" matches exactly one level and a level "#", allowed
// only as the last level, matches the rest (see the modes below). A wildcard
// must be a whole level: "a+" or "#b" is rejected. In a topic, '+' and '#' are
// ordinary bytes; the caller validates topics. A bad filter gives a
// [*FilterError] that names the level and the reason and wraps
// [topic.ErrInvalid].
//
// # Matching modes
//
// A Trie matches with one of two rule sets, chosen by [New]:
//
//   - [Emitter] (prefix semantics, Emitter's default): a filter matches topics
//     at its own depth and below, so "a/" receives "a/", "a/b/" and "a/b/c/";
//     "+" matches one level, and "a/+/" also receives "a/x/y/". A trailing "#"
//     means the same as the filter without it ("a/#/" is "a/", "#/" matches
//     everything). Emitter's own broker accepts "a/#/" and then never delivers
//     to it; this package delivers.
//   - [MQTT] (MQTT 3.1.1): a filter matches topics of its own depth only; "+"
//     matches one level; a trailing "#" matches any number of further levels,
//     zero included ("a/#" matches "a" and "a/b/c"); a filter whose first
//     level is "+" or "#" never matches a topic whose first level starts with
//     '$' ("#" does not receive "$SYS/x").
//
// # Share groups
//
// A filter "$share/<group>/<filter>" subscribes its value as a member of the
// named group, in both modes. The group name must be non-empty and contain no
// wildcard, and at least one level must follow it. For each topic, a group
// with matching members (across all of its filters) is reported exactly once,
// through one of them; the other subscriptions are unaffected.
//
// The member is chosen by round robin: Match counts the group's matching
// members n, takes a ticket k from the group's counter (one atomic increment)
// and reports the member with index k mod n in a fixed walk order. Members
// that always match together therefore take strict turns: three members and
// 3000 matches give exactly 1000 each. [Trie.MatchFiltered] chooses among the
// members its keep function accepts, so a publisher excluded by no-echo does
// not make its group miss the message. The counter is the only memory a
// Match writes, and only when a share group matches.
//
// Subscriptions are a multiset: inserting the same (filter, value) twice
// stores it twice and Match reports it twice; each Remove drops one.
//
// # Concurrency
//
// All methods of Trie are safe for concurrent use. A Match that runs while
// writers change the trie sees every subscription that stays in place for
// its whole duration, may or may not see the ones being added or removed,
// and never reports a value that was never inserted. Callbacks run on the
// caller's goroutine, are not retained, and must not block for long: a
// callback that runs Insert or Remove on the same trie is safe, but whether
// the running Match sees the change is unspecified.
//
// # Cost
//
// Match takes no lock and allocates nothing, and its cost does not grow with
// the number of subscriptions (see BenchmarkMatch). Insert and Remove copy one
// subscriber list, or one shard of a long one, and never block a Match.
package trie
