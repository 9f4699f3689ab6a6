package transport_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/stretchr/testify/require"

	"github.com/heraldmq/herald/engine"
	"github.com/heraldmq/herald/internal/leaktest"
	"github.com/heraldmq/herald/topic"
	"github.com/heraldmq/herald/transport"
	"github.com/heraldmq/herald/transport/mqtt"
)

// rawClient is a bare MQTT client on a socket, for tests that need exact
// packets.
type rawClient struct {
	t  testing.TB
	nc net.Conn
	r  *mqtt.Reader
}

func dialRaw(t testing.TB, addr string) *rawClient {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { nc.Close() })
	return &rawClient{t: t, nc: nc, r: mqtt.NewReader(nc, 0)}
}

func (c *rawClient) send(p mqtt.Packet) {
	c.t.Helper()
	b, err := p.Append(nil)
	require.NoError(c.t, err)
	_, err = c.nc.Write(b)
	require.NoError(c.t, err)
}

func (c *rawClient) read() (mqtt.Packet, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	var p mqtt.Packet
	err := c.r.ReadPacket(&p)
	return p, err
}

func (c *rawClient) expect(t mqtt.Type) mqtt.Packet {
	c.t.Helper()
	p, err := c.read()
	require.NoError(c.t, err)
	require.Equal(c.t, t, p.Type)
	return p
}

// connect sends CONNECT and checks the CONNACK.
func (c *rawClient) connect(id string, keepAlive uint16) {
	c.t.Helper()
	c.send(mqtt.Packet{Type: mqtt.Connect, ClientID: id, CleanSession: true, KeepAlive: keepAlive})
	p := c.expect(mqtt.Connack)
	require.Equal(c.t, mqtt.Accepted, p.ReturnCode)
}

// closed waits for the server to close the connection.
func (c *rawClient) closed() {
	c.t.Helper()
	for {
		_, err := c.read()
		if err != nil {
			require.True(c.t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
				strings.Contains(err.Error(), "reset"), "%v", err)
			return
		}
	}
}

func plainBroker(t *testing.T, o transport.Options) *broker {
	o.PlainTopics = true
	return startBroker(t, engine.Options{Matching: topic.MQTT}, o)
}

func TestMaxPacketSizeClosesOnlyTheOffender(t *testing.T) {
	b := plainBroker(t, transport.Options{MaxPacketSize: 1024})
	good := dialRaw(t, b.addr)
	good.connect("good", 0)
	good.send(mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: "big/+"}}})
	good.expect(mqtt.Suback)

	bad := dialRaw(t, b.addr)
	bad.connect("bad", 0)
	bad.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte("big/x"), Payload: make([]byte, 2000)})
	bad.closed()

	other := dialRaw(t, b.addr)
	other.connect("other", 0)
	other.send(mqtt.Packet{Type: mqtt.Publish, Topic: []byte("big/y"), Payload: []byte("fits")})
	p := good.expect(mqtt.Publish)
	require.Equal(t, "big/y", string(p.Topic))
	require.Equal(t, "fits", string(p.Payload))
}

func TestConnectRefusals(t *testing.T) {
	b := plainBroker(t, transport.Options{})
	// Protocol level 5: CONNACK 0x01, then close.
	c := dialRaw(t, b.addr)
	_, err := c.nc.Write([]byte{0x10, 0x0c, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 0, 0})
	require.NoError(t, err)
	p := c.expect(mqtt.Connack)
	require.Equal(t, mqtt.UnacceptableProtocolVersion, p.ReturnCode)
	c.closed()
	// Empty client id with a persistent session: CONNACK 0x02.
	c = dialRaw(t, b.addr)
	c.send(mqtt.Packet{Type: mqtt.Connect})
	require.Equal(t, mqtt.IdentifierRejected, c.expect(mqtt.Connack).ReturnCode)
	c.closed()
	// A first packet other than CONNECT: closed without an answer.
	c = dialRaw(t, b.addr)
	_, err = c.nc.Write([]byte{0x10, 0x02, 0xff, 0xff}) // malformed CONNECT
	require.NoError(t, err)
	c.closed()
	// A second CONNECT is a protocol violation.
	c = dialRaw(t, b.addr)
	c.connect("twice", 0)
	c.send(mqtt.Packet{Type: mqtt.Connect, ClientID: "twice", CleanSession: true})
	c.closed()
	// Neither MQTT nor HTTP.
	c = dialRaw(t, b.addr)
	_, err = c.nc.Write([]byte{0x30, 0x00})
	require.NoError(t, err)
	c.closed()
}

func TestKeepAlive(t *testing.T) {
	b := plainBroker(t, transport.Options{})
	quiet := dialRaw(t, b.addr)
	quiet.connect("quiet", 1)
	start := time.Now()
	quiet.closed()
	// 1.5 times the keepalive, plus the server's half-second granularity.
	require.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond)
	require.Less(t, time.Since(start), 4*time.Second)

	// A client that pings stays connected.
	talker := dialRaw(t, b.addr)
	talker.connect("talker", 1)
	for range 4 {
		talker.send(mqtt.Packet{Type: mqtt.Pingreq})
		talker.expect(mqtt.Pingresp)
		time.Sleep(700 * time.Millisecond) // the behaviour under test is time itself
	}
}

func TestMaxConnections(t *testing.T) {
	b := plainBroker(t, transport.Options{MaxConnections: 2})
	a := dialRaw(t, b.addr)
	a.connect("a", 0)
	c := dialRaw(t, b.addr)
	c.connect("c", 0)
	third := dialRaw(t, b.addr)
	third.closed()
	a.send(mqtt.Packet{Type: mqtt.Disconnect})
	a.closed()
	require.Eventually(t, func() bool { return b.srv.Stats().Connections == 1 }, 5*time.Second, time.Millisecond)
	fourth := dialRaw(t, b.addr)
	fourth.connect("d", 0)
}

