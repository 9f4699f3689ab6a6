package storetest_test

import (
	"testing"

	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/store/storetest"
)

// TestCountingStore runs the suite against CountingStore, the Store of
// Example: a type of its own that wraps store.Memory and replaces one of its
// methods, as a user's store would be.
func TestCountingStore(t *testing.T) {
	var stores []*CountingStore
	storetest.Run(t, func(t testing.TB) store.Store {
		s := NewCountingStore()
		stores = append(stores, s)
		return s
	})
	var stored int64
	for _, s := range stores {
		stored += s.Stored()
	}
	if len(stores) == 0 || stored == 0 {
		t.Fatalf("the suite stored %d messages in %d stores", stored, len(stores))
	}
}
