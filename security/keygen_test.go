package security_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/security"
)

var now = time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)

func decrypt(tb testing.TB, l *security.License, s string) security.Key {
	tb.Helper()
	k, err := l.DecryptKey(s)
	require.NoError(tb, err)
	return k
}

func requireStatus(tb testing.TB, err error, reason error, status *security.StatusError) {
	tb.Helper()
	require.ErrorIs(tb, err, reason)
	require.Equal(tb, status, security.StatusOf(err))
	var ke *security.KeyError
	require.True(tb, errors.As(err, &ke))
}

func TestMint(t *testing.T) {
	l := mustLicense(t, vecLicense)
	s, err := l.Mint(security.KeySpec{Channel: "a/b/c/", Permissions: security.PermMaster | security.ParsePermissions("rwslp"), TTL: 90*time.Second + time.Millisecond, Now: now})
	require.NoError(t, err)
	k := decrypt(t, l, s)
	require.True(t, l.Validate(k))
	require.Equal(t, security.ParsePermissions("rwslp"), k.Permissions(), "the master bit is never minted")
	require.Equal(t, now.Add(91*time.Second), k.Expires(), "TTL rounds up to whole seconds")
	require.Equal(t, keyFor(t, "a/b/c/").TargetPath(), k.TargetPath())
	require.True(t, k.ValidateChannel("a/b/c/"))
	require.LessOrEqual(t, k.Salt(), uint16(security.MaxSalt))
	require.NoError(t, l.Authorize(k, security.PermWrite, "a/b/c/", now))
	require.NoError(t, l.Authorize(k, security.PermWrite, "a/b/c/", now.Add(91*time.Second)))
	requireStatus(t, l.Authorize(k, security.PermWrite, "a/b/c/", now.Add(92*time.Second)), security.ErrKeyExpired, security.ErrStatusUnauthorized)

	forever, err := l.Mint(security.KeySpec{Channel: "#/", Permissions: security.PermRead})
	require.NoError(t, err)
	require.True(t, decrypt(t, l, forever).Expires().IsZero())

	for ch, status := range map[string]*security.StatusError{
		"a/b/c":       security.ErrStatusTargetNoSlash,
		"":            security.ErrStatusTargetNoSlash,
		"a/b c/":      security.ErrStatusBadRequest,
		"a//":         security.ErrStatusBadRequest,
		"a/b/?ttl=5/": security.ErrStatusBadRequest,
		"a/#/b/":      security.ErrStatusBadRequest,
		"a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q/r/s/t/u/v/w/x/": security.ErrStatusTargetTooDeep,
	} {
		_, err := l.Mint(security.KeySpec{Channel: ch, Permissions: security.PermRead})
		require.Equal(t, status, security.StatusOf(err), "%q", ch)
	}
	_, err = l.Mint(security.KeySpec{Channel: "a/", TTL: -time.Second})
	requireStatus(t, err, security.ErrExpiryRange, security.ErrStatusBadRequest)
}

