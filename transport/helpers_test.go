package transport_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/transport"
)

// broker is an engine and a server listening on a loopback port.
type broker struct {
	e    *engine.Engine
	srv  *transport.Server
	addr string // host:port
	errc chan error
}

// startBroker starts an engine (with an in-memory store) and a server on
// 127.0.0.1:0, closed at the end of the test.
func startBroker(t testing.TB, eo engine.Options, o transport.Options) *broker {
	t.Helper()
	if eo.Store == nil {
		eo.Store = store.NewMemory(store.Options{})
	}
	e, err := engine.New(eo)
	require.NoError(t, err)
	srv, err := transport.New(e, o)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &broker{e: e, srv: srv, addr: ln.Addr().String(), errc: make(chan error, 1)}
	go func() { b.errc <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, srv.Shutdown(ctx))
		require.True(t, errors.Is(<-b.errc, transport.ErrServerClosed))
		require.NoError(t, e.Close())
	})
	return b
}

// masterKey returns the engine license's master key.
func (b *broker) masterKey() string { return b.e.License().NewMasterKey() }

// recv waits for a value on ch.
func recv[T any](t testing.TB, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}
