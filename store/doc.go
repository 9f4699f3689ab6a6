// Package store keeps Herald's message history: messages published with a
// TTL, retained messages, and queries by channel with last / from / until.
//
// # Basics
//
// A Store saves Messages and answers Queries. Two implementations are in this
// package: Memory (B-trees in memory, github.com/tidwall/btree) and Bolt (one
// durable go.etcd.io/bbolt file, laid out as a log in write order with an
// index in memory; see Bolt). Both pass the conformance suite in
// store/storetest, which any other implementation can run too.
//
//	st, err := store.OpenBolt("history.db", store.Options{})
//	...
//	err = st.Store(ctx, store.Message{ID: id, Channel: "a/b/", Payload: p, Expires: exp})
//	msgs, err := st.Query(ctx, store.Query{Filter: "a/", Last: 10})
//
// Channels use Emitter's syntax: levels separated by '/', ending with one '/'
// ("a/b/c/"). A message ID is 16 bytes: the big-endian publish time in unix
// nanoseconds, then 8 bytes that tell publishers apart, so byte order is time
// order and results are in a stable publish order even within one second.
//
// # Queries
//
// A Query's Filter matches channels as the engine does, by the rules of
// package topic: Query.Matching is topic.Emitter (a filter also matches every
// descendant channel, "+" is one level, a trailing "#" is the same as the
// prefix) or topic.MQTT (exact depth, "+" one level, "#" the rest). Query.Last selects the newest messages, Query.Limit the oldest;
// results are always oldest to newest. Both are clamped to Options.MaxResults
// (default 1000) and a response holds at most Options.MaxResponseBytes
// (default 64 KiB, counting ID, channel and payload), so a query allocates a
// bounded amount whatever it asks for. Page with Query.After and Query.Before.
//
// # Expiry
//
// A message with a non-zero Expires is never returned once that time has
// passed. A background sweeper (every Options.SweepInterval) removes expired
// messages in bounded batches, so it never stalls writers for long; it stops
// on Close. Bolt keeps its history in buckets by expiry slot (about one
// second) and removes a slot as a whole once all of it has expired.
//
// # Bans
//
// Bolt and Memory also keep a list of banned keys (AddBan, RemoveBan, LoadBans): they
// implement the engine's BanStore, so an engine whose store is a Bolt keeps
// its key bans across restarts.
//
// # Retained messages
//
// A Message with Retained set is the retained message of its channel, with
// MQTT's meaning: one per channel, replaced by the next retained message (by
// ID: an older one never replaces a newer one that has not expired) and
// cleared by a retained message with an empty payload. Retained messages are
// not part of the history; Store.Retained lists those matching a filter.
//
// # Durability
//
// Memory keeps nothing across Close. Bolt returns from Store only after the
// messages are written and synced to disk (fdatasync), so every acknowledged
// message survives a crash of the process or of the machine. Concurrent
// Store calls share one write and one sync (group commit by a single
// committer goroutine that writes whatever is queued, never waiting on a
// timer): history goes to a write-ahead log next to the bbolt file (one sync
// per group) and from there, in the background, into bbolt; see Bolt.
// Options.NoSync skips the syncs: faster, safe against a process crash,
// UNSAFE against an operating system crash or power loss.
// If the context of a Store call is done before the commit, Store returns the
// context's error and the messages may or may not be stored.
//
// # Concurrency
//
// Every Store in this package is safe for concurrent use by any number of
// goroutines. A Query sees every Store call that returned before it started.
// Close waits for the background goroutines it started (sweeper, committer,
// indexer, applier) and leaves none behind; calls after Close return
// ErrClosed.
//
// # Limits
//
// Payloads above Options.MaxMessageSize (default 64 KiB, may be raised) get a
// *SizeError (ErrTooLarge). Invalid channels and filters (see
// topic.ValidateChannel) get a *topic.Error (topic.ErrInvalid); negative expiry values get ErrInvalidExpiry; negative
// or conflicting query fields get ErrInvalidQuery. ExpiresAfter clamps TTLs
// above MaxTTL.
package store
