package security_test

import (
	"fmt"
	"time"

	"github.com/heraldmq/herald/security"
)

// A license and a channel key from a real Emitter broker.
func ExampleLicense_DecryptKey() {
	license, err := security.ParseLicense("PfA8IFBKLxUndYEooeCnvtECGQI5CuDvpHbu1NUoTSPNosAJEAnVyfJ1ZTw-FCroriETLMvbyOuJCISnu_wFAQ:3")
	if err != nil {
		panic(err)
	}
	key, err := license.DecryptKey("EjTvFZJ18rzaeWnzVqD7sg6H7j51SGgK")
	if err != nil {
		panic(err)
	}
	fmt.Println(license)
	fmt.Println(key)
	fmt.Println("belongs to the license:", license.Validate(key))
	fmt.Println("a/b/c/:", key.ValidateChannel("a/b/c/"))
	fmt.Println("a/b/c/d/:", key.ValidateChannel("a/b/c/d/"))
	// Output:
	// security.License{generation: 3, contract: 2168120411}
	// security.Key{perm: rw, target: exact, expires: never}
	// belongs to the license: true
	// a/b/c/: true
	// a/b/c/d/: false
}

// Minting a key offline needs only the license: no broker, no master key.
func ExampleLicense_Mint() {
	license := security.NewLicense() // or security.ParseLicense(os.Getenv(...))
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key, err := license.Mint(security.KeySpec{
		Channel:     "chat/#/",
		Permissions: security.ParsePermissions("rwl"),
		TTL:         24 * time.Hour,
		Now:         now,
	})
	if err != nil {
		panic(err)
	}
	k, _ := license.DecryptKey(key)
	fmt.Println(len(key), k)
	fmt.Println(license.Authorize(k, security.PermWrite, "chat/room1/", now))
	fmt.Println(license.Authorize(k, security.PermWrite, "news/", now))
	// Output:
	// 32 security.Key{perm: rwl, target: wildcard, expires: 2026-01-02T00:00:00Z}
	// <nil>
	// security: key is not valid for this channel
}

// Keys ending in '+' segments validate what their author meant (in Emitter
// they validate nothing).
func ExampleKey_ValidateChannel() {
	var k security.Key
	if err := k.SetTarget("rooms/+/"); err != nil {
		panic(err)
	}
	for _, ch := range []string{"rooms/1/", "rooms/+/", "rooms/", "rooms/1/chat/", "lobby/1/"} {
		fmt.Println(ch, k.ValidateChannel(ch))
	}
	// Output:
	// rooms/1/ true
	// rooms/+/ true
	// rooms/ false
	// rooms/1/chat/ false
	// lobby/1/ false
}

// A master key generates keys as Emitter's keygen does; a key with the
// extend permission then creates private channel keys for one connection.
func ExampleLicense_Keygen() {
	license := security.NewLicense()
	master := license.NewMasterKey()

	ext, _, err := license.Keygen(master, security.KeySpec{Channel: "inbox/", Permissions: security.ParsePermissions("rwe")}, "")
	if err != nil {
		panic(err)
	}
	k, _ := license.DecryptKey(ext)
	fmt.Println(security.StatusOf(license.Authorize(k, security.PermWrite, "inbox/", time.Now())).Message)

	priv, channel, err := license.Keygen(ext, security.KeySpec{Channel: "inbox/", Permissions: security.ParsePermissions("rw")}, "CONN42")
	if err != nil {
		panic(err)
	}
	k, _ = license.DecryptKey(priv)
	fmt.Println(channel, k.Permissions(), license.Authorize(k, security.PermWrite, channel, time.Now()))
	// Output:
	// the security key with extend permission can only be used for private links
	// inbox/CONN42/ rw <nil>
}

// Errors carry Emitter's status code and exact message for the client.
func ExampleStatusOf() {
	license := security.NewLicense()
	_, err := license.Mint(security.KeySpec{Channel: "a/b", Permissions: security.PermRead})
	status := security.StatusOf(err)
	fmt.Println(status.Status, status.Message)

	_, err = license.DecryptKey("not-a-key")
	status = security.StatusOf(err)
	fmt.Println(status.Status, status.Message)
	// Output:
	// 400 channel should end with `/` for strict types or `/#/` for wildcards
	// 401 the security key provided is not authorized to perform this operation
}

func ExampleParsePermissions() {
	p := security.ParsePermissions("rwslp")
	fmt.Println(p, p.Has(security.PermWrite), p.Has(security.PermExtend))
	// Output: rwslp true false
}
