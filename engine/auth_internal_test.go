package engine

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/security"
)

func TestKeyCacheBounded(t *testing.T) {
	var c keyCache
	c.init(100)
	l := security.NewLicense()
	var keys []string
	for i := range 1000 {
		var k security.Key
		k.SetSalt(uint16(i))
		k.SetContract(uint32(i))
		s := l.EncryptKey(k)
		keys = append(keys, s)
		c.put(s, k)
		n := 0
		for i := range c.shards {
			n += len(c.shards[i].m)
		}
		require.LessOrEqual(t, n, keyCacheShards*c.perShard)
	}
	// Whatever is cached is correct; the newest key is always there.
	for i, s := range keys {
		if k, ok := c.get(s); ok {
			require.EqualValues(t, i, k.Contract())
		}
	}
	k, ok := c.get(keys[len(keys)-1])
	require.True(t, ok)
	require.EqualValues(t, 999, k.Contract())
	c.remove(keys[len(keys)-1])
	_, ok = c.get(keys[len(keys)-1])
	require.False(t, ok)

	var off keyCache
	off.put("x", security.Key{})
	_, ok = off.get("x")
	require.False(t, ok)
}

func TestKeyCacheCopiesKeyString(t *testing.T) {
	var c keyCache
	c.init(16)
	buf := []byte("EjTvFZJ18rzaeWnzVqD7sg6H7j51SGgK")
	s := string(buf)
	c.put(s[:], security.Key{})
	for i := range buf {
		buf[i] = 'A' // a transport reusing its buffer does not corrupt the cache
	}
	_, ok := c.get("EjTvFZJ18rzaeWnzVqD7sg6H7j51SGgK")
	require.True(t, ok)
}

func TestKeyCacheConcurrent(t *testing.T) {
	var c keyCache
	c.init(64)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 2000 {
				s := fmt.Sprintf("key-%d-%d", g, i%200)
				var k security.Key
				k.SetContract(uint32(i % 200))
				c.put(s, k)
				if got, ok := c.get(s); ok {
					require.EqualValues(t, i%200, got.Contract())
				}
				if i%7 == 0 {
					c.remove(s)
				}
			}
		})
	}
	wg.Wait()
}
