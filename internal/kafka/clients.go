package kafka

import "github.com/twmb/franz-go/pkg/kmsg"

// ClientRequest describes one decoded request: which client sent it and at
// which version. SoftwareName and SoftwareVersion are what the connection's
// ApiVersions v3+ request announced (KIP-511), empty before that or for
// clients that send an older ApiVersions.
type ClientRequest struct {
	ClientID        string
	SoftwareName    string
	SoftwareVersion string
	Key             int16
	Version         int16
	Listener        string
	Principal       string // User:<client certificate CN> on TLS, else User:ANONYMOUS
}

// SetRequestObserver installs fn, called on each connection's reader
// goroutine for every request it decodes (fn must be safe for concurrent
// use and quick). The compatibility suite uses it to record the API
// versions each client negotiated; nil removes it.
func (s *Server) SetRequestObserver(fn func(ClientRequest)) {
	if fn == nil {
		s.observer.Store(nil)
		return
	}
	s.observer.Store(&fn)
}

// clientSoftware remembers what a connection's client announced in
// ApiVersions, and reports each request to the observer, if any.
type clientSoftware struct {
	name, version string
}

func (s *Server) noteRequest(cs *clientSoftware, req *request) {
	if av, ok := req.body.(*kmsg.ApiVersionsRequest); ok && av.ClientSoftwareName != "" {
		cs.name, cs.version = av.ClientSoftwareName, av.ClientSoftwareVersion
	}
	if fn := s.observer.Load(); fn != nil {
		(*fn)(ClientRequest{ClientID: req.clientID, SoftwareName: cs.name, SoftwareVersion: cs.version, Key: req.key, Version: req.version,
			Listener: req.listener, Principal: req.principal})
	}
}
