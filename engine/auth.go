package engine

import (
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/topic"
)

// This file checks channel keys on the publish, subscribe and unsubscribe
// paths; keys.go holds the public API (keygen, bans, the license).

// operation is what a connection asks to do with a channel.
type operation uint8

const (
	opPublish operation = iota + 1
	opSubscribe
	opUnsubscribe
	opHistory
)

// permission returns the key permission op needs: w to publish, r to
// subscribe or unsubscribe, l to read history (as in Emitter).
func (op operation) permission() security.Permission {
	switch op {
	case opPublish:
		return security.PermWrite
	case opHistory:
		return security.PermLoad
	}
	return security.PermRead
}

// errNoKey is returned when an untrusted connection acts without a key.
var errNoKey = security.NewKeyError(security.ErrInvalidKey)

// errBanned is returned for a banned key.
var errBanned = security.NewKeyError(security.ErrKeyBanned)

// errKeyExpired is returned for a remembered key that has expired since, as
// License.Check would.
var errKeyExpired = security.NewKeyError(security.ErrKeyExpired)

// authorize checks that c may perform op on ch with the key in co, in
// Emitter's order: the channel has already been parsed; then the key is not
// banned, decrypts, has not expired, belongs to the license, has the
// permission op needs (w or r; a key with e is refused) and its target
// allows the channel. The error carries Emitter's status (see StatusOf).
//
// A trusted connection without a key may do anything. With a key, every
// connection is checked the same way.
//
// Store (s) and load (l) are soft permissions, as in Emitter: without s a
// publish is delivered but not stored (its TTL and retain flag are dropped
// from co); without l a subscription gets no replay: neither the history
// that last, from and until ask for nor retained messages (co.noLoad).
//
// For a key already seen this does not allocate: decrypted keys are cached
// (keyCache) and the ban list is an immutable map read without a lock. A
// connection also remembers its last successful authorization (authMemo),
// so that a client publishing to one channel again and again skips the
// cache and the channel check (see BenchmarkAuthorize).
func (e *Engine) authorize(c *Conn, op operation, ch *security.Channel, co *callOptions) error {
	if co.has&hasKey == 0 {
		if c.trusted {
			return nil
		}
		return errNoKey
	}
	a := &e.auth
	if a.isBanned(co.key) {
		return errBanned
	}
	perm := op.permission()
	k, ok := c.recall(co.key, ch.Path, perm)
	if !ok {
		var err error
		if k, err = a.decrypt(co.key); err != nil {
			return err
		}
	}
	var now time.Time // most keys never expire: read the clock only for those that do
	if k.ExpiryRaw() != 0 {
		now = e.opts.Clock()
	}
	if ok {
		// The key passed Authorize for this channel and perm before, and
		// the license, the key and perm are immutable: what can have
		// changed since is its expiry (and bans, checked above).
		if k.IsExpired(now) {
			return errKeyExpired
		}
	} else {
		if err := a.license.Authorize(k, perm, ch.Path, now); err != nil {
			return err
		}
		c.remember(co.key, ch.Path, perm, k)
	}
	switch op {
	case opPublish:
		if !k.HasPermission(security.PermStore) {
			co.has &^= hasTTL | hasRetain
		}
	case opSubscribe:
		if !k.HasPermission(security.PermLoad) {
			co.has &^= hasLast | hasFrom | hasUntil
			co.noLoad = true
		}
	}
	return nil
}

// authMemo is a connection's last successful authorization: a client
// that keeps publishing (or subscribing) to one channel with one key skips
// the key cache and the channel check. Bans and expiry are still checked
// every time.
type authMemo struct {
	key, channel string
	perm         security.Permission
	k            security.Key
}

// recall returns the key of the connection's last authorization if it was
// for key, channel and perm. It never waits: a connection used by several
// goroutines at once just misses.
func (c *Conn) recall(key, channel string, perm security.Permission) (security.Key, bool) {
	if !c.memoMu.TryLock() {
		return security.Key{}, false
	}
	m := &c.memo
	k, ok := m.k, m.key == key && m.channel == channel && m.perm == perm && key != ""
	c.memoMu.Unlock()
	return k, ok
}