func TestMintWithMaster(t *testing.T) {
	l := mustLicense(t, vecLicense)
	s, err := l.MintWithMaster(vecMaster, security.KeySpec{Channel: "a/#/", Permissions: security.ParsePermissions("rw"), Now: now})
	require.NoError(t, err)
	k := decrypt(t, l, s)
	require.True(t, l.Validate(k))
	require.NoError(t, l.Authorize(k, security.PermRead, "a/x/y/", now))
	requireStatus(t, l.Authorize(k, security.PermRead, "b/", now), security.ErrChannelDenied, security.ErrStatusUnauthorized)
	requireStatus(t, l.Authorize(k, security.PermStore, "a/", now), security.ErrPermissionDenied, security.ErrStatusUnauthorized)

	master := decrypt(t, l, vecMaster)
	enc := func(mod func(*security.Key)) string {
		m := master
		mod(&m)
		return l.EncryptKey(m)
	}
	spec := security.KeySpec{Channel: "a/", Permissions: security.PermRead, Now: now}
	for name, c := range map[string]struct {
		key    string
		reason error
		status *security.StatusError
	}{
		"malformed":      {"nope", security.ErrInvalidKey, security.ErrStatusUnauthorized},
		"channel key":    {vecChannel, security.ErrNotMaster, security.ErrStatusUnauthorized},
		"master plus r":  {enc(func(k *security.Key) { k.SetPermissions(security.PermMaster | security.PermRead) }), security.ErrNotMaster, security.ErrStatusUnauthorized},
		"expired":        {enc(func(k *security.Key) { _ = k.SetExpires(now.Add(-time.Second)) }), security.ErrKeyExpired, security.ErrStatusUnauthorized},
		"other contract": {enc(func(k *security.Key) { k.SetContract(k.Contract() + 1) }), security.ErrUnknownContract, security.ErrStatusNotFound},
		"bad signature":  {enc(func(k *security.Key) { k.SetSignature(k.Signature() ^ 1) }), security.ErrWrongContract, security.ErrStatusUnauthorized},
		"bad master id":  {enc(func(k *security.Key) { k.SetMasterID(2) }), security.ErrWrongContract, security.ErrStatusUnauthorized},
		"other license":  {security.NewLicense().NewMasterKey(), security.ErrNotMaster, security.ErrStatusUnauthorized},
	} {
		t.Run(name, func(t *testing.T) {
			if name == "other license" {
				// Decrypted under the wrong license the permission byte
				// is random; it is refused either way.
				_, err := l.MintWithMaster(c.key, spec)
				require.Equal(t, security.ErrStatusUnauthorized.Status, security.StatusOf(err).Status)
				return
			}
			_, err := l.MintWithMaster(c.key, spec)
			requireStatus(t, err, c.reason, c.status)
			require.Equal(t, err, l.CheckMaster(c.key, now))
		})
	}
	require.NoError(t, l.CheckMaster(vecMaster, now))
}

func TestExtend(t *testing.T) {
	l := mustLicense(t, vecLicense)
	// Master with {"channel":"p/","type":"rwe"} returns key E (reference
	// §2.5); E with {"channel":"p/","type":"rw"} returns a key for
	// p/<conn id>/ without e.
	e, ch, err := l.Keygen(vecMaster, security.KeySpec{Channel: "p/", Permissions: security.ParsePermissions("rwe"), TTL: time.Hour, Now: now}, "unused")
	require.NoError(t, err)
	require.Equal(t, "p/", ch)
	ek := decrypt(t, l, e)
	require.Equal(t, security.ParsePermissions("rwe"), ek.Permissions())

	// E is refused for publish, subscribe and every other operation.
	for _, p := range []security.Permission{security.PermWrite, security.PermRead, security.PermRead | security.PermWrite} {
		err := l.Authorize(ek, p, "p/", now)
		requireStatus(t, err, security.ErrExtendOnly, security.ErrStatusExtendOnly)
		require.Equal(t, "the security key with extend permission can only be used for private links", security.StatusOf(err).Message)
	}

	const conn = "P57CY7ECZOLWWZYR4QVO6TGUY4"
	priv, ch, err := l.Keygen(e, security.KeySpec{Channel: "p/", Permissions: security.ParsePermissions("rwsl"), Now: now}, conn)
	require.NoError(t, err)
	require.Equal(t, "p/"+conn+"/", ch)
	pk := decrypt(t, l, priv)
	require.Equal(t, security.ParsePermissions("rw"), pk.Permissions(), "narrowed to E's and the request's, without e")
	require.Equal(t, ek.Expires(), pk.Expires(), "no later than E")
	require.NoError(t, l.Authorize(pk, security.PermWrite, "p/"+conn+"/", now))
	requireStatus(t, l.Authorize(pk, security.PermWrite, "p/", now), security.ErrChannelDenied, security.ErrStatusUnauthorized)
	requireStatus(t, l.Authorize(pk, security.PermWrite, "p/OTHER/", now), security.ErrChannelDenied, security.ErrStatusUnauthorized)

	// A shorter TTL wins; a "#/" suffix stays last.
	priv, ch, err = l.Extend(e, security.KeySpec{Channel: "p/#/", Permissions: security.PermRead, TTL: time.Minute, Now: now}, conn)
	require.NoError(t, err)
	require.Equal(t, "p/"+conn+"/#/", ch)
	pk = decrypt(t, l, priv)
	require.Equal(t, now.Add(time.Minute), pk.Expires())
	require.NoError(t, l.Authorize(pk, security.PermRead, "p/"+conn+"/x/y/", now))

	// E must allow the requested channel and have e.
	_, _, err = l.Extend(e, security.KeySpec{Channel: "q/", Permissions: security.PermRead, Now: now}, conn)
	requireStatus(t, err, security.ErrChannelDenied, security.ErrStatusUnauthorized)
	_, _, err = l.Extend(vecChannel, security.KeySpec{Channel: "a/b/c/", Permissions: security.PermRead, Now: now}, conn)
	requireStatus(t, err, security.ErrPermissionDenied, security.ErrStatusUnauthorized)
	_, _, err = l.Extend(e, security.KeySpec{Channel: "p/", Permissions: security.PermRead, Now: now.Add(2 * time.Hour)}, conn)
	requireStatus(t, err, security.ErrKeyExpired, security.ErrStatusUnauthorized)
	_, _, err = l.Extend(e, security.KeySpec{Channel: "p", Permissions: security.PermRead, Now: now}, conn)
	requireStatus(t, err, security.ErrTargetNoSlash, security.ErrStatusTargetNoSlash)
	_, _, err = l.Extend(e, security.KeySpec{Channel: "p/", Permissions: security.PermRead, Now: now}, "bad/id")
	require.Equal(t, security.ErrStatusBadRequest, security.StatusOf(err))

	// A plain channel key cannot generate keys.
	_, _, err = l.Keygen(vecChannel, security.KeySpec{Channel: "a/b/c/", Now: now}, conn)
	requireStatus(t, err, security.ErrNotMaster, security.ErrStatusUnauthorized)
}

