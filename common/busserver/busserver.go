// Package busserver runs the bus's servers in-process: NATS Streaming, or
// nats-server with JetStream (alone or as one server of a cluster). The
// local stack runs them as processes of their own (infra/cmd/natsbus) and
// the tests embed them (package testkit).
package busserver

import (
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	stand "github.com/nats-io/nats-streaming-server/server"
	"github.com/nats-io/nats-streaming-server/stores"
)

// ClusterID is NATS Streaming's cluster id in the contract.
const ClusterID = "ticketing"

// STANOptions configure a NATS Streaming server.
type STANOptions struct {
	// Host and Port are the client listener; Port -1 picks a free one.
	Host string
	Port int
	// Dir keeps the file store; empty keeps messages in memory.
	Dir string
}

// StartSTAN runs a NATS Streaming server (cluster ClusterID).
func StartSTAN(o STANOptions) (*stand.StanServer, error) {
	opts := stand.GetDefaultOptions()
	opts.ID = ClusterID
	if o.Dir != "" {
		opts.StoreType = stores.TypeFile
		opts.FilestoreDir = o.Dir
	}
	nopts := stand.DefaultNatsServerOptions
	nopts.Host = o.Host
	nopts.Port = o.Port
	nopts.NoLog = true
	nopts.NoSigs = true
	s, err := stand.RunServerWithOpts(opts, &nopts)
	if err != nil {
		return nil, fmt.Errorf("starting NATS Streaming on %s:%d: %w", o.Host, o.Port, err)
	}
	return s, nil
}

// JetStreamOptions configure a nats-server with JetStream.
type JetStreamOptions struct {
	// Name names the server; each server of a cluster needs its own.
	Name string
	// Host and Port are the client listener; Port -1 picks a free one.
	Host string
	Port int
	// Dir keeps the streams (file storage).
	Dir string
	// Cluster, when Routes is set, makes the server one of a cluster.
	Cluster Cluster
	// Logger, when set, receives the server's log (nil: silent).
	Logger server.Logger
}

// Cluster is a server's place in a cluster.
type Cluster struct {
	// Name is the cluster's name, the same on every server.
	Name string
	// Host and Port are where this server takes routes from the others.
	Host string
	Port int
	// Routes are the other servers' route URLs (nats-route://host:port).
	Routes []string
}

// readyWait bounds a server's start (a cluster's first server waits for
// no one: routes connect in the background).
const readyWait = 10 * time.Second

// StartJetStream runs a nats-server with JetStream on file storage.
func StartJetStream(o JetStreamOptions) (*server.Server, error) {
	if o.Dir == "" {
		return nil, errors.New("starting JetStream: no store directory")
	}
	opts := &server.Options{
		ServerName: o.Name,
		Host:       o.Host,
		Port:       o.Port,
		JetStream:  true,
		StoreDir:   o.Dir,
		NoLog:      o.Logger == nil,
		NoSigs:     true,
	}
	if len(o.Cluster.Routes) > 0 {
		opts.Cluster = server.ClusterOpts{Name: o.Cluster.Name, Host: o.Cluster.Host, Port: o.Cluster.Port}
		for _, r := range o.Cluster.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("route %q: %w", r, err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configuring nats-server: %w", err)
	}
	if o.Logger != nil {
		s.SetLoggerV2(o.Logger, false, false, false)
	}
	go s.Start()
	if !s.ReadyForConnections(readyWait) {
		s.Shutdown()
		return nil, fmt.Errorf("nats-server on %s:%d did not start within %s", o.Host, o.Port, readyWait)
	}
	return s, nil
}
