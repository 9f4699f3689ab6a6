package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	emitter "github.com/emitter-io/go/v2"
	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
)

// syncBuffer is a bytes.Buffer safe for the broker's logger and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startRun runs the broker until the returned stop is called.
func startRun(t *testing.T, args []string, env map[string]string) (addr string, stop func() error, out, logs *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	errc := make(chan error, 1)
	out, logs = &syncBuffer{}, &syncBuffer{}
	go func() {
		errc <- run(ctx, args, func(k string) string { return env[k] }, out, logs, ready)
	}()
	select {
	case addr = <-ready:
	case err := <-errc:
		cancel()
		t.Fatalf("broker: %v\n%s", err, logs)
	case <-time.After(10 * time.Second):
		t.Fatal("broker did not start")
	}
	return addr, func() error { cancel(); return <-errc }, out, logs
}

func TestBrokerFirstStartAndRestart(t *testing.T) {
	data := t.TempDir()
	args := []string{"-listen", "127.0.0.1:0"}
	env := map[string]string{"HERALD_DATA": data}
	addr, stop, out, logs := startRun(t, args, env)

	secretPath := filepath.Join(data, "master.secret")
	for _, f := range []string{"license", "master.secret"} {
		st, err := os.Stat(filepath.Join(data, f))
		require.NoError(t, err)
		require.Equal(t, os.FileMode(0o600), st.Mode().Perm(), f)
	}
	secretBytes, err := os.ReadFile(secretPath)
	require.NoError(t, err)
	secret := strings.TrimSpace(string(secretBytes))
	licenseBytes, err := os.ReadFile(filepath.Join(data, "license"))
	require.NoError(t, err)
	require.Contains(t, out.String(), secretPath)

	c := emitter.NewClient(emitter.WithBrokers("tcp://"+addr), emitter.WithAutoReconnect(false))
	require.NoError(t, c.Connect())
	key, _, err := c.GenerateKey(secret, "news/", "rw", 0)
	require.NoError(t, err)
	got := make(chan string, 1)
	require.NoError(t, c.Subscribe(key, "news/", func(_ *emitter.Client, m emitter.Message) { got <- string(m.Payload()) }))
	require.NoError(t, c.Publish(key, "news/", "first run"))
	require.Equal(t, "first run", <-got)
	c.Disconnect(100 * time.Millisecond)
	require.NoError(t, stop())
	for _, s := range []string{secret, strings.TrimSpace(string(licenseBytes))} {
		require.NotContains(t, logs.String(), s)
		require.NotContains(t, out.String(), s)
	}

	// Second start: same license, the key minted before still works.
	addr, stop, _, logs = startRun(t, args, env)
	defer func() { require.NoError(t, stop()) }()
	again, err := os.ReadFile(filepath.Join(data, "license"))
	require.NoError(t, err)
	require.Equal(t, licenseBytes, again)
	require.NotContains(t, logs.String(), "created a new license")
	c = emitter.NewClient(emitter.WithBrokers("ws://"+addr+"/"), emitter.WithAutoReconnect(false))
	require.NoError(t, c.Connect())
	defer c.Disconnect(100 * time.Millisecond)
	errs := make(chan emitter.Error, 1)
	c.OnError(func(_ *emitter.Client, e emitter.Error) { errs <- e })
	require.NoError(t, c.Subscribe(key, "news/", func(_ *emitter.Client, m emitter.Message) { got <- string(m.Payload()) }))
	require.NoError(t, c.Publish(key, "news/", "second run"))
	select {
	case m := <-got:
		require.Equal(t, "second run", m)
	case e := <-errs:
		t.Fatalf("key refused after restart: %v", e)
	case <-time.After(10 * time.Second):
		t.Fatal("no message")
	}
}

func TestBrokerFlags(t *testing.T) {
	_, err := parseFlags([]string{"-matcher", "mqtt"}, func(k string) string {
		return map[string]string{"HERALD_PLAIN": "true", "HERALD_MATCHER": "emitter", "HERALD_MAX_CONNS": "7"}[k]
	}, &bytes.Buffer{})
	require.NoError(t, err)
	c, _ := parseFlags([]string{"-matcher", "mqtt"}, func(k string) string {
		return map[string]string{"HERALD_PLAIN": "true", "HERALD_MATCHER": "emitter", "HERALD_MAX_CONNS": "7"}[k]
	}, &bytes.Buffer{})
	require.Equal(t, "mqtt", c.matcher) // the command line wins
	require.True(t, c.plainTopics)
	require.Equal(t, 7, c.maxConns)
	_, err = parseFlags(nil, func(k string) string {
		return map[string]string{"HERALD_MAX_CONNS": "x"}[k]
	}, &bytes.Buffer{})
	require.ErrorContains(t, err, "HERALD_MAX_CONNS")

	_, _, err = func() (string, func() error, error) {
		err := run(context.Background(), []string{"-matcher", "nope", "-data", t.TempDir(), "-listen", "127.0.0.1:0"},
			func(string) string { return "" }, &bytes.Buffer{}, &bytes.Buffer{}, nil)
		return "", nil, err
	}()
	require.ErrorContains(t, err, "-matcher")
}

// TestBrokerQueueFlag checks that -max-queued and HERALD_MAX_QUEUED set the
// transport's QueueSize, and that it defaults to the engine's queue size.
func TestBrokerQueueFlag(t *testing.T) {
	env := func(k string) string { return map[string]string{"HERALD_MAX_QUEUED": "77"}[k] }
	c, err := parseFlags(nil, env, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, 77, c.queueSize)
	c, err = parseFlags([]string{"-max-queued", "5"}, env, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, 5, c.queueSize)
	c, err = parseFlags(nil, func(string) string { return "" }, &bytes.Buffer{})
	require.NoError(t, err)
	require.Equal(t, engine.DefaultQueueSize, c.queueSize)
}
