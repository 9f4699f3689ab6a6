package security_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/security"
)

func TestKeyFields(t *testing.T) {
	var k security.Key
	k.SetSalt(0x1234)
	k.SetMasterID(0xBEEF)
	k.SetContract(0x01020304)
	k.SetSignature(0xA0B0C0D0)
	k.SetTargetBits(0xFFABCDEF, 0x11223344) // only 24 bits of the path are kept
	k.SetPermissions(security.PermRead | security.PermExtend)
	k.SetExpiryRaw(0x55667788)
	require.Equal(t, "1234"+"beef"+"01020304"+"a0b0c0d0"+"abcdef"+"42"+"11223344"+"55667788", keyHex(k))
	require.EqualValues(t, 0x1234, k.Salt())
	require.EqualValues(t, 0xBEEF, k.MasterID())
	require.EqualValues(t, 0x01020304, k.Contract())
	require.EqualValues(t, 0xA0B0C0D0, k.Signature())
	require.EqualValues(t, 0xABCDEF, k.TargetPath())
	require.EqualValues(t, 0x11223344, k.TargetHash())
	require.EqualValues(t, 0x55667788, k.ExpiryRaw())
	require.True(t, k.HasPermission(security.PermRead))
	require.False(t, k.HasPermission(security.PermRead|security.PermWrite))
	require.False(t, k.IsMaster())
	require.Equal(t, k, security.KeyFromBytes(k.Bytes()))

	k.SetPermissions(security.PermMaster | security.PermRead)
	require.False(t, k.IsMaster(), "master means exactly 0x01")
	k.SetPermissions(security.PermMaster)
	require.True(t, k.IsMaster())
}

func TestKeyExpiry(t *testing.T) {
	var k security.Key
	require.True(t, k.Expires().IsZero())
	require.False(t, k.IsExpired(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)), "0 means never")

	at := time.Date(2026, 3, 4, 5, 6, 7, 800, time.UTC)
	require.NoError(t, k.SetExpires(at))
	require.EqualValues(t, at.Unix()-1262304000, k.ExpiryRaw())
	require.Equal(t, at.Truncate(time.Second), k.Expires())
	require.False(t, k.IsExpired(at))
	require.True(t, k.IsExpired(at.Add(time.Second)))
	require.False(t, k.IsExpired(at.Add(-time.Hour)))

	require.NoError(t, k.SetExpires(time.Date(2009, 1, 1, 0, 0, 0, 0, time.UTC)))
	require.EqualValues(t, 1, k.ExpiryRaw(), "a time before 2010 is stored as long expired")
	require.True(t, k.IsExpired(time.Date(2010, 1, 1, 0, 0, 2, 0, time.UTC)))

	last := time.Unix(security.KeyEpochUnix+0xFFFFFFFF, 0).UTC()
	require.NoError(t, k.SetExpires(last))
	require.Equal(t, last, k.Expires())
	require.ErrorIs(t, k.SetExpires(last.Add(time.Second)), security.ErrExpiryRange)
	require.Equal(t, last, k.Expires(), "unchanged on error")

	require.NoError(t, k.SetExpires(time.Time{}))
	require.Zero(t, k.ExpiryRaw())
}

func TestPermissions(t *testing.T) {
	for s, want := range map[string]security.Permission{
		"":        0,
		"r":       security.PermRead,
		"rw":      security.PermRead | security.PermWrite,
		"rwslpex": 0xFE,
		"xelpswr": 0xFE,
		"rrr":     security.PermRead,
		"R W m!":  0, // Emitter ignores other characters; no master this way
		"M":       0,
		"r,w;s":   security.PermRead | security.PermWrite | security.PermStore,
	} {
		require.Equal(t, want, security.ParsePermissions(s), "%q", s)
	}
	require.Equal(t, "rwslpex", security.Permission(0xFE).String())
	require.Equal(t, "rwslp", security.ParsePermissions("plswr").String())
	require.Equal(t, "M", security.PermMaster.String())
	require.Equal(t, "Mr", (security.PermMaster | security.PermRead).String())
	require.Equal(t, "-", security.Permission(0).String())
	for p := range 256 {
		perm := security.Permission(p)
		require.Equal(t, perm&^security.PermMaster, security.ParsePermissions(perm.String()))
	}
}

func TestKeyString(t *testing.T) {
	var k security.Key
	require.Equal(t, "security.Key{perm: -, target: none, expires: never}", k.String())
	k = keyFor(t, "#/")
	k.SetPermissions(security.PermRead)
	require.Equal(t, "security.Key{perm: r, target: all, expires: never}", k.String())
	k = keyFor(t, "a/#/")
	require.NoError(t, k.SetExpires(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)))
	require.Equal(t, "security.Key{perm: -, target: wildcard, expires: 2030-01-02T03:04:05Z}", k.String())
}

func TestDecryptKeyErrors(t *testing.T) {
	l := mustLicense(t, vecLicense)
	for _, s := range []string{"", "short", vecChannel[:31], vecChannel + "A", "EjTvFZJ18rzaeWnzVqD7sg6H7j51SGg=", "EjTvFZJ18rzaeWnzVqD7sg6H7j51SGg/", "EjTvFZJ18rzaeWnzVqD7sg6H7j51SGg+", "EjTvFZJ18rzaeWnzVqD7sg6H7j51SGg\xff"} {
		_, err := l.DecryptKey(s)
		require.ErrorIs(t, err, security.ErrInvalidKey, "%q", s)
		require.ErrorIs(t, err, security.ErrStatusUnauthorized)
		require.NotContains(t, err.Error(), "EjTv")
	}
}
