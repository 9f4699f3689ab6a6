// Command broker runs Herald as a network broker: the engine with a bbolt
// store in a local data folder, serving MQTT 3.1.1 and Emitter's protocol
// over TCP and WebSocket (and TLS when given a certificate).
//
//	go run ./examples/broker
//	go run ./examples/broker -listen 127.0.0.1:1883 -matcher mqtt -plain
//	go run ./examples/broker -tls-listen :8443 -tls-cert cert.pem -tls-key key.pem
//
// On first start it creates a license and a master (secret) key and keeps
// them in the data folder (files license and master.secret, mode 0600); it prints
// where the secret is, never the secret itself. -license (or HERALD_LICENSE)
// uses an existing Emitter license instead, so that master and channel keys
// minted for it by Emitter keep working.
//
// Every flag can also be set with an environment variable: -listen is
// HERALD_LISTEN, -plain is HERALD_PLAIN, and so on (upper case,
// '-' as '_'). A flag on the command line wins over the environment.
//
// SIGINT or SIGTERM stops it: it stops accepting, disconnects clients, saves
// persistent sessions, flushes and closes the store, within -shutdown-timeout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/security"
	"github.com/heraldmq/herald/store"
	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/transport"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "broker:", err)
		}
		os.Exit(1)
	}
}

// config is what the flags and environment say.
type config struct {
	listen, tlsListen, tlsCert, tlsKey string
	data, storeKind, matcher, license  string
	plainTopics                        bool
	maxConns, maxPacket, queueSize     int
	maxInflight                        int
	gcPercent                          int
	sessionExpiry, shutdownTimeout     time.Duration
	logLevel, cpuprofile               string
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	fs := flag.NewFlagSet("broker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &config{}
	fs.StringVar(&c.listen, "listen", "127.0.0.1:8080", "address for MQTT and MQTT over WebSocket")
	fs.StringVar(&c.tlsListen, "tls-listen", "", "address for MQTT and WebSocket over TLS (needs -tls-cert and -tls-key)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "TLS certificate file (PEM)")
	fs.StringVar(&c.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.StringVar(&c.data, "data", "herald-data", "data folder: store, license, secret, sessions")
	fs.StringVar(&c.storeKind, "store", "bbolt", "message store: bbolt (durable, in the data folder) or memory")
	fs.StringVar(&c.matcher, "matcher", "emitter", "matching: emitter (a/ receives a/b/) or mqtt")
	fs.StringVar(&c.license, "license", "", "Emitter license to use instead of the data folder's (prefer HERALD_LICENSE)")
	fs.BoolVar(&c.plainTopics, "plain", false, "allow plain MQTT topics without a channel key")
	fs.IntVar(&c.maxConns, "max-conns", transport.DefaultMaxConnections, "maximum open connections")
	fs.IntVar(&c.maxPacket, "max-packet", transport.DefaultMaxPacketSize, "maximum MQTT packet size in bytes")
	fs.IntVar(&c.queueSize, "max-queued", engine.DefaultQueueSize, "maximum messages queued per client (transport.Options.QueueSize)")
	fs.IntVar(&c.maxInflight, "max-inflight", transport.DefaultMaxInflight, "maximum QoS 1 and 2 messages sent to a client and not yet acknowledged")
	fs.DurationVar(&c.sessionExpiry, "session-expiry", transport.DefaultSessionExpiry, "how long a persistent session outlives its client")
	fs.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 10*time.Second, "bound on a clean shutdown")
	fs.StringVar(&c.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&c.cpuprofile, "cpuprofile", "", "write the broker's CPU profile to `file` (for benchmarks)")
	fs.IntVar(&c.gcPercent, "gc-percent", 400, "garbage collection target, as GOGC (ignored when GOGC is set): the broker's live heap is small, so 400 collects a quarter as often as Go's default 100 for a few MB more")
	// Environment first, so that the command line wins.
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "HERALD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%s: %w", name, err)
			}
		}
	})
	if envErr != nil {
		return nil, envErr
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return c, nil
}