// remember records a successful authorization for recall.
func (c *Conn) remember(key, channel string, perm security.Permission, k security.Key) {
	if c.memoMu.TryLock() {
		c.memo = authMemo{key: key, channel: channel, perm: perm, k: k}
		c.memoMu.Unlock()
	}
}

// authState is the engine's key state: the license, a cache of decrypted
// keys and the ban list.
//
// Locks: banMu is taken only by ban changes, and may be held while a cache
// shard's mu is taken (never the reverse); both are leaves with respect to
// the engine's other locks. BanStore.AddBan and RemoveBan run under banMu, so ban changes
// are persisted in the order they take effect. The publish path takes only a
// shard's read lock.
type authState struct {
	license *security.License
	cache   keyCache

	bans  atomic.Pointer[map[string]struct{}] // immutable; replaced on change
	banMu sync.Mutex                          // serialises ban changes and their persistence
	store BanStore                            // nil: bans live in memory only
}

// isBanned reports whether key is banned. It takes no lock.
func (a *authState) isBanned(key string) bool {
	m := *a.bans.Load()
	if len(m) == 0 {
		return false
	}
	_, ok := m[key]
	return ok
}

// decrypt returns the decrypted key, from the cache when it has been seen.
func (a *authState) decrypt(s string) (security.Key, error) {
	if k, ok := a.cache.get(s); ok {
		return k, nil
	}
	k, err := a.license.DecryptKey(s)
	if err != nil {
		return k, err
	}
	a.cache.put(s, k)
	return k, nil
}

// keyCache is a bounded cache of decrypted keys, keyed by the key string.
// It is split into shards, each a map under its own RWMutex; a full shard
// evicts an arbitrary entry (Go's map iteration order is randomised), which
// keeps the cost of a flood of distinct keys bounded. Entries are removed
// when their key is banned. The zero value is disabled (size 0).
type keyCache struct {
	perShard int
	shards   [keyCacheShards]keyShard
}

const keyCacheShards = 16

type keyShard struct {
	mu sync.RWMutex
	m  map[string]security.Key
	_  [64 - 32]byte // keep shards on separate cache lines
}

func (c *keyCache) init(size int) {
	if size <= 0 {
		return
	}
	c.perShard = max(1, (size+keyCacheShards-1)/keyCacheShards)
	for i := range c.shards {
		c.shards[i].m = make(map[string]security.Key)
	}
}

// shard picks a shard from the last character of the key, which is as
// random as the key's ciphertext.
func (c *keyCache) shard(s string) *keyShard {
	return &c.shards[s[len(s)-1]%keyCacheShards]
}

func (c *keyCache) get(s string) (security.Key, bool) {
	if c.perShard == 0 || s == "" {
		return security.Key{}, false
	}
	sh := c.shard(s)
	sh.mu.RLock()
	k, ok := sh.m[s]
	sh.mu.RUnlock()
	return k, ok
}

func (c *keyCache) put(s string, k security.Key) {
	if c.perShard == 0 || s == "" {
		return
	}
	sh := c.shard(s)
	sh.mu.Lock()
	if len(sh.m) >= c.perShard {
		for old := range sh.m {
			delete(sh.m, old)
			break
		}
	}
	// The key string may be part of a transport's reused buffer.
	sh.m[strings.Clone(s)] = k
	sh.mu.Unlock()
}

func (c *keyCache) remove(s string) {
	if c.perShard == 0 || s == "" {
		return
	}
	sh := c.shard(s)
	sh.mu.Lock()
	delete(sh.m, s)
	sh.mu.Unlock()
}

// StatusOf returns the status Emitter would send for an error returned by
// the engine, with its exact message: 400 for an invalid channel, topic or
// option, 401 for a refused key, 403 for a publish to a wildcard channel, 404
// for an unknown contract in keygen, 500 for anything else (including
// ErrClosed). It returns nil for a nil error. A transport sends
// {"status":s.Status,"message":s.Message}.
func StatusOf(err error) *security.StatusError {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrWildcardPublish):
		return security.ErrStatusForbidden
	case errors.Is(err, topic.ErrInvalid), errors.Is(err, ErrInvalidOption):
		return security.ErrStatusBadRequest
	}
	return security.StatusOf(err)
}
