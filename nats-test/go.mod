module ticketing.dev/nats-test

go 1.26.0

require (
	github.com/nats-io/stan.go v0.10.4
	go.mongodb.org/mongo-driver v1.17.10
	ticketing.dev/common v0.0.0
)

require (
	github.com/gogo/protobuf v1.3.2 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/nats-io/nats.go v1.53.1 // indirect
	github.com/nats-io/nkeys v0.4.16 // indirect
	github.com/nats-io/nuid v1.0.1 // indirect
	github.com/stretchr/testify v1.12.1 // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)

replace ticketing.dev/common => ../common
