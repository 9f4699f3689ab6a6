package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/security"
)

const (
	license = "PfA8IFBKLxUndYEooeCnvtECGQI5CuDvpHbu1NUoTSPNosAJEAnVyfJ1ZTw-FCroriETLMvbyOuJCISnu_wFAQ:3"
	master  = "AQL8N0XilRpRhN5KazCYuJk6pvpb8nj4"
)

func runKeygen(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(args, func(k string) string { return env[k] }, &out, &errOut)
	return strings.TrimSpace(out.String()), err
}

func TestKeygen(t *testing.T) {
	l, err := security.ParseLicense(license)
	require.NoError(t, err)
	env := map[string]string{"HERALD_LICENSE": license}

	// License alone, from the environment.
	out, err := runKeygen(t, env, "-channel", "a/#/", "-type", "rwl", "-ttl", "1h")
	require.NoError(t, err)
	k, err := l.DecryptKey(out)
	require.NoError(t, err)
	require.NoError(t, l.Authorize(k, security.PermRead|security.PermLoad, "a/b/", time.Now()))
	require.WithinDuration(t, time.Now().Add(time.Hour), k.Expires(), 5*time.Second)

	// With a master key from a flag.
	out, err = runKeygen(t, nil, "-license", license, "-master", master, "-channel", "a/b/c/")
	require.NoError(t, err)
	k, err = l.DecryptKey(out)
	require.NoError(t, err)
	require.NoError(t, l.Authorize(k, security.PermWrite, "a/b/c/", time.Now()))

	out, err = runKeygen(t, env, "-decode", out)
	require.NoError(t, err)
	require.Equal(t, "security.Key{perm: rw, target: exact, expires: never}", out)

	// Errors.
	_, err = runKeygen(t, map[string]string{"HERALD_LICENSE": license, "HERALD_MASTER": "EjTvFZJ18rzaeWnzVqD7sg6H7j51SGgK"}, "-channel", "a/")
	require.ErrorIs(t, err, security.ErrNotMaster)
	_, err = runKeygen(t, env, "-channel", "a/b")
	require.ErrorIs(t, err, security.ErrTargetNoSlash)
	_, err = runKeygen(t, nil, "-channel", "a/")
	require.ErrorContains(t, err, "no license")
	_, err = runKeygen(t, env)
	require.ErrorContains(t, err, "-channel")
}

func TestKeygenNew(t *testing.T) {
	out, err := runKeygen(t, nil, "-new")
	require.NoError(t, err)
	lines := strings.Split(out, "\n")
	require.Len(t, lines, 2)
	l, err := security.ParseLicense(strings.TrimSpace(strings.TrimPrefix(lines[0], "license:")))
	require.NoError(t, err)
	require.NoError(t, l.CheckMaster(strings.TrimSpace(strings.TrimPrefix(lines[1], "master:")), time.Now()))
}
