package engine_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
)

// A license and keys from a real Emitter broker (security/vectors_test.go).
const (
	emitterLicense = "PfA8IFBKLxUndYEooeCnvtECGQI5CuDvpHbu1NUoTSPNosAJEAnVyfJ1ZTw-FCroriETLMvbyOuJCISnu_wFAQ:3"
	emitterMaster  = "AQL8N0XilRpRhN5KazCYuJk6pvpb8nj4"
	emitterRWabc   = "EjTvFZJ18rzaeWnzVqD7sg6H7j51SGgK" // rw on a/b/c/
)

func untrusted(t testing.TB, e *engine.Engine) *engine.Conn {
	t.Helper()
	c, err := e.Connect(engine.ConnOptions{})
	require.NoError(t, err)
	return c
}

func mint(t testing.TB, e *engine.Engine, channel, perms string, ttl time.Duration) string {
	t.Helper()
	k, err := e.License().Mint(security.KeySpec{Channel: channel, Permissions: security.ParsePermissions(perms), TTL: ttl, Now: time.Now()})
	require.NoError(t, err)
	return k
}

func requireStatus(t testing.TB, err error, status *security.StatusError) {
	t.Helper()
	require.Error(t, err)
	require.Equal(t, status, engine.StatusOf(err), "%v", err)
}

func TestEngineLicense(t *testing.T) {
	// No license: the engine makes one and never refuses to start.
	a := newEngine(t, engine.Options{})
	b := newEngine(t, engine.Options{})
	require.Equal(t, 3, a.License().Generation())
	require.False(t, a.License().Equal(b.License()))

	// The caller keeps it; the same keys work after a restart.
	key := mint(t, a, "a/", "rw", 0)
	again := newEngine(t, engine.Options{License: a.License().Encode()})
	require.NoError(t, untrusted(t, again).Publish(t.Context(), "a/", nil, engine.WithKey(key)))
	requireStatus(t, untrusted(t, b).Publish(t.Context(), "a/", nil, engine.WithKey(key)), security.ErrStatusUnauthorized)

	// An Emitter license keeps Emitter's keys working.
	em := newEngine(t, engine.Options{License: emitterLicense})
	require.EqualValues(t, 2168120411, em.License().Contract())
	require.NoError(t, untrusted(t, em).Publish(t.Context(), "a/b/c/", nil, engine.WithKey(emitterRWabc)))

	_, err := engine.New(engine.Options{License: "garbage:3"})
	require.ErrorIs(t, err, security.ErrInvalidLicense)
	require.NotContains(t, err.Error(), "garbage")
}

