// netdelay is a TCP relay that holds every byte for a fixed time in each direction: a stand-in for the
// network between a client and an API server that run on the same machine (this machine has no netem).
//
//	netdelay -upstream 127.0.0.1:6443 -delay 1ms
//
// It prints the address it listens on (127.0.0.1, a free port) as its first line of output, then relays
// until killed. The round trip grows by twice -delay; bandwidth is not limited. TLS passes through untouched.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"sync"
	"time"
)

type chunk struct {
	due  time.Time
	data []byte
}

func main() {
	upstream := flag.String("upstream", "", "host:port to relay to")
	delay := flag.Duration("delay", time.Millisecond, "one-way delay (the round trip grows by twice this)")
	flag.Parse()
	if *upstream == "" {
		fmt.Fprintln(os.Stderr, "netdelay: -upstream is required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "netdelay:", err)
		os.Exit(1)
	}
	fmt.Println(ln.Addr().String())
	for {
		client, err := ln.Accept()
		if err != nil {
			fmt.Fprintln(os.Stderr, "netdelay:", err)
			os.Exit(1)
		}
		go relay(client, *upstream, *delay)
	}
}

func relay(client net.Conn, upstream string, delay time.Duration) {
	defer client.Close()
	server, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer server.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); pipe(server, client, delay) }()
	go func() { defer wg.Done(); pipe(client, server, delay) }()
	wg.Wait()
}

// pipe copies src to dst, each read delivered `delay` after it arrived, in order; at src's end it
// half-closes dst so that the other direction can finish.
func pipe(dst, src net.Conn, delay time.Duration) {
	queue := make(chan chunk, 4096)
	go func() {
		defer close(queue)
		buf := make([]byte, 64<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				queue <- chunk{time.Now().Add(delay), append([]byte(nil), buf[:n]...)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range queue {
		if wait := time.Until(c.due); wait > 0 {
			time.Sleep(wait)
		}
		if _, err := dst.Write(c.data); err != nil {
			src.Close() // the connection is broken: stop the reader, let it finish, and drop the rest
			for range queue {
			}
			return
		}
	}
	if tcp, ok := dst.(*net.TCPConn); ok {
		tcp.CloseWrite()
	}
}
