package engine

import (
	"testing"
	"time"

	"github.com/heraldmq/herald/security"
)

const benchLicense = "PfA8IFBKLxUndYEooeCnvtECGQI5CuDvpHbu1NUoTSPNosAJEAnVyfJ1ZTw-FCroriETLMvbyOuJCISnu_wFAQ:3"

// BenchmarkAuthorize is the whole authorisation of one publish by an
// untrusted connection with a valid key that has been seen before: ban
// check, cached decryption, expiry, contract, permission and channel.
// "expiring" uses a key with an expiry, which costs a clock reading.
func BenchmarkAuthorize(b *testing.B) {
	for _, bc := range []struct {
		name string
		bans int
		ttl  time.Duration
	}{{"bans=0", 0, 0}, {"bans=1000", 1000, 0}, {"expiring", 0, time.Hour}} {
		b.Run(bc.name, func(b *testing.B) {
			e, err := New(Options{License: benchLicense})
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			c, err := e.Connect(ConnOptions{})
			if err != nil {
				b.Fatal(err)
			}
			master := e.License().NewMasterKey()
			key, err := e.License().Mint(security.KeySpec{Channel: "app/room/#/", Permissions: security.ParsePermissions("rw"), TTL: bc.ttl})
			if err != nil {
				b.Fatal(err)
			}
			for range bc.bans {
				other, _ := e.License().Mint(security.KeySpec{Channel: "x/", Permissions: security.PermRead})
				if err := e.Ban(b.Context(), master, other); err != nil {
					b.Fatal(err)
				}
			}
			ch, err := security.ParseChannel("app/room/42/")
			if err != nil {
				b.Fatal(err)
			}
			var opts [1]PublishOption
			opts[0] = WithKey(key)
			run := func() error {
				var co callOptions
				co.applyPublish(opts[:])
				return e.authorize(c, opPublish, &ch, &co)
			}
			if err := run(); err != nil { // the key is now cached
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if err := run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkAuthorizeParallel is BenchmarkAuthorize from every core at once.
func BenchmarkAuthorizeParallel(b *testing.B) {
	e, err := New(Options{License: benchLicense})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	c, _ := e.Connect(ConnOptions{})
	key, _ := e.License().Mint(security.KeySpec{Channel: "app/room/#/", Permissions: security.ParsePermissions("rw")})
	ch, _ := security.ParseChannel("app/room/42/")
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		opts := []PublishOption{WithKey(key)}
		for pb.Next() {
			var co callOptions
			co.applyPublish(opts)
			if err := e.authorize(c, opPublish, &ch, &co); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
