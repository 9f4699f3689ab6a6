// Package fsutil holds the file-system helpers that more than one Herald
// package needs.
package fsutil

import (
	"os"
	"path/filepath"
)

// WriteFileAtomic replaces the file at path with data so that, after a crash
// at any point, the file holds either its old content or all of data: it
// writes a temporary file in the same folder, syncs it, renames it over path
// and syncs the folder, so that the rename itself survives a crash. The file
// gets mode perm.
func WriteFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	defer os.Remove(name) // no-op after the rename
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
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
	if err := os.Rename(name, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
