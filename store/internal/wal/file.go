package wal

import (
	"errors"
	"io"
	"os"
	"path/filepath"
)

// File is a log file open for writing. It is not safe for concurrent use:
// one goroutine writes it.
type File struct {
	f       *os.File
	pos     int64  // where the next record goes
	lsn     uint64 // the last record written
	wrap    int64  // the size at which the log starts again at its beginning
	durable bool   // Sync fdatasyncs
}

// Open opens (creating) the log at path for writing from its start, after
// writing zeros up to wrap bytes if it is shorter; lsn is the last sequence
// number used so far. With durable, Sync syncs the file (and Open syncs the
// zeros and the directory); without it, nothing is synced.
func Open(path string, lsn uint64, wrap int64, durable bool) (*File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	w := &File{f: f, lsn: lsn, wrap: wrap, durable: durable}
	if err := w.prealloc(filepath.Dir(path)); err != nil {
		_ = f.Close()
		return nil, err
	}
	return w, nil
}

// prealloc writes zeros up to w.wrap bytes in a file shorter than that and
// syncs it and its directory: syncing a record written over blocks the file
// has costs one flush, where a record that grows the file also commits the
// file system's journal.
func (w *File) prealloc(dir string) error {
	st, err := w.f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if size >= w.wrap {
		return nil
	}
	zeros := make([]byte, min(w.wrap-size, 1<<20))
	for size < w.wrap {
		n, err := w.f.WriteAt(zeros[:min(int64(len(zeros)), w.wrap-size)], size)
		size += int64(n)
		if err != nil {
			return err
		}
	}
	if !w.durable {
		return nil
	}
	if err := fdatasync(w.f); err != nil {
		return err
	}
	return syncDir(dir)
}

// ErrWrap is returned by Write when the record does not fit before the wrap
// size: the log must start again at its beginning (Rewind) once everything
// in it has been applied.
var ErrWrap = errors.New("wal: log full")

// Write writes rec, sealed with the next sequence number, after the
// previous record. It does not sync it.
func (w *File) Write(rec *Rec) error {
	if w.pos > 0 && w.pos+int64(len(rec.Buf)) > w.wrap {
		return ErrWrap
	}
	rec.Seal(w.lsn + 1)
	if _, err := w.f.WriteAt(rec.Buf, w.pos); err != nil {
		return err
	}
	w.lsn++
	w.pos += int64(len(rec.Buf))
	return nil
}

// Sync makes every record written so far durable, if the file is durable.
func (w *File) Sync() error {
	if !w.durable {
		return nil
	}
	return fdatasync(w.f)
}

// Rewind makes the next record go at the start of the file. Every record in
// it must have been applied.
func (w *File) Rewind() { w.pos = 0 }

// Close closes the file.
func (w *File) Close() error { return w.f.Close() }

// LSN returns the sequence number of the last record written.
func (w *File) LSN() uint64 { return w.lsn }

// Pos returns the offset at which the next record goes.
func (w *File) Pos() int64 { return w.pos }

// Durable reports whether Sync syncs.
func (w *File) Durable() bool { return w.durable }

// ReadFile reads the log at path as Read does; a missing file has no
// records.
func ReadFile(path string, check func(*Op) error) ([]Rec, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil, err
	}
	return Read(data, check)
}

// syncDir syncs the directory at path, making a new entry in it durable.
func syncDir(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
