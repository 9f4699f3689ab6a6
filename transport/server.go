package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/transport/websocket"
)

// wsProtocols are the WebSocket subprotocols MQTT clients offer, in the order
// the server prefers them.
var wsProtocols = []string{"mqtt", "mqttv3.1", "mqttv3"}

// Server serves an Engine to MQTT 3.1.1 clients over TCP, WebSocket and TLS.
// Create one with New, give it listeners with Serve or ServeTLS (or
// ListenAndServe, ListenAndServeTLS), and stop it with Shutdown or Close.
//
// All methods are safe for concurrent use. Each network connection has one
// reading goroutine, plus a writing goroutine only while it has something to
// write; Shutdown and Close wait for all of them.
type Server struct {
	e    *engine.Engine
	opts Options
	log  *slog.Logger

	closing   atomic.Bool
	closeOnce sync.Once
	done      chan struct{} // closed by Shutdown/Close

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	sniffing  map[net.Conn]struct{} // accepted, first byte not read yet
	conns     map[*conn]struct{}
	sessions  map[string]*session

	nconns  atomic.Int64 // open network connections, sniffing included
	dropped atomic.Uint64
	wg      sync.WaitGroup // connection goroutines

	httpOnce sync.Once
	httpLn   *chanListener
	httpSrv  *http.Server
}

// Stats is a snapshot of a Server's counters.
type Stats struct {
	Connections int    // open network connections
	Sessions    int    // sessions, connected or kept for an absent client
	Dropped     uint64 // messages dropped because a client's queue was full
}

// New returns a Server for e configured by opts; the zero Options work.
func New(e *engine.Engine, opts Options) (*Server, error) {
	if e == nil {
		return nil, ErrNilEngine
	}
	o := opts.withDefaults()
	s := &Server{
		e:         e,
		opts:      o,
		log:       o.Logger,
		done:      make(chan struct{}),
		listeners: make(map[net.Listener]struct{}),
		sniffing:  make(map[net.Conn]struct{}),
		conns:     make(map[*conn]struct{}),
		sessions:  make(map[string]*session),
	}
	if o.SessionFile != "" {
		if err := s.loadSessions(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Stats returns the server's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := len(s.sessions)
	s.mu.Unlock()
	return Stats{Connections: int(s.nconns.Load()), Sessions: n, Dropped: s.dropped.Load()}
}

// ListenAndServe listens on the TCP address addr and serves MQTT and MQTT
// over WebSocket on it, until Shutdown or Close.
func (s *Server) ListenAndServe(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.Serve(ln)
}

// ListenAndServeTLS listens on the TCP address addr and serves it as
// ServeTLS does.
func (s *Server) ListenAndServeTLS(addr, certFile, keyFile string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return s.ServeTLS(ln, certFile, keyFile)
}

// ServeTLS is Serve over TLS: connections accepted on ln are served with
// Options.TLSConfig (a copy of it) given the certificate and key in the PEM
// files certFile and keyFile, or with Options.TLSConfig as it is when both
// names are empty. Like Serve, it closes ln when it returns, also when the
// certificate cannot be loaded.
func (s *Server) ServeTLS(ln net.Listener, certFile, keyFile string) error {
	cfg, err := s.tlsConfig(certFile, keyFile)
	if err != nil {
		ln.Close()
		return err
	}
	return s.Serve(tls.NewListener(tcpListener{ln}, cfg))
}

func (s *Server) tlsConfig(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		if s.opts.TLSConfig == nil {
			return nil, errNoCertificate
		}
		return s.opts.TLSConfig, nil
	}
	cfg := s.opts.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{MinVersion: tls.VersionTLS12}
	} else {
		cfg = cfg.Clone()
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	cfg.Certificates = []tls.Certificate{cert}
	return cfg, nil
}

var errNoCertificate = errors.New("transport: no TLS certificate: no files given and no Options.TLSConfig")

// tcpListener hands out its TCP connections wrapped for raw system calls
// (tcpConn), for TLS to run on top of them.
type tcpListener struct{ net.Listener }

func (l tcpListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return wrapTCP(nc), nil
}

// Serve accepts connections on ln and serves them until Shutdown or Close,
// then returns ErrServerClosed. On one listener it serves raw MQTT and MQTT
// over WebSocket (an HTTP upgrade on any path), telling them apart by the
// first byte; GET /health answers 200. ln may be a TLS listener. Serve
// closes ln when it returns.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		ln.Close()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
		ln.Close()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log.Warn("transport: accept", "err", err, "retry", backoff)
				select {
				case <-time.After(backoff):
				case <-s.done:
				}
				continue
			}
			return err
		}
		backoff = 0
		nc = wrapTCP(nc)
		if !s.acquire() {
			nc.Close()
			continue
		}
		s.wg.Add(1)
		go s.handle(nc)
	}
}

