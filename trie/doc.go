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
// # Design and cost
//
// A node has an atomic pointer to each part a writer may change: its only
// literal child (the common case below the top levels), or else an
// open-addressing hash table of its literal children; its '+' child and its
// MQTT '#' subscriptions (in an extension allocated only when needed); and
// the immutable list of subscriptions that end at it. Levels are interned:
// while any node stands for a level, the trie's dictionary (a table of the
// same kind) holds one word for it, which every such node points to and
// which counts them. Tables are keyed by a seeded hash of the level
// (hash/maphash, so levels chosen by remote clients cannot be made to
// collide), kept in each slot next to the entry so that probes skip other
// entries without loading them; a child is verified by comparing its word
// pointer, a word by comparing its level. The single writer fills free slots
// in place, marks deleted children with a tombstone (or empties the slot
// when it ends a probe cluster) and replaces the whole table by a rebuilt
// one, with one atomic store, when live children and tombstones reach half
// of it or live children drop below an eighth. Readers only load pointers,
// so they never wait and never see a half-made change.
//
// A subscribe walks the filter's levels; the levels that do not exist yet
// become a chain of nodes built in one allocation (with the subscriber list
// beside it) and linked with one atomic store, after the words of their
// levels (a level no node has yet gets a new word and a copy of its bytes).
// An unsubscribe walks the same levels, replaces one subscriber list and
// unlinks the nodes left empty, dropping the words no node points to any
// more. Both cost under a microsecond whatever the
// size of the trie, plus a copy of the filter's subscriber list: the whole
// list while it is short, one of about √n shards once a channel has more
// than 128 plain subscribers (share-group members are not sharded). They
// never block a Match.
//
// Match splits the topic by index arithmetic and looks each of its levels up
// in the dictionary once, the first time the walk reaches it; from then on,
// whichever branch ('+' or literal) meets the level again finds its child by
// comparing word pointers, with no hashing or string comparison, and a level
// no node has ends every branch that needs it at once. It calls back for
// each value: no lock, no allocation, no shared write (except the
// share-group counter). The callback is not stored anywhere, so a caller's
// closure and what it captures stay on the caller's stack. Removing the last
// subscription of a node unlinks it and every ancestor left empty, and
// tables shrink, so memory returns to its earlier level after subscriptions
// come and go. Readers that still hold unlinked nodes keep them alive until
// they finish, as the garbage collector guarantees.
package trie
