package engine_test

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
)

func ExampleConn_Subscribe() {
	ctx := context.Background()
	e, _ := engine.New(engine.Options{})
	defer e.Close()
	c, _ := e.Connect(engine.ConnOptions{Trusted: true})

	got := make(chan *engine.Message)
	// Emitter matching: a subscription to "sensors/" receives every channel
	// below it.
	_, _ = c.Subscribe(ctx, "sensors/", func(m *engine.Message) { got <- m })
	_ = c.Publish(ctx, "sensors/kitchen/temp/", []byte("21.5"))

	m := <-got
	fmt.Println(m.Channel, m.String())
	// Output: sensors/kitchen/temp/ 21.5
}

func ExampleSubscription_Messages() {
	ctx := context.Background()
	e, _ := engine.New(engine.Options{})
	defer e.Close()
	c, _ := e.Connect(engine.ConnOptions{Trusted: true})

	// A nil handler makes a pull subscription, read with Next or Messages.
	sub, _ := c.Subscribe(ctx, "jobs/+/", nil)
	for _, ch := range []string{"jobs/a/", "jobs/b/", "other/", "jobs/c/"} {
		_ = c.Publish(ctx, ch, []byte(ch))
	}
	n := 0
	for m := range sub.Messages(ctx) {
		fmt.Println(m)
		if n++; n == 3 {
			break
		}
	}
	// Output:
	// jobs/a/
	// jobs/b/
	// jobs/c/
}

func ExampleWithoutEcho() {
	ctx := context.Background()
	e, _ := engine.New(engine.Options{})
	defer e.Close()
	alice, _ := e.Connect(engine.ConnOptions{Username: "alice", Trusted: true})
	bob, _ := e.Connect(engine.ConnOptions{Username: "bob", Trusted: true})
	for _, c := range []*engine.Conn{alice, bob} {
		_, _ = c.Subscribe(ctx, "room/", func(m *engine.Message) {
			fmt.Printf("%s got %q\n", c.Username(), m)
		}, engine.Inline())
	}
	// Skip alice's own subscription (Emitter's "?me=0").
	_ = alice.Publish(ctx, "room/", []byte("hi"), engine.WithoutEcho())
	// Output: bob got "hi"
}

func ExampleNew_mqtt() {
	ctx := context.Background()
	e, _ := engine.New(engine.Options{Matching: topic.MQTT})
	defer e.Close()
	c, _ := e.Connect(engine.ConnOptions{Trusted: true})
	for _, filter := range []string{"home/", "home/+/", "home/#/"} {
		_, _ = c.Subscribe(ctx, filter, func(m *engine.Message) {
			fmt.Printf("%-8s got %s\n", filter, m.Channel)
		}, engine.Inline())
	}
	// MQTT matching: a filter matches at its own depth; '#' matches the rest.
	_ = c.Publish(ctx, "home/kitchen/", nil)
	// Unordered output:
	// home/+/  got home/kitchen/
	// home/#/  got home/kitchen/
}

func Example_shareGroup() {
	ctx := context.Background()
	e, _ := engine.New(engine.Options{})
	defer e.Close()
	c, _ := e.Connect(engine.ConnOptions{Trusted: true})
	counts := make([]int, 3)
	for i := range counts {
		_, _ = c.Subscribe(ctx, "$share/workers/jobs/", func(*engine.Message) { counts[i]++ }, engine.Inline())
	}
	for range 30 {
		_ = c.Publish(ctx, "jobs/", []byte("work"))
	}
	// Each job went to exactly one member, members taking turns.
	fmt.Println(counts)
	// Output: [10 10 10]
}

// With a Store, a publish with a TTL is kept, and a subscriber that asks for
// history receives the stored messages first, oldest to newest, then the live
// ones.
func ExampleWithLast() {
	ctx := context.Background()
	e, _ := engine.New(engine.Options{Store: store.NewMemory(store.Options{})})
	defer e.Close()
	c, _ := e.Connect(engine.ConnOptions{Trusted: true})

	for i := 1; i <= 3; i++ {
		_ = c.Publish(ctx, "sensors/temp/", fmt.Appendf(nil, "reading %d", i), engine.WithTTL(time.Hour))
	}
	_ = c.Publish(ctx, "sensors/temp/", []byte("not kept")) // no TTL: delivered live only

	sub, _ := c.Subscribe(ctx, "sensors/", nil, engine.WithLast(2))
	_ = c.Publish(ctx, "sensors/temp/", []byte("live"))
	for range 3 {
		m, _ := sub.Next(ctx)
		fmt.Println(m.Channel, m.String())
	}
	// Output:
	// sensors/temp/ reading 2
	// sensors/temp/ reading 3
	// sensors/temp/ live
}

// History reads what is stored without subscribing, page by page: WithAfter
// continues after the last message of the previous page.
func ExampleConn_History() {
	ctx := context.Background()
	e, _ := engine.New(engine.Options{Store: store.NewMemory(store.Options{})})
	defer e.Close()
	c, _ := e.Connect(engine.ConnOptions{Trusted: true})
	for i := 1; i <= 5; i++ {
		_ = c.Publish(ctx, "orders/", fmt.Appendf(nil, "order %d", i), engine.WithTTL(time.Hour))
	}

	newest, _ := c.History(ctx, "orders/?last=2")
	fmt.Println("newest:", newest[0], newest[1])

	page, _ := c.History(ctx, "orders/", engine.WithLast(3), engine.WithAfter(engine.ID{}))
	for len(page) > 0 {
		fmt.Print("page:")
		for _, m := range page {
			fmt.Print(" ", m)
		}
		fmt.Println()
		page, _ = c.History(ctx, "orders/", engine.WithLast(3), engine.WithAfter(page[len(page)-1].ID))
	}
	// Output:
	// newest: order 4 order 5
	// page: order 1 order 2 order 3
	// page: order 4 order 5
}

// A link is a short name for a channel with its options and key: what
// Emitter's clients use to publish with a two-character topic.
func ExampleConn_Link() {
	ctx := context.Background()
	e, _ := engine.New(engine.Options{})
	defer e.Close()
	c, _ := e.Connect(engine.ConnOptions{Trusted: true})
	sub, _ := c.Subscribe(ctx, "alerts/", nil)

	_ = c.Link("a1", "alerts/fire/", "")
	_ = c.PublishLink(ctx, "a1", []byte("evacuate"))
	m, _ := sub.Next(ctx)
	fmt.Println(m.Channel, m, c.Links())
	// Output:
	// alerts/fire/ evacuate map[a1:alerts/fire/]
}