// run runs the broker until ctx is done. ready, if not nil, receives the
// address the broker listens on once it accepts connections.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready chan<- string) error {
	c, err := parseFlags(args, getenv, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	if err := os.MkdirAll(c.data, 0o700); err != nil {
		return err
	}
	if getenv("GOGC") == "" && c.gcPercent != 0 {
		defer debug.SetGCPercent(debug.SetGCPercent(c.gcPercent))
	}
	if c.cpuprofile != "" {
		f, err := os.Create(c.cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return err
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}
	license, secretPath, err := loadLicense(c, log)
	if err != nil {
		return err
	}

	eo := engine.Options{License: license, Logger: log}
	switch c.matcher {
	case "emitter":
	case "mqtt":
		eo.Matching = topic.MQTT
	default:
		return fmt.Errorf("-matcher: %q is neither emitter nor mqtt", c.matcher)
	}
	so := store.Options{MaxMessageSize: c.maxPacket, Logger: log}
	switch c.storeKind {
	case "bbolt", "bolt":
		st, err := store.OpenBolt(filepath.Join(c.data, "herald.db"), so)
		if err != nil {
			return err
		}
		eo.Store = st
	case "memory":
		eo.Store = store.NewMemory(so)
		eo.Bans = engine.BanFile(filepath.Join(c.data, "bans"))
	default:
		return fmt.Errorf("-store: %q is neither bbolt nor memory", c.storeKind)
	}
	e, err := engine.New(eo)
	if err != nil {
		_ = eo.Store.Close()
		return err
	}
	defer e.Close()

	to := transport.Options{
		Logger:         log,
		MaxConnections: c.maxConns,
		MaxPacketSize:  c.maxPacket,
		QueueSize:      c.queueSize,
		MaxInflight:    c.maxInflight,
		SessionExpiry:  c.sessionExpiry,
		PlainTopics:    c.plainTopics,
	}
	if c.storeKind != "memory" {
		to.SessionFile = filepath.Join(c.data, "sessions")
	}
	srv, err := transport.New(e, to)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.listen)
	if err != nil {
		return err
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	addrs := []any{"mqtt", "tcp://" + ln.Addr().String(), "websocket", "ws://" + ln.Addr().String() + "/"}
	if c.tlsListen != "" {
		tln, err := net.Listen("tcp", c.tlsListen)
		if err != nil {
			_ = srv.Close()
			return err
		}
		go func() { errc <- srv.ServeTLS(tln, c.tlsCert, c.tlsKey) }()
		addrs = append(addrs, "mqtts", "ssl://"+tln.Addr().String(), "wss", "wss://"+tln.Addr().String()+"/")
	}
	log.Info("herald broker listening", addrs...)
	log.Info("herald broker data", "folder", c.data, "store", c.storeKind, "matcher", c.matcher,
		"plain_topics", c.plainTopics, "secret_file", secretPath, "license", e.License())
	fmt.Fprintf(stdout, "Herald listening on %s (MQTT and WebSocket). Master key (secret): see %s\n", ln.Addr(), secretPath)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}
	log.Info("herald broker shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("shutdown", "err", err)
	}
	if err := e.Close(); err != nil {
		return err
	}
	if serveErr != nil && !errors.Is(serveErr, transport.ErrServerClosed) {
		return serveErr
	}
	return nil
}

// loadLicense returns the license to use and the path of the secret file:
// -license if given, else the data folder's, created on first start together
// with a master key. Both files are written with mode 0600.
func loadLicense(c *config, log *slog.Logger) (string, string, error) {
	licensePath := filepath.Join(c.data, "license")
	secretPath := filepath.Join(c.data, "master.secret")
	lic := strings.TrimSpace(c.license)
	if lic == "" {
		b, err := os.ReadFile(licensePath)
		switch {
		case err == nil:
			lic = strings.TrimSpace(string(b))
		case errors.Is(err, os.ErrNotExist):
			lic = security.NewLicense().Encode()
			if err := writeSecret(licensePath, lic); err != nil {
				return "", "", err
			}
			log.Info("created a new license", "file", licensePath)
		default:
			return "", "", err
		}
	}
	l, err := security.ParseLicense(lic)
	if err != nil {
		return "", "", err
	}
	// A master key for this license, unless the folder has one already.
	if b, err := os.ReadFile(secretPath); err == nil {
		if l.CheckMaster(strings.TrimSpace(string(b)), time.Now()) == nil {
			return lic, secretPath, nil
		}
		// The secret belongs to another license (-license changed): keep
		// it aside rather than overwrite it.
		old := secretPath + ".old-" + strconv.FormatInt(time.Now().Unix(), 10)
		if err := os.Rename(secretPath, old); err != nil {
			return "", "", err
		}
		log.Warn("the secret file was for another license; moved aside", "file", old)
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", "", err
	}
	if err := writeSecret(secretPath, l.NewMasterKey()); err != nil {
		return "", "", err
	}
	log.Info("created a master key (secret)", "file", secretPath)
	return lic, secretPath, nil
}

// writeSecret writes s to a new file readable by its owner only.
func writeSecret(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
