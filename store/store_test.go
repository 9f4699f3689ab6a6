package store_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/store/storetest"
)

func TestMemory(t *testing.T) {
	storetest.Run(t, func(t testing.TB) store.Store {
		return store.NewMemory(store.Options{})
	})
}

func TestBolt(t *testing.T) {
	storetest.Run(t, func(t testing.TB) store.Store {
		s, err := store.OpenBolt(filepath.Join(t.TempDir(), "h.db"), store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

func TestBoltNoSync(t *testing.T) {
	storetest.Run(t, func(t testing.TB) store.Store {
		s, err := store.OpenBolt(filepath.Join(t.TempDir(), "h.db"), store.Options{NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}

// TestBoltNoCache runs the suite with the payload cache off (every payload is
// read from the file) and tiny (most are).
func TestBoltNoCache(t *testing.T) {
	for _, size := range []int{-1, 4096} {
		t.Run(fmt.Sprint("cache=", size), func(t *testing.T) {
			storetest.Run(t, func(t testing.TB) store.Store {
				s, err := store.OpenBolt(filepath.Join(t.TempDir(), "h.db"), store.Options{CacheBytes: size})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s
			})
		})
	}
}

// TestBoltSmallWAL runs the suite with a write-ahead log of 4 KiB applied
// every 1 KiB, so that it wraps around and is applied all the time, with
// and without the payload cache.
func TestBoltSmallWAL(t *testing.T) {
	for _, size := range []int{0, -1} {
		t.Run(fmt.Sprint("cache=", size), func(t *testing.T) {
			storetest.Run(t, func(t testing.TB) store.Store {
				s, err := store.OpenBoltWAL(filepath.Join(t.TempDir(), "h.db"), store.Options{CacheBytes: size}, 4096, 1024)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = s.Close() })
				return s
			})
		})
	}
}
