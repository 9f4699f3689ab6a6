// Package trie is a concurrent wildcard subscription trie for Herald channels.
//
// A Trie maps channel filters to subscriber values of any comparable type and
// answers "who is subscribed to this channel?" without taking a lock and
// without allocating. Writers (Insert, Remove) serialise among themselves on a
// mutex; readers (Match, MatchAppend, Count) never wait for them.
//
// See the Trie type for the matching rules of the two modes (Emitter's prefix
// semantics and MQTT's leaf semantics) and for share groups.
package trie