// acquire counts a new connection, refusing it beyond MaxConnections.
func (s *Server) acquire() bool {
	if s.nconns.Add(1) > int64(s.opts.MaxConnections) {
		s.nconns.Add(-1)
		return false
	}
	return true
}

// handle sniffs the first byte of a connection: an MQTT CONNECT starts with
// 0x10, an HTTP request with a letter.
func (s *Server) handle(nc net.Conn) {
	defer s.wg.Done()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		nc.Close()
		s.nconns.Add(-1)
		return
	}
	s.sniffing[nc] = struct{}{}
	s.mu.Unlock()
	_ = nc.SetReadDeadline(time.Now().Add(s.opts.ConnectTimeout))
	var first [1]byte
	_, err := nc.Read(first[:])
	s.mu.Lock()
	delete(s.sniffing, nc)
	s.mu.Unlock()
	if err != nil {
		nc.Close()
		s.nconns.Add(-1)
		return
	}
	switch c := first[0]; {
	case c == 0x10:
		s.serveMQTT(nc, first[:])
	case c >= 'A' && c <= 'Z':
		s.nconns.Add(-1) // counted again if it upgrades
		s.startHTTP()
		if !s.httpLn.push(&prefixConn{Conn: nc, buf: []byte{c}}) {
			nc.Close()
		}
	default:
		nc.Close()
		s.nconns.Add(-1)
	}
}

func (s *Server) startHTTP() {
	s.httpOnce.Do(func() {
		s.httpLn = newChanListener()
		mux := http.NewServeMux()
		mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write([]byte("ok\n"))
		})
		mux.HandleFunc("/", s.serveWebSocket)
		s.httpSrv = &http.Server{
			Handler:           mux,
			ReadHeaderTimeout: s.opts.ConnectTimeout,
			IdleTimeout:       s.opts.ConnectTimeout,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			_ = s.httpSrv.Serve(s.httpLn)
		}()
	})
}

func (s *Server) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Upgrade") == "" {
		http.NotFound(w, r)
		return
	}
	if s.closing.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	if !s.acquire() {
		http.Error(w, "too many connections", http.StatusServiceUnavailable)
		return
	}
	wc, err := websocket.Upgrade(w, r, wsProtocols)
	if err != nil {
		s.nconns.Add(-1)
		return
	}
	// A fresh goroutine with a small stack serves the connection; the HTTP
	// server's goroutine returns.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.serveMQTT(wc, nil)
	}()
}

// Shutdown stops the server: it stops accepting, disconnects every client
// (without publishing wills: the server is going away, not the clients),
// waits for every connection goroutine until ctx is done, saves persistent
// sessions to Options.SessionFile, and closes the sessions' engine
// connections. It returns ctx.Err() if ctx ended first. It does not close
// the Engine. Calling it again returns nil at once.
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	first := false
	s.closeOnce.Do(func() {
		first = true
		err = s.shutdown(ctx)
	})
	if !first {
		return nil
	}
	return err
}

// Close is Shutdown without a deadline: connections are closed at once and
// Close returns when their goroutines have. It is idempotent.
func (s *Server) Close() error {
	return s.Shutdown(context.Background())
}

func (s *Server) shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing.Store(true)
	close(s.done)
	for ln := range s.listeners {
		ln.Close()
	}
	for nc := range s.sniffing {
		nc.Close()
	}
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	if s.httpLn != nil {
		s.httpLn.Close()
		_ = s.httpSrv.Close()
	}
	for _, c := range conns {
		c.shutdown()
	}
	waited := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(waited)
	}()
	var err error
	select {
	case <-waited:
	case <-ctx.Done():
		err = ctx.Err()
	}
	if s.opts.SessionFile != "" && err == nil {
		if serr := s.saveSessions(); serr != nil {
			s.log.Error("transport: save sessions", "err", serr)
			err = serr
		}
	}
	s.mu.Lock()
	sessions := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		sessions = append(sessions, ss)
	}
	s.sessions = make(map[string]*session)
	s.mu.Unlock()
	for _, ss := range sessions {
		ss.destroy()
	}
	return err
}

// chanListener is a net.Listener fed by the sniffer with connections that
// speak HTTP.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) push(c net.Conn) bool {
	select {
	case l.ch <- c:
		return true
	case <-l.done:
		return false
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return &net.TCPAddr{} }

// prefixConn is a net.Conn whose first reads return bytes the sniffer
// already took from it.
type prefixConn struct {
	net.Conn
	buf []byte
}

func (p *prefixConn) Read(b []byte) (int, error) {
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	return p.Conn.Read(b)
}
