// Command chat is Herald embedded in a program, with no network: three users
// chat in a room, each on its own goroutine and connection, and a pool of
// workers shares a job queue through a share group.
//
//	go run ./examples/chat
package main

import (
	"context"
	"fmt"
	"log"
	"sync"

	"github.com/heraldmq/herald/engine"
)

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx := context.Background()
	e, err := engine.New(engine.Options{}) // in memory, Emitter matching
	if err != nil {
		return err
	}
	defer e.Close()

	// A chat room: every user subscribes to the room and publishes to it
	// without echo, so nobody receives their own lines.
	users := []string{"alice", "bob", "carol"}
	lines := map[string][]string{
		"alice": {"hi all", "anyone up for lunch?"},
		"bob":   {"hey alice", "sure, 12:30"},
		"carol": {"count me in"},
	}
	total := 0
	for _, l := range lines {
		total += len(l)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ready := make(chan struct{})
	for _, name := range users {
		conn, err := e.Connect(engine.ConnOptions{Username: name, Trusted: true})
		if err != nil {
			return err
		}
		sub, err := conn.Subscribe(ctx, "chat/room1/", nil)
		if err != nil {
			return err
		}
		wg.Go(func() {
			<-ready
			for _, line := range lines[name] {
				if err := conn.Publish(ctx, "chat/room1/"+name+"/", []byte(line), engine.WithoutEcho()); err != nil {
					log.Print(err)
				}
			}
			// Everyone else's lines arrive here, in each sender's order.
			for range total - len(lines[name]) {
				m, err := sub.Next(ctx)
				if err != nil {
					log.Print(err)
					return
				}
				mu.Lock()
				fmt.Printf("%-5s sees %s: %s\n", name, m.Channel, m)
				mu.Unlock()
			}
		})
	}
	close(ready)
	wg.Wait()

	// A share group: each job goes to exactly one of the three workers.
	boss, err := e.Connect(engine.ConnOptions{Trusted: true})
	if err != nil {
		return err
	}
	done := make(chan string, 9)
	for i := range 3 {
		worker, err := e.Connect(engine.ConnOptions{Trusted: true})
		if err != nil {
			return err
		}
		_, err = worker.Subscribe(ctx, "$share/workers/jobs/", func(m *engine.Message) {
			done <- fmt.Sprintf("worker %d did %s", i, m)
		})
		if err != nil {
			return err
		}
	}
	for j := range 9 {
		if err := boss.Publish(ctx, "jobs/", fmt.Appendf(nil, "job %d", j)); err != nil {
			return err
		}
	}
	for range 9 {
		fmt.Println(<-done)
	}
	return nil
}
