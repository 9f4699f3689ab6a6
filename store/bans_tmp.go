package store

import "context"

// TEMPORARY until the bolt.go split is merged.

func (b *Bolt) AddBan(ctx context.Context, key string) error    { return b.SaveBan(ctx, key, true) }
func (b *Bolt) RemoveBan(ctx context.Context, key string) error { return b.SaveBan(ctx, key, false) }
func (m *Memory) AddBan(ctx context.Context, key string) error  { return m.SaveBan(ctx, key, true) }
func (m *Memory) RemoveBan(ctx context.Context, key string) error {
	return m.SaveBan(ctx, key, false)
}
