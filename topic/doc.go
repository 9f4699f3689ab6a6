// Package topic holds the vocabulary that every layer of Herald shares for
// channels: the two matching modes, the length limit, the rules a message
// channel and a filter follow whatever their syntax, and a reference matcher.
//
// A channel is a string of levels, each followed by '/': "a/b/c/". A filter
// may also have "+" levels (exactly one level) and a last "#" level (the
// rest). How a filter matches channels depends on the Mode:
//
//   - Emitter (the zero Mode): a filter matches the channels at its own depth
//     and every descendant, so "a/" matches "a/", "a/b/" and "a/b/c/"; a
//     trailing "#" means the same as the filter without it.
//   - MQTT: a filter matches only at its own depth, except that a trailing "#"
//     matches any number of further levels (zero included); a filter whose
//     first level is a wildcard never matches a channel whose first level
//     starts with '$'.
//
// The layers above add their own syntax on top of these rules: the security
// package parses Emitter's channel grammar (keys, options, allowed
// characters), the trie adds share groups, a transport adds MQTT's. Each of
// them accepts only channels that ValidateChannel accepts, so a channel one
// layer takes is taken by every layer below it. Invalid channels and filters
// are reported with errors that match ErrInvalid.
package topic