func TestAuthorizeStatuses(t *testing.T) {
	ctx := t.Context()
	now := time.Now()
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	e := newEngine(t, engine.Options{License: emitterLicense, Clock: func() time.Time { return *clock.Load() }})
	c := untrusted(t, e)
	other := security.NewLicense()
	otherKey, err := other.Mint(security.KeySpec{Channel: "a/b/c/", Permissions: security.ParsePermissions("rw")})
	require.NoError(t, err)
	short := mint(t, e, "a/b/c/", "rw", time.Minute)

	for name, tc := range map[string]struct {
		err    error
		status *security.StatusError
		reason error
	}{
		"no key":            {c.Publish(ctx, "a/b/c/", nil), security.ErrStatusUnauthorized, security.ErrInvalidKey},
		"malformed key":     {c.Publish(ctx, "a/b/c/", nil, engine.WithKey("nope")), security.ErrStatusUnauthorized, security.ErrInvalidKey},
		"other license":     {c.Publish(ctx, "a/b/c/", nil, engine.WithKey(otherKey)), security.ErrStatusUnauthorized, nil},
		"wrong channel":     {c.Publish(ctx, "a/b/", nil, engine.WithKey(emitterRWabc)), security.ErrStatusUnauthorized, security.ErrChannelDenied},
		"deeper channel":    {c.Publish(ctx, "a/b/c/d/", nil, engine.WithKey(emitterRWabc)), security.ErrStatusUnauthorized, security.ErrChannelDenied},
		"master as channel": {c.Publish(ctx, "a/b/c/", nil, engine.WithKey(emitterMaster)), security.ErrStatusUnauthorized, security.ErrPermissionDenied},
		"read-only publish": {c.Publish(ctx, "r/", nil, engine.WithKey(mint(t, e, "r/", "r", 0))), security.ErrStatusUnauthorized, security.ErrPermissionDenied},
		"write-only sub":    {sub(c, ctx, "w/", mint(t, e, "w/", "w", 0)), security.ErrStatusUnauthorized, security.ErrPermissionDenied},
		"write-only unsub":  {c.Unsubscribe("w/", engine.WithKey(mint(t, e, "w/", "w", 0))), security.ErrStatusUnauthorized, security.ErrPermissionDenied},
		"wildcard publish":  {c.Publish(ctx, "a/+/c/", nil, engine.WithKey(emitterRWabc)), security.ErrStatusForbidden, engine.ErrWildcardPublish},
		"invalid channel":   {c.Publish(ctx, "a/b/c", nil, engine.WithKey(emitterRWabc)), security.ErrStatusBadRequest, topic.ErrInvalid},
		"extend key":        {c.Publish(ctx, "p/", nil, engine.WithKey(mint(t, e, "p/", "rwe", 0))), security.ErrStatusExtendOnly, security.ErrExtendOnly},
		"extend key sub":    {sub(c, ctx, "p/", mint(t, e, "p/", "rwe", 0)), security.ErrStatusExtendOnly, security.ErrExtendOnly},
		"extend key unsub":  {c.Unsubscribe("p/", engine.WithKey(mint(t, e, "p/", "rwe", 0))), security.ErrStatusExtendOnly, security.ErrExtendOnly},
	} {
		t.Run(name, func(t *testing.T) {
			requireStatus(t, tc.err, tc.status)
			if tc.reason != nil {
				require.ErrorIs(t, tc.err, tc.reason)
			}
		})
	}

	// Valid keys work; an expired one stops working when the clock passes.
	require.NoError(t, c.Publish(ctx, "a/b/c/", nil, engine.WithKey(emitterRWabc)))
	require.NoError(t, sub(c, ctx, "a/b/c/", emitterRWabc))
	require.NoError(t, c.Unsubscribe("a/b/c/", engine.WithKey(emitterRWabc)))
	require.NoError(t, c.Publish(ctx, "a/b/c/", nil, engine.WithKey(short)))
	later := now.Add(2 * time.Minute)
	clock.Store(&later)
	err = c.Publish(ctx, "a/b/c/", nil, engine.WithKey(short))
	requireStatus(t, err, security.ErrStatusUnauthorized)
	require.ErrorIs(t, err, security.ErrKeyExpired)

	// A trusted connection needs no key, but a key it gives is checked.
	tc := connect(t, e)
	require.NoError(t, tc.Publish(ctx, "anything/", nil))
	requireStatus(t, tc.Publish(ctx, "a/b/", nil, engine.WithKey(emitterRWabc)), security.ErrStatusUnauthorized)
	require.Nil(t, engine.StatusOf(nil))
	require.Equal(t, security.ErrStatusInternal, engine.StatusOf(engine.ErrClosed))
}

func sub(c *engine.Conn, ctx context.Context, channel, key string) error {
	_, err := c.Subscribe(ctx, channel, nil, engine.WithKey(key))
	return err
}

func TestKeyedDelivery(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{})
	reader, writer := untrusted(t, e), untrusted(t, e)
	rk := mint(t, e, "room/#/", "r", 0)
	wk := mint(t, e, "room/1/", "w", 0)
	ws := mint(t, e, "room/1/", "ws", 0)
	s, err := reader.Subscribe(ctx, "room/", nil, engine.WithKey(rk))
	require.NoError(t, err)

	// Without s a publish is delivered but not stored (TTL dropped).
	require.NoError(t, writer.Publish(ctx, "room/1/?ttl=30", []byte("one"), engine.WithKey(wk)))
	require.NoError(t, writer.Publish(ctx, "room/1/?ttl=30", []byte("two"), engine.WithKey(ws)))
	m, err := s.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, "one", m.String())
	require.Zero(t, m.TTL)
	m, err = s.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, "two", m.String())
	require.Equal(t, 30*time.Second, m.TTL)
}

