package engine

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/heraldmq/herald/internal/fsutil"
)

// BanFile returns a BanStore that keeps banned keys in the file at path, one
// key per line. Every change rewrites the file atomically (a temporary file
// in the same folder, synced, then renamed over it) with mode 0600. A
// missing file is an empty list. Only one engine should use a given file.
func BanFile(path string) BanStore { return &banFile{path: path} }

type banFile struct {
	mu   sync.Mutex
	path string
	keys map[string]struct{} // nil until loaded
}

func (f *banFile) LoadBans(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(); err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(f.keys)), nil
}

func (f *banFile) load() error {
	if f.keys != nil {
		return nil
	}
	b, err := os.ReadFile(f.path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	f.keys = make(map[string]struct{})
	for line := range strings.Lines(string(b)) {
		if k := strings.TrimSpace(line); k != "" {
			f.keys[k] = struct{}{}
		}
	}
	return nil
}

func (f *banFile) AddBan(ctx context.Context, key string) error { return f.save(ctx, key, true) }

func (f *banFile) RemoveBan(ctx context.Context, key string) error { return f.save(ctx, key, false) }

func (f *banFile) save(ctx context.Context, key string, banned bool) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.load(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	next := maps.Clone(f.keys)
	if banned {
		next[key] = struct{}{}
	} else {
		delete(next, key)
	}
	if err := f.write(next); err != nil {
		return err
	}
	f.keys = next
	return nil
}

func (f *banFile) write(keys map[string]struct{}) error {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		b.WriteString(k)
		b.WriteByte('\n')
	}
	return fsutil.WriteFileAtomic(f.path, []byte(b.String()), 0o600)
}
