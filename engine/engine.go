package engine

import (
	"crypto/rand"
	"encoding/base32"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/trie"
)

// Engine is an embeddable pub/sub engine. Create one with New and release it
// with Close. All methods of Engine, Conn and Subscription are safe for
// concurrent use, except where a method says otherwise.
type Engine struct {
	opts      Options
	log       *slog.Logger
	subs      *trie.Trie[*Subscription]
	ids       *idGen
	auth      authState     // channel keys: license, key cache, bans
	shards    []allocShard  // Message headers and payload copies
	nextShard atomic.Uint32 // shard of the next Conn

	closed atomic.Bool
	mu     sync.Mutex // guards conns
	conns  map[string]*Conn
	wg     sync.WaitGroup // handler goroutines
}

// New returns a running Engine configured by opts; the zero Options is a
// working in-memory engine with Emitter matching.
func New(opts Options) (*Engine, error) {
	clock := opts.Clock // nil: IDs read the wall clock through a wallClock
	opts = opts.withDefaults()
	if !opts.Matching.Valid() {
		return nil, ErrInvalidOption
	}
	e := &Engine{
		opts:   opts,
		log:    opts.Logger,
		subs:   trie.New[*Subscription](opts.Matching),
		ids:    newIDGen(clock),
		shards: newAllocShards(),
		conns:  make(map[string]*Conn),
	}
	if err := e.initAuth(); err != nil { // channel keys
		return nil, err
	}
	return e, nil
}

// Matching returns the engine's matching mode, Options.Matching.
func (e *Engine) Matching() topic.Mode { return e.opts.Matching }

// Close closes every connection (ending their subscriptions), waits for all
// subscription goroutines to return, and releases the engine. Messages still
// queued for a subscription are discarded. Close must not be called from a
// subscription handler, whose return it would wait for. It is idempotent: a
// second call returns nil at once. After Close, every call returns ErrClosed.
func (e *Engine) Close() error {
	if e == nil || !e.closed.CompareAndSwap(false, true) {
		return nil
	}
	e.mu.Lock()
	conns := make([]*Conn, 0, len(e.conns))
	for _, c := range e.conns {
		conns = append(conns, c)
	}
	e.mu.Unlock()
	for _, c := range conns {
		c.close()
	}
	e.wg.Wait()
	return e.closeHistory() // commits queued stores, stops the sweeper
}

// Connect opens a connection: the identity under which in-process code
// publishes and subscribes, and which a transport creates for each network
// client. Close the Conn when done; Engine.Close closes all of them.
func (e *Engine) Connect(opts ConnOptions) (*Conn, error) {
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if opts.ID == "" {
		opts.ID = newConnID()
	}
	c := &Conn{e: e, id: Identity{id: opts.ID, username: opts.Username, data: opts.Data}, trusted: opts.Trusted, subs: make(map[*Subscription]struct{})}
	c.alloc = &e.shards[int(e.nextShard.Add(1))&(len(e.shards)-1)]
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return nil, ErrClosed
	}
	if _, ok := e.conns[c.id.id]; ok {
		return nil, ErrConnExists
	}
	e.conns[c.id.id] = c
	return c, nil
}

// newConnID returns 26 characters of base32 (A-Z, 2-7) from 16 random bytes,
// the shape of Emitter's connection ids.
func newConnID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])
}

// startHandler starts the handler goroutine of a queued subscription with a
// handler (and closes s.done at once for the others). It reports false, and
// starts nothing, when the engine is closing: under e.mu so that wg.Add never
// races with Close's wg.Wait.
func (e *Engine) startHandler(s *Subscription) bool {
	if s.handler == nil || s.inline {
		if e.closed.Load() {
			return false
		}
		close(s.done)
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed.Load() {
		return false
	}
	e.wg.Add(1)
	go s.run()
	return true
}

// removeConn forgets c.
func (e *Engine) removeConn(c *Conn) {
	e.mu.Lock()
	if e.conns[c.id.id] == c {
		delete(e.conns, c.id.id)
	}
	e.mu.Unlock()
}
