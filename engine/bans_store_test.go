package engine_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/store"
)

// Bolt and Memory keep the engine's bans (they implement BanStore).
var (
	_ engine.BanStore = (*store.Bolt)(nil)
	_ engine.BanStore = (*store.Memory)(nil)
)

// TestBansInBoltStore: with a Bolt store as Options.Store and no
// Options.Bans, a ban survives closing the engine and reopening the file.
func TestBansInBoltStore(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "h.db")
	open := func() store.Store {
		s, err := store.OpenBolt(path, store.Options{})
		require.NoError(t, err)
		return s
	}

	e, err := engine.New(engine.Options{License: emitterLicense, Store: open()})
	require.NoError(t, err)
	other := mint(t, e, "x/", "r", 0)
	require.NoError(t, e.Ban(ctx, emitterMaster, emitterRWabc))
	require.NoError(t, e.Ban(ctx, emitterMaster, other))
	require.NoError(t, e.Unban(ctx, emitterMaster, other))
	require.NoError(t, e.Close()) // closes the store too

	// The file itself holds exactly the ban.
	s, err := store.OpenBolt(path, store.Options{})
	require.NoError(t, err)
	keys, err := s.LoadBans(ctx)
	require.NoError(t, err)
	require.Equal(t, []string{emitterRWabc}, keys)
	require.NoError(t, s.Close())

	e = newEngine(t, engine.Options{License: emitterLicense, Store: open()})
	require.True(t, e.Banned(emitterRWabc), "the ban survived the restart")
	require.False(t, e.Banned(other), "the lifted ban stayed lifted")
	require.ErrorIs(t, untrusted(t, e).Publish(ctx, "a/b/c/", nil, engine.WithKey(emitterRWabc)), security.ErrKeyBanned)
}