func TestPrivateChannel(t *testing.T) {
	for in, want := range map[string]string{
		"p/":     "p/ID/",
		"p/q/":   "p/q/ID/",
		"p/#/":   "p/ID/#/",
		"#/":     "ID/#/",
		"p/+/":   "p/+/ID/",
		"p/x#/":  "p/x#/ID/",
		"p/+/#/": "p/+/ID/#/",
	} {
		require.Equal(t, want, security.PrivateChannel(in, "ID"), in)
	}
}

// TestCheckOrder follows Emitter's order (§3.1): expiry, contract,
// permission, channel; each failure is reported before the later ones.
func TestCheckOrder(t *testing.T) {
	l := mustLicense(t, vecLicense)
	var k security.Key
	k.SetMasterID(1)
	k.SetContract(vecContract)
	k.SetSignature(vecSign ^ 1) // wrong contract
	k.SetPermissions(security.PermRead)
	require.NoError(t, k.SetTarget("a/"))
	require.NoError(t, k.SetExpires(now.Add(-time.Minute)))

	requireStatus(t, l.Authorize(k, security.PermWrite, "b/", now), security.ErrKeyExpired, security.ErrStatusUnauthorized)
	k.SetExpiryRaw(0)
	requireStatus(t, l.Authorize(k, security.PermWrite, "b/", now), security.ErrWrongContract, security.ErrStatusUnauthorized)
	k.SetSignature(vecSign)
	err := l.Authorize(k, security.PermWrite|security.PermRead, "b/", now)
	requireStatus(t, err, security.ErrPermissionDenied, security.ErrStatusUnauthorized)
	var ke *security.KeyError
	require.True(t, errors.As(err, &ke))
	require.Equal(t, security.PermWrite, ke.Permission, "the missing permission")
	require.Equal(t, "security: key lacks a required permission (w)", err.Error())
	requireStatus(t, l.Authorize(k, security.PermRead, "b/", now), security.ErrChannelDenied, security.ErrStatusUnauthorized)
	require.NoError(t, l.Authorize(k, security.PermRead, "a/", now))
	require.NoError(t, l.Check(k, security.PermRead, now))
}
