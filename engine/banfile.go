package engine

import (
	"context"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
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

func (f *banFile) SaveBan(ctx context.Context, key string, banned bool) error {
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
	dir := filepath.Dir(f.path)
	tmp, err := os.CreateTemp(dir, ".herald-bans-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after the rename
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, f.path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
