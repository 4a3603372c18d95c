package grpcx

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// pingCounter reads the HTTP/2 frames written to a connection and counts the PING frames
// (pings and their acks).
type pingCounter struct {
	mu    sync.Mutex
	buf   []byte
	skip  int // bytes of the client's connection preface not yet seen
	pings int
}

const framePing = 0x6

func (pc *pingCounter) wrote(p []byte) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.buf = append(pc.buf, p...)
	if pc.skip > 0 {
		n := min(pc.skip, len(pc.buf))
		pc.buf, pc.skip = pc.buf[n:], pc.skip-n
	}
	for len(pc.buf) >= 9 { // a frame header: length (3 bytes), type, flags, stream id (4)
		length := int(pc.buf[0])<<16 | int(pc.buf[1])<<8 | int(pc.buf[2])
		if len(pc.buf) < 9+length {
			return
		}
		if pc.buf[3] == framePing {
			pc.pings++
		}
		pc.buf = pc.buf[9+length:]
	}
}

func (pc *pingCounter) count() int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return pc.pings
}

type countingConn struct {
	net.Conn
	pc *pingCounter
}

func (c countingConn) Write(p []byte) (int, error) {
	c.pc.wrote(p)
	return c.Conn.Write(p)
}

type countingListener struct {
	net.Listener
	pc *pingCounter
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.pc}, nil
}

// TestNoPingsBetweenCalls: with the fixed flow-control windows of NewServer and Dial, unary calls
// one after another send no HTTP/2 PING frames either way. With gRPC's default windows,
// bandwidth-delay estimation pinged on data received, up to once a call, each ping and its ack a
// socket write and a wake-up of the other side.
func TestNoPingsBetweenCalls(t *testing.T) {
	srv, _ := NewServer(ServerConfig{Domain: "test.crm"})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	server := &pingCounter{}
	client := &pingCounter{skip: len("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- ServeListener(ctx, srv, countingListener{lis, server}, slog.New(slog.DiscardHandler))
	}()
	conn, err := Dial(lis.Addr().String(), grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return countingConn{c, client}, nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = conn.Close()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ServeListener: %v", err)
		}
	})
	health := healthpb.NewHealthClient(conn)
	for range 300 {
		if _, err := health.Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	if s, c := server.count(), client.count(); s != 0 || c != 0 {
		t.Errorf("PING frames in 300 calls: %d from the server, %d from the client; want none", s, c)
	}
}
