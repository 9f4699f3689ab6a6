module github.com/heraldmq/herald

go 1.26

require (
	github.com/klauspost/compress v1.20.3
	github.com/stretchr/testify v1.11.1
	github.com/tidwall/btree v1.8.1
	go.etcd.io/bbolt v1.4.3
	golang.org/x/crypto v0.54.0
)

require (
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
