package store

import (
	"context"
	"time"
)

// sweeper runs sweep every interval until stopped.
type sweeper struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startSweeper starts the background sweeper; it returns nil when interval is
// negative (disabled).
func startSweeper(o *Options, sweep func(context.Context) (int, error)) *sweeper {
	if o.SweepInterval < 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &sweeper{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(o.SweepInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if n, err := sweep(ctx); err != nil && ctx.Err() == nil {
				o.Logger.Warn("store: sweep failed", "err", err, "removed", n)
			} else if n > 0 {
				o.Logger.Debug("store: swept expired messages", "removed", n)
			}
		}
	}()
	return s
}

// stop stops the sweeper and waits for it to exit. It is nil-safe.
func (s *sweeper) stop() {
	if s == nil {
		return
	}
	s.cancel()
	<-s.done
}