func TestKeygenAndExtend(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{License: emitterLicense})
	c := untrusted(t, e)

	key, ch, err := c.Keygen(emitterMaster, security.KeySpec{Channel: "a/#/", Permissions: security.ParsePermissions("rw")})
	require.NoError(t, err)
	require.Equal(t, "a/#/", ch)
	require.NoError(t, c.Publish(ctx, "a/x/", nil, engine.WithKey(key)))

	_, _, err = c.Keygen(emitterMaster, security.KeySpec{Channel: "a/b", Permissions: security.PermRead})
	requireStatus(t, err, security.ErrStatusTargetNoSlash)
	_, _, err = c.Keygen(emitterRWabc, security.KeySpec{Channel: "a/", Permissions: security.PermRead})
	requireStatus(t, err, security.ErrStatusUnauthorized)

	// Extend: E (rwe on p/) makes a key for p/<conn id>/ with rw only.
	ext, _, err := c.Keygen(emitterMaster, security.KeySpec{Channel: "p/", Permissions: security.ParsePermissions("rwe")})
	require.NoError(t, err)
	requireStatus(t, c.Publish(ctx, "p/", nil, engine.WithKey(ext)), security.ErrStatusExtendOnly)
	priv, ch, err := c.Keygen(ext, security.KeySpec{Channel: "p/", Permissions: security.ParsePermissions("rwsl")})
	require.NoError(t, err)
	require.Equal(t, "p/"+c.ID()+"/", ch)
	k, err := e.License().DecryptKey(priv)
	require.NoError(t, err)
	require.Equal(t, security.ParsePermissions("rw"), k.Permissions())
	got := newCollector()
	_, err = c.Subscribe(ctx, ch, got.handle, engine.WithKey(priv))
	require.NoError(t, err)
	require.NoError(t, c.Publish(ctx, ch, []byte("private"), engine.WithKey(priv)))
	got.wait(t, 1)
	requireStatus(t, c.Publish(ctx, "p/", nil, engine.WithKey(priv)), security.ErrStatusUnauthorized)
}

func TestBanUnban(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{License: emitterLicense})
	c := untrusted(t, e)
	require.NoError(t, c.Publish(ctx, "a/b/c/", nil, engine.WithKey(emitterRWabc))) // now cached

	require.NoError(t, e.Ban(ctx, emitterMaster, emitterRWabc))
	require.True(t, e.Banned(emitterRWabc))
	err := c.Publish(ctx, "a/b/c/", nil, engine.WithKey(emitterRWabc))
	requireStatus(t, err, security.ErrStatusUnauthorized)
	require.ErrorIs(t, err, security.ErrKeyBanned)
	requireStatus(t, sub(c, ctx, "a/b/c/", emitterRWabc), security.ErrStatusUnauthorized)
	requireStatus(t, c.Unsubscribe("a/b/c/", engine.WithKey(emitterRWabc)), security.ErrStatusUnauthorized)
	require.NoError(t, e.Ban(ctx, emitterMaster, emitterRWabc), "banning twice is fine")

	require.NoError(t, e.Unban(ctx, emitterMaster, emitterRWabc))
	require.False(t, e.Banned(emitterRWabc))
	require.NoError(t, c.Publish(ctx, "a/b/c/", nil, engine.WithKey(emitterRWabc)))

	// Only a master key of the license bans, and only keys of the license.
	requireStatus(t, e.Ban(ctx, emitterRWabc, emitterRWabc), security.ErrStatusUnauthorized)
	err = e.Ban(ctx, emitterMaster, "not-a-key")
	requireStatus(t, err, security.ErrStatusBadRequest)
	require.ErrorIs(t, err, engine.ErrInvalidBanTarget)
	otherKey, err := security.NewLicense().Mint(security.KeySpec{Channel: "a/", Permissions: security.PermRead})
	require.NoError(t, err)
	require.ErrorIs(t, e.Ban(ctx, emitterMaster, otherKey), engine.ErrInvalidBanTarget)

	// A banned master key can neither generate keys nor lift bans.
	second := e.License().NewMasterKey()
	require.NoError(t, e.Ban(ctx, second, emitterMaster))
	_, _, err = c.Keygen(emitterMaster, security.KeySpec{Channel: "a/", Permissions: security.PermRead})
	require.ErrorIs(t, err, security.ErrKeyBanned)
	require.ErrorIs(t, e.Unban(ctx, emitterMaster, emitterMaster), security.ErrKeyBanned)
	require.NoError(t, e.Unban(ctx, second, emitterMaster))
}

