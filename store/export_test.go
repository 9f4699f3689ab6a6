package store

// CommitStats returns the committer's transaction and request counts.
func (b *Bolt) CommitStats() (commits, requests int64) { return b.commits.Load(), b.committed.Load() }

// OpenBoltWAL opens a Bolt store whose write-ahead log starts again at its
// beginning after wrap bytes and is applied every apply bytes.
func OpenBoltWAL(path string, o Options, wrap, apply int64) (*Bolt, error) {
	o.walWrap, o.walApply = wrap, apply
	return OpenBolt(path, o)
}
