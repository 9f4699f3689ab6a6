module github.com/heraldmq/herald

go 1.26

require (
	github.com/tidwall/btree v1.8.1 // indirect
	go.etcd.io/bbolt v1.4.3 // indirect
	golang.org/x/sys v0.29.0 // indirect
)