// TestBanImmediate bans a key while other goroutines publish with it:
// every publish that starts after Ban returns is refused.
func TestBanImmediate(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{License: emitterLicense})
	var banned atomic.Bool
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		c := untrusted(t, e)
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				after := banned.Load()
				err := c.Publish(ctx, "a/b/c/", nil, engine.WithKey(emitterRWabc))
				if after && err == nil {
					t.Error("publish accepted after the ban")
					return
				}
			}
		})
	}
	require.NoError(t, e.Ban(ctx, emitterMaster, emitterRWabc))
	banned.Store(true)
	// Let every publisher observe the ban at least once.
	c := untrusted(t, e)
	require.ErrorIs(t, c.Publish(ctx, "a/b/c/", nil, engine.WithKey(emitterRWabc)), security.ErrKeyBanned)
	close(stop)
	wg.Wait()
}

func TestBansSurviveRestart(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "bans")
	opts := engine.Options{License: emitterLicense, Bans: engine.BanFile(path)}
	e, err := engine.New(opts)
	require.NoError(t, err)
	k2 := mint(t, e, "x/", "r", 0)
	require.NoError(t, e.Ban(ctx, emitterMaster, emitterRWabc))
	require.NoError(t, e.Ban(ctx, emitterMaster, k2))
	require.NoError(t, e.Unban(ctx, emitterMaster, k2))
	require.NoError(t, e.Close())

	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, emitterRWabc+"\n", string(b))

	opts.Bans = engine.BanFile(path) // a fresh reader of the same file
	e = newEngine(t, opts)
	require.True(t, e.Banned(emitterRWabc))
	require.False(t, e.Banned(k2))
	require.ErrorIs(t, untrusted(t, e).Publish(ctx, "a/b/c/", nil, engine.WithKey(emitterRWabc)), security.ErrKeyBanned)

	// A ban list that cannot be read stops New with an error.
	_, err = engine.New(engine.Options{Bans: engine.BanFile(t.TempDir())})
	require.Error(t, err)
}

func TestKeyCacheDisabled(t *testing.T) {
	e := newEngine(t, engine.Options{License: emitterLicense, KeyCacheSize: -1})
	c := untrusted(t, e)
	for range 3 {
		require.NoError(t, c.Publish(t.Context(), "a/b/c/", nil, engine.WithKey(emitterRWabc)))
	}
}

// TestLoadPermission: without l a keyed subscriber gets no replay, neither
// the history it asks for nor retained messages (as in Emitter, where
// retained messages are stored messages); with l it gets both.
func TestLoadPermission(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{Store: store.NewMemory(store.Options{})})
	pub := connect(t, e)
	require.NoError(t, pub.Publish(ctx, "news/", []byte("kept"), engine.WithTTL(time.Hour)))
	require.NoError(t, pub.Publish(ctx, "news/", []byte("retained"), engine.WithRetain()))

	c := untrusted(t, e)
	noLoad, err := c.Subscribe(ctx, "news/?last=10", nil, engine.WithKey(mint(t, e, "news/", "r", 0)))
	require.NoError(t, err)
	withLoad, err := c.Subscribe(ctx, "news/?last=10", nil, engine.WithKey(mint(t, e, "news/", "rl", 0)))
	require.NoError(t, err)

	require.NoError(t, pub.Publish(ctx, "news/", []byte("live")))
	m, err := noLoad.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, "live", m.String(), "no replay without l")

	var got []string
	for range 3 {
		m, err := withLoad.Next(ctx)
		require.NoError(t, err)
		got = append(got, m.String())
	}
	require.ElementsMatch(t, []string{"kept", "retained", "live"}, got)
	require.Equal(t, "live", got[2])
}

// innerStore lets banStore embed a store.Store (a field named Store would
// hide the Store method).
type innerStore = store.Store

// banStore is a store.Store that also keeps bans, in a map that outlives
// the store (a restart gets a new store over the same bans).
type banStore struct {
	innerStore
	mu   *sync.Mutex
	bans map[string]bool
}

