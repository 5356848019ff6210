package cluster

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"time"
)

// HTTPTLS is what --http-tls gives the cluster's own use of HTTP: Server
// for the listener of the identity check (before the broker's own), Client
// for requests to the other brokers' HTTP ports. Zero without --http-tls.
type HTTPTLS struct {
	Server, Client *tls.Config
}

// peerDialTimeout bounds one connection to a peer's HTTPS port.
const peerDialTimeout = 10 * time.Second

// peerHTTP is a client of the other brokers' HTTP ports: plain HTTP, or
// with --http-tls HTTPS trusting the cluster's CA and presenting this
// broker's certificate, which their cluster endpoints require. Clients
// with different timeouts share one transport, so that probes several
// times a second, follower reports and log positions reuse their TLS
// connections: a handshake per request cost enough CPU on a loaded host
// for probes to time out.
type peerHTTP struct {
	*http.Client
	scheme string
}

func newPeerHTTP(client *tls.Config) peerHTTP {
	if client == nil {
		return peerHTTP{Client: &http.Client{}, scheme: "http"}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = client
	// A probe's 500 ms must not cut the TCP and TLS handshake short: on a
	// loaded host a handshake can take longer, and then no connection
	// would ever be made. The dial runs to its end on its own bound, and
	// the transport keeps a connection no request waits for any more.
	t.DialTLSContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), peerDialTimeout)
		defer cancel()
		d := tls.Dialer{Config: client}
		return d.DialContext(dctx, network, addr)
	}
	// Probes, reports and log-position questions to one peer overlap;
	// the default 2 idle connections per host would close the others.
	t.MaxIdleConnsPerHost = 16
	return peerHTTP{Client: &http.Client{Transport: t}, scheme: "https"}
}

// timeout is the same client bounded to d per request.
func (h peerHTTP) timeout(d time.Duration) peerHTTP {
	c := *h.Client
	c.Timeout = d
	return peerHTTP{Client: &c, scheme: h.scheme}
}

// url is a path at a broker's HTTP address (host:port).
func (h peerHTTP) url(addr, path string) string { return h.scheme + "://" + addr + path }