// TestSlowSubscriber: a subscriber that never reads loses messages once its
// queue is full (counted), and neither the publisher nor another subscriber
// notices.
func TestSlowSubscriber(t *testing.T) {
	b := plainBroker(t, transport.Options{QueueSize: 8})
	slow := dialRaw(t, b.addr)
	slow.connect("slow", 0)
	slow.send(mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: "flood"}}})
	slow.expect(mqtt.Suback)
	fast := dialRaw(t, b.addr)
	fast.connect("fast", 0)
	fast.send(mqtt.Packet{Type: mqtt.Subscribe, ID: 1, Subscriptions: []mqtt.Subscription{{Filter: "flood"}}})
	fast.expect(mqtt.Suback)

	// Publish at the pace of the fast subscriber: it must get every message
	// while the slow one's socket buffers, then its queue, fill up.
	pub := dialRaw(t, b.addr)
	pub.connect("pub", 0)
	payload := bytes.Repeat([]byte("x"), 64<<10)
	var buf []byte
	for i := 0; i < 2000 && b.srv.Stats().Dropped < 10; i++ {
		buf, _ = mqtt.AppendPublish(buf[:0], "flood", payload, 0, 0, false, false)
		_, err := pub.nc.Write(buf)
		require.NoError(t, err, "message %d", i)
		p := fast.expect(mqtt.Publish)
		require.Len(t, p.Payload, len(payload))
	}
	require.GreaterOrEqual(t, b.srv.Stats().Dropped, uint64(10))
	pub.send(mqtt.Packet{Type: mqtt.Pingreq})
	pub.expect(mqtt.Pingresp)

	// What the slow subscriber's socket took, partly written and finished
	// later, is an intact stream of whole packets.
	for range 20 {
		p := slow.expect(mqtt.Publish)
		require.Equal(t, "flood", string(p.Topic))
		require.Equal(t, payload, p.Payload)
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "herald test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kb, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600))
	return certFile, keyFile, pool
}

// TestTLS serves MQTT and MQTT over WebSocket on a TLS listener.
func TestTLS(t *testing.T) {
	b := plainBroker(t, transport.Options{})
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { errc <- b.srv.ServeTLS(ln, certFile, keyFile) }()
	addr := ln.Addr().String()
	for _, url := range []string{"ssl://" + addr, "wss://" + addr + "/mqtt"} {
		o := paho.NewClientOptions().AddBroker(url).SetClientID("tls-" + url[:3]).
			SetTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}).SetAutoReconnect(false)
		c := paho.NewClient(o)
		require.NoError(t, waitToken(c.Connect()), url)
		got := make(chan string, 1)
		require.NoError(t, waitToken(c.Subscribe("secure/"+url[:3], 1, func(_ paho.Client, m paho.Message) { got <- string(m.Payload()) })))
		require.NoError(t, waitToken(c.Publish("secure/"+url[:3], 1, false, "over tls")))
		require.Equal(t, "over tls", recv(t, got))
		c.Disconnect(100)
	}
	require.NoError(t, b.srv.Close())
	require.ErrorIs(t, <-errc, transport.ErrServerClosed)
}

// TestServeTLSUsesOptions checks that ServeTLS serves with
// Options.TLSConfig: as it is when given no files, and with the files'
// certificate otherwise. Here the configuration asks for TLS 1.3, which a
// TLS 1.2 client does not get.
func TestServeTLSUsesOptions(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	require.NoError(t, err)
	b := plainBroker(t, transport.Options{TLSConfig: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}}})
	for _, files := range [][2]string{{"", ""}, {certFile, keyFile}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		go func() { _ = b.srv.ServeTLS(ln, files[0], files[1]) }()
		for _, max := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
			c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, MaxVersion: max})
			if max == tls.VersionTLS12 {
				require.Error(t, err, "files %q: a TLS 1.2 client got in", files)
				continue
			}
			require.NoError(t, err, "files %q", files)
			require.Equal(t, uint16(tls.VersionTLS13), c.ConnectionState().Version)
			c.Close()
		}
	}
	// No files and no Options.TLSConfig: an error, and ln is closed.
	plain := plainBroker(t, transport.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	require.Error(t, plain.srv.ServeTLS(ln, "", ""))
	_, err = ln.Accept()
	require.ErrorIs(t, err, net.ErrClosed)
}

// TestCloseLeavesNoGoroutine opens connections of every kind, closes the
// server and checks that none of its goroutines is left.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	// A goroutine that called wg.Done in its last deferred call may still
	// be on its way out when Close returns: leaktest polls for that.
	leaktest.Check(t)
	e, err := engine.New(engine.Options{})
	require.NoError(t, err)
	defer e.Close()
	srv, err := transport.New(e, transport.Options{PlainTopics: true})
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	raw := dialRaw(t, ln.Addr().String())
	raw.connect("raw", 30)
	half := dialRaw(t, ln.Addr().String()) // connected, never sends CONNECT
	_ = half
	ws := pahoConnect(t, "ws://"+ln.Addr().String()+"/", "ws", false)
	pahoSubscribe(t, ws, "x/#", 1)
	require.NoError(t, srv.Close())
	require.ErrorIs(t, <-errc, transport.ErrServerClosed)
	require.NoError(t, srv.Close()) // idempotent
	raw.closed()
}
