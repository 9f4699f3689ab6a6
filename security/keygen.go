package security

import (
	"crypto/rand"
	"encoding/binary"
	"strings"
	"time"
)

// KeySpec describes a key to generate: what Emitter's keygen request carries.
// The zero value asks for a key without permissions on no valid target, so
// set at least Channel.
type KeySpec struct {
	// Channel is the key's target: "a/b/c/" (exactly that channel),
	// "a/+/c/" ('+' is any one segment), "a/#/" (a/ and everything below)
	// or "#/" (every channel). It must end with '/' and be a valid channel
	// without options. For an extend key it is the channel to make private.
	Channel string
	// Permissions is the set the key gets; the master bit is ignored. When
	// extending a key it is intersected with the extend key's permissions.
	Permissions Permission
	// TTL is the key's lifetime, rounded up to whole seconds; 0 means the
	// key never expires. A negative TTL is an error (ErrExpiryRange).
	TTL time.Duration
	// Now is the time TTL counts from; the zero value means time.Now().
	Now time.Time
}

func (s KeySpec) now() time.Time {
	if s.Now.IsZero() {
		return time.Now()
	}
	return s.Now
}

// expiry returns the raw expiry the spec asks for, 0 for never.
func (s KeySpec) expiry() (uint32, error) {
	if s.TTL < 0 {
		return 0, ErrExpiryRange
	}
	if s.TTL == 0 {
		return 0, nil
	}
	secs := (s.TTL + time.Second - 1) / time.Second
	var k Key
	if err := k.SetExpires(s.now().Add(secs * time.Second)); err != nil {
		return 0, err
	}
	return k.ExpiryRaw(), nil
}

// checkTarget validates a keygen target: the trailing '/' first (with
// Emitter's message), then the channel syntax, then no options.
func checkTarget(target string) error {
	if target == "" || target[len(target)-1] != '/' {
		return &KeyError{Reason: ErrTargetNoSlash, Channel: target}
	}
	c, err := ParseChannel(target)
	if err != nil || c.Path != target {
		return &KeyError{Reason: ErrInvalidTarget, Channel: target}
	}
	return nil
}

// newSalt returns a random salt in 0..MaxSalt from crypto/rand.
func newSalt() uint16 {
	var b [2]byte
	for {
		_, _ = rand.Read(b[:])
		if v := binary.BigEndian.Uint16(b[:]) & 0x7FFF; v <= MaxSalt {
			return v
		}
	}
}

// NewMasterKey returns a new master (secret) key for the license: a random
// salt, master id 1, the license's contract and signature, permissions
// exactly PermMaster, no target and no expiry. Every call returns a
// different string; all of them are valid master keys. Keep them secret.
func (l *License) NewMasterKey() string {
	var k Key
	k.SetSalt(newSalt())
	k.setMasterID(1)
	k.SetContract(l.user)
	k.setSignature(l.sign)
	k.SetPermissions(PermMaster)
	return l.EncryptKey(k)
}

// Mint returns a new encrypted key for spec, signed with the license alone:
// no master key and no running engine are needed. This is the offline
// counterpart of Emitter's keygen. The key gets a random salt, master id 1,
// the license's contract and signature, spec.Permissions without the master
// bit, the expiry spec.TTL asks for and spec.Channel as target.
//
// Errors are *KeyError values carrying Emitter's keygen status:
// ErrTargetNoSlash, ErrTargetTooDeep, ErrInvalidTarget (400) and
// ErrExpiryRange (400).
func (l *License) Mint(spec KeySpec) (string, error) {
	var k Key
	k.setMasterID(1)
	k.SetContract(l.user)
	k.setSignature(l.sign)
	if err := l.fill(&k, spec, spec.Permissions, 0); err != nil {
		return "", err
	}
	return l.EncryptKey(k), nil
}

// fill sets the salt, permissions, target and expiry of k from spec. When
// limit is not zero the expiry is no later than limit.
func (l *License) fill(k *Key, spec KeySpec, perm Permission, limit uint32) error {
	if err := checkTarget(spec.Channel); err != nil {
		return err
	}
	exp, err := spec.expiry()
	if err != nil {
		return &KeyError{Reason: err, Channel: spec.Channel}
	}
	if limit != 0 && (exp == 0 || exp > limit) {
		exp = limit
	}
	if err := k.SetTarget(spec.Channel); err != nil {
		return err
	}
	k.SetSalt(newSalt())
	k.SetPermissions(perm &^ PermMaster)
	k.setExpiryRaw(exp)
	return nil
}

// MintWithMaster returns a new key for spec, as Emitter's keygen does for a
// request carrying a master key. It first checks, in Emitter's order, that
// master decrypts (ErrInvalidKey), is a master key (ErrNotMaster), has not
// expired at spec.Now (ErrKeyExpired), names the license's contract
// (ErrUnknownContract, status 404) and carries its master id and signature
// (ErrWrongContract); all but the contract error have status 401. The new
// key then gets the master key's master id, contract and signature, as in
// Mint.
func (l *License) MintWithMaster(master string, spec KeySpec) (string, error) {
	k, err := l.DecryptKey(master)
	if err != nil {
		return "", err
	}
	if err := l.checkMaster(k, spec.now()); err != nil {
		return "", err
	}
	if err := l.fill(&k, spec, spec.Permissions, 0); err != nil {
		return "", err
	}
	return l.EncryptKey(k), nil
}