func (s banStore) LoadBans(context.Context) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var keys []string
	for k := range s.bans {
		keys = append(keys, k)
	}
	return keys, nil
}

func (s banStore) AddBan(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bans[key] = true
	return nil
}

func (s banStore) RemoveBan(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.bans, key)
	return nil
}

func TestBansInStore(t *testing.T) {
	ctx := t.Context()
	var mu sync.Mutex
	bans := map[string]bool{}
	newStore := func() store.Store { return banStore{store.NewMemory(store.Options{}), &mu, bans} }

	e, err := engine.New(engine.Options{License: emitterLicense, Store: newStore()})
	require.NoError(t, err)
	require.NoError(t, e.Ban(ctx, emitterMaster, emitterRWabc))
	require.NoError(t, e.Close())
	require.Equal(t, map[string]bool{emitterRWabc: true}, bans)

	e = newEngine(t, engine.Options{License: emitterLicense, Store: newStore()})
	require.True(t, e.Banned(emitterRWabc), "the ban survived the restart")

	// Options.Bans wins over the store.
	path := filepath.Join(t.TempDir(), "bans")
	f := newEngine(t, engine.Options{License: emitterLicense, Store: newStore(), Bans: engine.BanFile(path)})
	require.False(t, f.Banned(emitterRWabc))
}

// TestAuthorizeRepeated runs a random sequence of keyed operations on one
// connection, which remembers its last authorization, and checks each result
// against the same operation on a fresh connection (which has nothing to
// remember).
func TestAuthorizeRepeated(t *testing.T) {
	ctx := t.Context()
	now := time.Now()
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	e := newEngine(t, engine.Options{License: emitterLicense, Clock: func() time.Time { return *clock.Load() }})
	other, err := security.NewLicense().Mint(security.KeySpec{Channel: "a/b/c/", Permissions: security.ParsePermissions("rw")})
	require.NoError(t, err)
	keys := []string{emitterRWabc, mint(t, e, "w/", "w", 0), mint(t, e, "a/b/c/", "rw", time.Minute), other, emitterMaster, "nope"}
	channels := []string{"a/b/c/", "a/b/", "w/", "a/b/c/d/"}
	c := untrusted(t, e)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 3000 {
		key, ch := keys[rng.IntN(len(keys))], channels[rng.IntN(len(channels))]
		op := rng.IntN(3)
		do := func(c *engine.Conn) error {
			switch op {
			case 0:
				return c.Publish(ctx, ch, nil, engine.WithKey(key))
			case 1:
				s, err := c.Subscribe(ctx, ch, nil, engine.WithKey(key))
				if err == nil {
					_ = s.Unsubscribe()
				}
				return err
			}
			return c.Unsubscribe(ch, engine.WithKey(key))
		}
		want := do(untrusted(t, e))
		got := do(c)
		require.Equal(t, engine.StatusOf(want), engine.StatusOf(got), "step %d: op %d key %d channel %s: %v / %v", i, op, slices.Index(keys, key), ch, want, got)
		switch {
		case i == 1000: // the short key expires
			later := now.Add(2 * time.Minute)
			clock.Store(&later)
		case i == 2000:
			require.NoError(t, e.Ban(ctx, emitterMaster, emitterRWabc))
		}
	}
}

// TestKeyedPublishAllocations checks that options passed by value, a key
// among them, cost a keyed publish and its delivery no allocation.
func TestKeyedPublishAllocations(t *testing.T) {
	ctx := t.Context()
	e := newEngine(t, engine.Options{License: emitterLicense})
	c, err := e.Connect(engine.ConnOptions{}) // untrusted: the key is checked
	require.NoError(t, err)
	s, err := c.Subscribe(ctx, "a/b/c/", nil, engine.WithKey(emitterRWabc))
	require.NoError(t, err)
	require.Error(t, c.Publish(ctx, "a/b/c/", nil), "no key, no publish")
	payload := make([]byte, 64)
	allocs := testing.AllocsPerRun(1000, func() {
		_ = c.Publish(ctx, "a/b/c/", payload, engine.WithKey(emitterRWabc), engine.WithQoS(1))
		_, _ = s.Next(ctx)
	})
	require.Zero(t, allocs)
}
