package engine

import (
	"context"
	"fmt"
	"maps"
	"strings"

	"github.com/heraldmq/herald/security"
)

// DefaultKeyCacheSize is the number of decrypted keys an engine caches when
// Options.KeyCacheSize is zero.
const DefaultKeyCacheSize = 4096

// BanStore keeps the list of banned keys across restarts. BanFile is a
// simple implementation. A store.Store given as Options.Store that also
// implements BanStore keeps the bans when Options.Bans is nil.
// Implementations must be safe for concurrent use.
type BanStore interface {
	// LoadBans returns every banned key. New calls it once.
	LoadBans(ctx context.Context) ([]string, error)
	// AddBan records that key is banned. It returns once the change is
	// durable.
	AddBan(ctx context.Context, key string) error
	// RemoveBan records that key is no longer banned. It returns once the
	// change is durable.
	RemoveBan(ctx context.Context, key string) error
}

// initAuth sets up the license, the key cache and the ban list. It is called
// by New.
func (e *Engine) initAuth() error {
	a := &e.auth
	if e.opts.License == "" {
		a.license = security.NewLicense()
	} else {
		l, err := security.ParseLicense(e.opts.License)
		if err != nil {
			return fmt.Errorf("engine: Options.License: %w", err)
		}
		a.license = l
	}
	a.cache.init(e.opts.KeyCacheSize)
	bans := make(map[string]struct{})
	a.store = e.opts.Bans
	if bs, ok := e.opts.Store.(BanStore); ok && a.store == nil {
		a.store = bs
	}
	if a.store != nil {
		keys, err := a.store.LoadBans(context.Background())
		if err != nil {
			return fmt.Errorf("engine: loading key bans: %w", err)
		}
		for _, k := range keys {
			bans[k] = struct{}{}
		}
	}
	a.bans.Store(&bans)
	return nil
}

// License returns the license the engine checks keys against:
// Options.License, or the license New created when that was empty. Keep
// License().Encode() (a secret) wherever you keep secrets and pass it as
// Options.License next time, so that the master key and channel keys minted
// now stay valid after a restart. License().NewMasterKey() returns a master
// (secret) key.
func (e *Engine) License() *security.License { return e.auth.license }

// Keygen does what Emitter's emitter/keygen/ request does. With a master key
// it returns a new key for spec.Channel (the returned channel) with
// spec.Permissions (without the master bit) and spec.TTL. With a key that has
// the extend permission (e) it returns a private channel key for
// "<spec.Channel><c.ID()>/" (the returned channel), whose permissions are
// those of the extend key that spec asks for, without e. A zero spec.Now
// means the engine's clock.
//
// The key must not be banned. Errors carry Emitter's status (StatusOf): 400
// for a bad target, 401 for a refused key, 404 for a master key of another
// contract.
func (c *Conn) Keygen(key string, spec security.KeySpec) (newKey, channel string, err error) {
	if err := c.usable(); err != nil {
		return "", "", err
	}
	e := c.e
	if e.auth.isBanned(key) {
		return "", "", errBanned
	}
	if spec.Now.IsZero() {
		spec.Now = e.opts.Clock()
	}
	return e.auth.license.Keygen(key, spec, c.id.id)
}

// Ban bans target, as Emitter's emitter/keyban/ request does. secret must be
// a master key of the engine's license that is not banned itself; target
// must be a key of the same contract (otherwise ErrInvalidBanTarget, status
// 400). From the moment a ban is in place every operation with target is
// refused (401), on every connection. With a BanStore the ban is saved there;
// it takes effect even if saving it fails (the error is returned). Banning a
// banned key is not an error.
func (e *Engine) Ban(ctx context.Context, secret, target string) error {
	if err := e.checkBan(secret, target); err != nil {
		return err
	}
	return e.auth.setBan(ctx, target, true)
}

// Unban lifts the ban on target, with the same checks as Ban. With a
// BanStore the ban is lifted only once the change is saved. Unbanning a key
// that is not banned is not an error.
func (e *Engine) Unban(ctx context.Context, secret, target string) error {
	if err := e.checkBan(secret, target); err != nil {
		return err
	}
	return e.auth.setBan(ctx, target, false)
}

// checkBan checks the master key and the target of Ban and Unban.
func (e *Engine) checkBan(secret, target string) error {
	if e.closed.Load() {
		return ErrClosed
	}
	a := &e.auth
	if a.isBanned(secret) {
		return errBanned
	}
	if err := a.license.CheckMaster(secret, e.opts.Clock()); err != nil {
		return err
	}
	k, err := a.license.DecryptKey(target)
	if err != nil || k.Contract() != a.license.Contract() {
		return fmt.Errorf("%w: %w", ErrInvalidBanTarget, security.ErrStatusBadRequest)
	}
	return nil
}

// Banned reports whether key is banned.
func (e *Engine) Banned(key string) bool { return e.auth.isBanned(key) }

// setBan changes the ban list: a copy of the map is swapped in, so readers
// never lock.
func (a *authState) setBan(ctx context.Context, key string, banned bool) error {
	a.banMu.Lock()
	defer a.banMu.Unlock()
	cur := *a.bans.Load()
	if _, ok := cur[key]; ok == banned {
		return nil
	}
	next := maps.Clone(cur)
	if banned {
		next[strings.Clone(key)] = struct{}{}
		a.bans.Store(&next)
		a.cache.remove(key)
		if a.store != nil {
			if err := a.store.AddBan(ctx, key); err != nil {
				return fmt.Errorf("engine: key banned but the ban was not saved: %w", err)
			}
		}
		return nil
	}
	delete(next, key)
	if a.store != nil {
		if err := a.store.RemoveBan(ctx, key); err != nil {
			return fmt.Errorf("engine: key still banned, lifting the ban was not saved: %w", err)
		}
	}
	a.bans.Store(&next)
	return nil
}
