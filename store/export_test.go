package store

// CommitStats returns the committer's transaction and request counts.
func (b *Bolt) CommitStats() (commits, requests int64) { return b.commits.Load(), b.committed.Load() }