// CheckMaster reports whether s is a valid master key of this license at
// time now, with the errors MintWithMaster returns. Ban checks use it.
func (l *License) CheckMaster(s string, now time.Time) error {
	k, err := l.DecryptKey(s)
	if err != nil {
		return err
	}
	return l.checkMaster(k, now)
}

func (l *License) checkMaster(k Key, now time.Time) error {
	switch {
	case !k.IsMaster():
		return errNotMaster
	case k.IsExpired(now):
		return errKeyExpired
	case k.Contract() != l.user:
		return errUnknownContract
	case !l.Validate(k):
		return errWrongContract
	}
	return nil
}

// Immutable errors without a channel, shared so that refusals do not
// allocate.
var (
	errNotMaster       = &KeyError{Reason: ErrNotMaster}
	errKeyExpired      = &KeyError{Reason: ErrKeyExpired}
	errUnknownContract = &KeyError{Reason: ErrUnknownContract}
	errWrongContract   = &KeyError{Reason: ErrWrongContract}
	errExtendOnly      = &KeyError{Reason: ErrExtendOnly}
	errChannelDenied   = &KeyError{Reason: ErrChannelDenied}
)

// privateChannel returns the private channel an extend key creates for
// connection connID on channel: "<channel><connID>/", keeping a trailing
// "#/" last ("a/#/" gives "a/<connID>/#/").
func privateChannel(channel, connID string) string {
	if base, ok := strings.CutSuffix(channel, "#/"); ok && (base == "" || strings.HasSuffix(base, "/")) {
		return base + connID + "/#/"
	}
	return channel + connID + "/"
}

// Extend returns a private channel key, as Emitter's keygen does for a
// request carrying a key with the extend permission (e). The extend key must
// decrypt, not be expired, belong to the license, have PermExtend and allow
// spec.Channel. The new key's target is the private channel
// "<spec.Channel><connID>/", a trailing "#/" kept last ("a/#/" gives
// "a/<connID>/#/"); its permissions are those of the extend key that spec also asks
// for, without e and the master bit; it expires at the earlier of the extend
// key's expiry and spec.TTL. connID must be one valid channel segment
// (ErrInvalidTarget otherwise). Extend returns the new key and its target.
func (l *License) Extend(extendKey string, spec KeySpec, connID string) (key, channel string, err error) {
	k, err := l.DecryptKey(extendKey)
	if err != nil {
		return "", "", err
	}
	if err := l.Check(k, PermExtend, spec.now()); err != nil {
		return "", "", err
	}
	if err := checkTarget(spec.Channel); err != nil {
		return "", "", err
	}
	if !k.ValidateChannel(spec.Channel) {
		return "", "", &KeyError{Reason: ErrChannelDenied, Channel: spec.Channel}
	}
	if c, err := ParseChannel(connID + "/"); err != nil || c.Segments != 1 || c.Wildcards != 0 || len(c.Path) != len(connID)+1 {
		return "", "", &KeyError{Reason: ErrInvalidTarget, Channel: connID}
	}
	channel = privateChannel(spec.Channel, connID)
	priv := spec
	priv.Channel = channel
	perm := k.Permissions() & spec.Permissions &^ PermExtend
	if err := l.fill(&k, priv, perm, k.ExpiryRaw()); err != nil {
		return "", "", err
	}
	return l.EncryptKey(k), channel, nil
}

// Keygen does what Emitter's emitter/keygen/ request does with key: with a
// master key it calls MintWithMaster and returns spec.Channel; with a key
// carrying the extend permission it calls Extend for connection connID. Any
// other key is refused with ErrNotMaster (401).
func (l *License) Keygen(key string, spec KeySpec, connID string) (newKey, channel string, err error) {
	k, err := l.DecryptKey(key)
	if err != nil {
		return "", "", err
	}
	if !k.IsMaster() && k.HasPermission(PermExtend) {
		return l.Extend(key, spec, connID)
	}
	newKey, err = l.MintWithMaster(key, spec)
	return newKey, spec.Channel, err
}

// Check verifies a decrypted key for an operation that needs perm, in
// Emitter's order after decryption: not expired at now (ErrKeyExpired),
// belongs to the license (ErrWrongContract), has every bit of perm
// (ErrPermissionDenied). A key with the extend permission passes only when
// perm includes PermExtend (otherwise ErrExtendOnly, status 401 with
// Emitter's extend message). It does not check the channel; Authorize does.
// It does not allocate unless a permission is missing.
func (l *License) Check(k Key, perm Permission, now time.Time) error {
	switch {
	case k.IsExpired(now):
		return errKeyExpired
	case !l.Validate(k):
		return errWrongContract
	case !k.HasPermission(perm):
		return &KeyError{Reason: ErrPermissionDenied, Permission: perm &^ k.Permissions()}
	case k.HasPermission(PermExtend) && !perm.Has(PermExtend):
		return errExtendOnly
	}
	return nil
}

// Authorize checks a decrypted key for an operation that needs perm on
// channel (a channel path such as "a/b/c/"), in Emitter's order after
// decryption and the ban check: expiry, contract, permission, channel (see
// Check and Key.ValidateChannel). Every error is a *KeyError whose status is
// 401. It does not allocate when the key is accepted.
func (l *License) Authorize(k Key, perm Permission, channel string, now time.Time) error {
	if err := l.Check(k, perm, now); err != nil {
		return err
	}
	if !k.ValidateChannel(channel) {
		return errChannelDenied
	}
	return nil
}
