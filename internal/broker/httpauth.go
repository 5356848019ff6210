package broker

import (
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/longboat/longboat/internal/config"
	"github.com/longboat/longboat/internal/tlscert"
)

// openHTTP are the read-only endpoints any client may read with
// --http-tls too: probes, Prometheus scrapes and the CLI's cluster status.
var openHTTP = map[string]bool{"/livez": true, "/readyz": true, "/metrics": true, "/v1/status": true}

// guard lets, with --http-tls, only the other brokers (and operators
// holding such a certificate) reach anything but openHTTP: joining the
// cluster, the followers' reports, log positions, identities, the console
// (which reads every topic as the broker) and profiles. A client
// certificate of --tls-client-ca-file identifies a broker, as on Raft;
// with --authorizer acl its User:<CN> must also be a super user, so that
// the clients' certificates from the same CA are not enough. Without
// --http-tls the port is served as before, for trusted networks only.
func (b *Broker) guard(next http.Handler) http.Handler {
	if !b.cfg.HTTPTLS {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && openHTTP[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		principal, err := b.clusterPeer(r)
		if err != nil {
			b.log.Warn().Str("remote", r.RemoteAddr).Str("method", r.Method).Str("path", r.URL.Path).Str("principal", principal).Err(err).Msg("HTTP request refused")
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// clusterPeer returns the principal of a request's client certificate, or
// why it may not use the cluster endpoints.
func (b *Broker) clusterPeer(r *http.Request) (string, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return tlscert.Anonymous, errors.New("this endpoint requires a client certificate of the cluster's CA (--tls-client-ca-file)")
	}
	principal := tlscert.Principal(*r.TLS)
	if b.cfg.Authorization.Authorizer == config.AuthorizerACL && !slices.Contains(b.cfg.Authorization.SuperUsers, principal) {
		return principal, fmt.Errorf("%s may not use this endpoint: only super users (--super-users) may", principal)
	}
	return principal, nil
}
