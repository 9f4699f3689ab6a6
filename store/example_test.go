package store_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
)

// Store messages in memory and ask for the newest of a channel tree.
func Example() {
	ctx := context.Background()
	st := store.NewMemory(store.Options{})
	defer st.Close()

	t0 := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC).UnixNano()
	for i, ch := range []string{"sensors/kitchen/", "sensors/hall/", "sensors/kitchen/", "alerts/"} {
		m := store.Message{ID: store.NewID(t0+int64(i), 42), Channel: ch, Payload: fmt.Appendf(nil, "reading %d", i)}
		if err := st.Store(ctx, m); err != nil {
			panic(err)
		}
	}
	// Emitter matching: "sensors/" also matches "sensors/kitchen/" and "sensors/hall/".
	msgs, err := st.Query(ctx, store.Query{Filter: "sensors/", Last: 2})
	if err != nil {
		panic(err)
	}
	for _, m := range msgs {
		fmt.Println(m.Channel, string(m.Payload))
	}
	// Output:
	// sensors/hall/ reading 1
	// sensors/kitchen/ reading 2
}

// A durable store in a bbolt file: Store returns once the message is synced.
func ExampleOpenBolt() {
	dir, _ := os.MkdirTemp("", "herald-example-")
	defer os.RemoveAll(dir)
	ctx := context.Background()

	st, err := store.OpenBolt(filepath.Join(dir, "history.db"), store.Options{})
	if err != nil {
		panic(err)
	}
	id := store.NewID(time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).UnixNano(), 1)
	expires, _ := store.ExpiresAfter(id, 100*365*24*time.Hour)
	if err := st.Store(ctx, store.Message{ID: id, Channel: "a/b/", Payload: []byte("kept"), Expires: expires}); err != nil {
		panic(err)
	}
	st.Close()

	st, err = store.OpenBolt(filepath.Join(dir, "history.db"), store.Options{})
	if err != nil {
		panic(err)
	}
	defer st.Close()
	msgs, _ := st.Query(ctx, store.Query{Filter: "a/b/", Matching: topic.MQTT})
	fmt.Println(len(msgs), string(msgs[0].Payload))
	// Output: 1 kept
}

// Retained messages: one per channel, replaced by the next, cleared by an
// empty payload.
func ExampleStore_retained() {
	ctx := context.Background()
	st := store.NewMemory(store.Options{})
	defer st.Close()
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	retain := func(i int64, ch, payload string) {
		_ = st.Store(ctx, store.Message{ID: store.NewID(t0+i, 1), Channel: ch, Payload: []byte(payload), Retained: true})
	}
	retain(1, "lights/kitchen/", "on")
	retain(2, "lights/kitchen/", "off") // replaces "on"
	retain(3, "lights/hall/", "on")
	retain(4, "lights/garage/", "on")
	retain(5, "lights/garage/", "") // clears

	_ = st.Retained(ctx, "lights/+/", topic.MQTT, func(m store.Message) error {
		fmt.Println(m.Channel, string(m.Payload))
		return nil
	})
	// Output:
	// lights/hall/ on
	// lights/kitchen/ off
}

// Page forward through a channel's history with After.
func ExampleQuery_paging() {
	ctx := context.Background()
	st := store.NewMemory(store.Options{})
	defer st.Close()
	t0 := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	for i := range 5 {
		_ = st.Store(ctx, store.Message{ID: store.NewID(t0+int64(i), 1), Channel: "log/", Payload: fmt.Append(nil, i)})
	}
	q := store.Query{Filter: "log/", Limit: 2}
	for {
		page, _ := st.Query(ctx, q)
		if len(page) == 0 {
			break
		}
		for _, m := range page {
			fmt.Print(string(m.Payload), " ")
		}
		fmt.Println("|")
		q.After = page[len(page)-1].ID
	}
	// Output:
	// 0 1 |
	// 2 3 |
	// 4 |
}
