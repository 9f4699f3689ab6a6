module github.com/heraldmq/herald

go 1.26

require (
	github.com/256dpi/gomqtt v0.14.4
	github.com/eclipse/paho.mqtt.golang v1.5.0
	github.com/emitter-io/go/v2 v2.1.0
	github.com/klauspost/compress v1.20.3
	github.com/stretchr/testify v1.11.1
	github.com/tidwall/btree v1.8.1
	go.etcd.io/bbolt v1.4.3
	golang.org/x/crypto v0.54.0
)

require (
	github.com/256dpi/mercury v0.2.0 // indirect
	github.com/davecgh/go-spew v1.1.1 // indirect
	github.com/gorilla/websocket v1.5.3 // indirect
	github.com/jpillora/backoff v0.0.0-20170918002102-8eab2debe79d // indirect
	github.com/pmezard/go-difflib v1.0.0 // indirect
	golang.org/x/net v0.56.0 // indirect
	golang.org/x/sync v0.10.0 // indirect
	golang.org/x/sys v0.47.0 // indirect
	gopkg.in/tomb.v2 v2.0.0-20161208151619-d5d1b5820637 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
