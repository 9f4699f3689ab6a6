package engine_test

import (
	"context"
	"fmt"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
)

// Network clients are untrusted connections: every operation needs a channel
// key, checked as Emitter checks it, and a refusal carries Emitter's status.
func ExampleConn_Keygen() {
	ctx := context.Background()
	// No license given: the engine creates one. Keep e.License().Encode()
	// (a secret) and pass it as Options.License to reuse keys after a restart.
	e, _ := engine.New(engine.Options{})
	defer e.Close()
	master := e.License().NewMasterKey()

	c, _ := e.Connect(engine.ConnOptions{}) // untrusted: the zero value
	key, channel, err := c.Keygen(master, security.KeySpec{
		Channel:     "chat/#/",
		Permissions: security.ParsePermissions("rw"),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println("key for", channel, "is", len(key), "characters")

	sub, _ := c.Subscribe(ctx, "chat/", nil, engine.WithKey(key))
	fmt.Println(c.Publish(ctx, "chat/room1/", []byte("hello"), engine.WithKey(key)))
	m, _ := sub.Next(ctx)
	fmt.Println(m.Channel, m.String())

	err = c.Publish(ctx, "news/", []byte("no"), engine.WithKey(key))
	s := engine.StatusOf(err)
	fmt.Println(s.Status, s.Message)

	_ = e.Ban(ctx, master, key)
	s = engine.StatusOf(c.Publish(ctx, "chat/room1/", nil, engine.WithKey(key)))
	fmt.Println(s.Status, e.Banned(key))
	// Output:
	// key for chat/#/ is 32 characters
	// <nil>
	// chat/room1/ hello
	// 401 the security key provided is not authorized to perform this operation
	// 401 true
}

// A key with the extend permission (e) creates private channel keys: the
// channel gets the connection's id appended.
func ExampleConn_Keygen_extend() {
	e, _ := engine.New(engine.Options{})
	defer e.Close()
	master := e.License().NewMasterKey()
	c, _ := e.Connect(engine.ConnOptions{ID: "CONN1"})

	ext, _, _ := c.Keygen(master, security.KeySpec{Channel: "inbox/", Permissions: security.ParsePermissions("rwe")})
	err := c.Publish(context.Background(), "inbox/", nil, engine.WithKey(ext))
	fmt.Println(engine.StatusOf(err).Message)

	private, channel, _ := c.Keygen(ext, security.KeySpec{Channel: "inbox/", Permissions: security.ParsePermissions("rw")})
	fmt.Println(channel, c.Publish(context.Background(), channel, nil, engine.WithKey(private)))
	// Output:
	// the security key with extend permission can only be used for private links
	// inbox/CONN1/ <nil>
}

// A master key bans a channel key on every connection at once; BanFile (or a
// store that keeps bans) makes the ban survive a restart.
func ExampleEngine_Ban() {
	ctx := context.Background()
	e, _ := engine.New(engine.Options{})
	defer e.Close()
	master := e.License().NewMasterKey()
	key, _ := e.License().Mint(security.KeySpec{Channel: "chat/#/", Permissions: security.ParsePermissions("rw")})

	c, _ := e.Connect(engine.ConnOptions{})
	fmt.Println(c.Publish(ctx, "chat/", []byte("before"), engine.WithKey(key)))

	fmt.Println(e.Ban(ctx, master, key), e.Banned(key))
	s := engine.StatusOf(c.Publish(ctx, "chat/", []byte("during"), engine.WithKey(key)))
	fmt.Println(s.Status, s.Message)

	fmt.Println(e.Unban(ctx, master, key), e.Banned(key))
	fmt.Println(c.Publish(ctx, "chat/", []byte("after"), engine.WithKey(key)))
	// Output:
	// <nil>
	// <nil> true
	// 401 the security key provided is not authorized to perform this operation
	// <nil> false
	// <nil>
}
