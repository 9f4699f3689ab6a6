package storetest_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/store/storetest"
)

// CountingStore stands for your own Store implementation: it keeps its
// messages in a store.Memory and counts the messages stored. Embedding
// *store.Memory also gives it Sweep, which the suite checks when a store has
// it.
type CountingStore struct {
	*store.Memory
	stored atomic.Int64
}

// NewCountingStore returns an empty CountingStore with the default limits.
func NewCountingStore() *CountingStore {
	return &CountingStore{Memory: store.NewMemory(store.Options{})}
}

// Store stores msgs in the Memory and counts them.
func (s *CountingStore) Store(ctx context.Context, msgs ...store.Message) error {
	if err := s.Memory.Store(ctx, msgs...); err != nil {
		return err
	}
	s.stored.Add(int64(len(msgs)))
	return nil
}

// Stored returns how many messages Store has stored.
func (s *CountingStore) Stored() int64 { return s.stored.Load() }

// Run the conformance suite against your own Store from a test of its
// package: Run calls the function it is given for a new, empty store in each
// of its subtests, and closes it.
func Example() {
	// In a _test.go file next to CountingStore (this repository runs it as
	// TestCountingStore in storetest_test.go):
	testCountingStore := func(t *testing.T) {
		storetest.Run(t, func(t testing.TB) store.Store {
			return NewCountingStore()
		})
	}
	_ = testCountingStore
}
